//! The relay as a LAN gateway: never an open relay. A client outside `allowed_networks` (a
//! socket bound to 127.0.0.2) is refused, unless it logs in with a client account over TLS;
//! AUTH in plain text from there gets 538; password guessing gets an address banned while a
//! good login from another address still works.

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{TestRelay, read_reply, say as cmd};
use tokio::io::BufReader;
use tokio::net::TcpStream;

struct Lan {
    relay: TestRelay,
    out: tempfile::TempDir,
    ca: rustls::pki_types::CertificateDer<'static>,
}

async fn lan(extra_server: &str) -> Lan {
    let ck = rcgen::generate_simple_self_signed(vec!["relay.test".into()]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (cert, key) = (out.path().join("cert.pem"), out.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let hash = smarthost::config::hash_password("right-password");
    let upstreams = format!(
        "[[client]]\nname = \"payroll\"\npassword_hash = \"{hash}\"\n\n\
         [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
        out.path().join("outbox").display()
    );
    // 127.0.0.2 and .3 play hosts of the LAN here, so loopback's plain-text AUTH is turned off.
    let server = format!(
        "allowed_networks = [\"127.0.0.1/32\"]\nauth_from_anywhere = true\nauth_fail_limit = 3\n\
         allow_plain_auth_on_loopback = false\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\n{extra_server}",
        cert.display(),
        key.display()
    );
    let relay = TestRelay::start(&upstreams, &server).await;
    Lan {
        relay,
        ca: ck.cert.der().clone(),
        out,
    }
}

async fn connect_from(ip: &str, lan: &Lan) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    sock.connect(lan.relay.addr()).await.unwrap()
}

fn plain(user: &str, password: &str) -> String {
    format!("AUTH PLAIN {}", B64.encode(format!("\0{user}\0{password}")))
}

/// Greeting, EHLO, STARTTLS: the TLS session, EHLO done again.
async fn starttls(
    lan: &Lan,
    stream: TcpStream,
) -> BufReader<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut r = BufReader::new(stream);
    assert!(read_reply(&mut r).await.starts_with("220"));
    let ehlo = cmd(&mut r, "EHLO printer.lan").await;
    assert!(!ehlo.contains("AUTH"), "no AUTH before TLS: {ehlo}");
    assert!(cmd(&mut r, "STARTTLS").await.starts_with("220"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(lan.ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("relay.test".try_into().unwrap(), r.into_inner())
        .await
        .unwrap();
    let mut r = BufReader::new(tls);
    let ehlo = cmd(&mut r, "EHLO printer.lan").await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    r
}

#[tokio::test]
async fn outside_allowed_networks_a_client_account_over_starttls_may_send() {
    let lan = lan("").await;
    let mut r = starttls(&lan, connect_from("127.0.0.2", &lan).await).await;
    assert!(
        cmd(&mut r, "MAIL FROM:<a@acme.test>")
            .await
            .starts_with("530 5.7.0"),
        "login first"
    );
    assert!(
        cmd(&mut r, &plain("payroll", "right-password"))
            .await
            .starts_with("235")
    );
    assert!(
        cmd(&mut r, "MAIL FROM:<a@acme.test>")
            .await
            .starts_with("250")
    );
    assert!(
        cmd(&mut r, "RCPT TO:<b@example.net>")
            .await
            .starts_with("250")
    );
    assert!(cmd(&mut r, "DATA").await.starts_with("354"));
    let done = cmd(&mut r, "Subject: scan\r\n\r\nhello\r\n.").await;
    assert!(done.starts_with("250 2.0.0 Ok: queued as"), "{done}");
    let id = common::queue_id(&done);
    let eml = lan.out.path().join("outbox").join(format!("{id}.eml"));
    lan.relay.wait_queue("delivered", |q| q.is_empty()).await;
    assert!(eml.exists());
}

#[tokio::test]
async fn auth_in_plain_text_from_outside_gets_538_and_no_mail_is_taken() {
    let lan = lan("").await;
    let mut r = BufReader::new(connect_from("127.0.0.2", &lan).await);
    assert!(read_reply(&mut r).await.starts_with("220"));
    cmd(&mut r, "EHLO printer.lan").await;
    let auth = cmd(&mut r, &plain("payroll", "right-password")).await;
    assert!(auth.starts_with("538 5.7.11"), "{auth}");
    assert!(
        cmd(&mut r, "MAIL FROM:<a@acme.test>")
            .await
            .starts_with("530")
    );
}

#[tokio::test]
async fn without_auth_from_anywhere_outside_addresses_are_refused_at_connect() {
    let lan = lan("").await;
    drop(lan);
    let out = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(
        &format!(
            "[[client]]\nname = \"payroll\"\npassword_hash = \"{}\"\n\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"{}\"\n",
            smarthost::config::hash_password("x"),
            out.path().display()
        ),
        "allowed_networks = [\"127.0.0.1/32\"]\n",
    )
    .await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut r = BufReader::new(sock.connect(relay.addr()).await.unwrap());
    assert!(read_reply(&mut r).await.starts_with("554 5.7.1"));
}

#[tokio::test]
async fn password_guessing_bans_the_address_but_not_a_good_login_from_elsewhere() {
    let lan = lan("").await;
    let mut r = starttls(&lan, connect_from("127.0.0.2", &lan).await).await;
    // auth_fail_limit = 3: the third failure bans 127.0.0.2 and closes the session.
    assert!(
        cmd(&mut r, &plain("payroll", "guess1"))
            .await
            .starts_with("535")
    );
    assert!(
        cmd(&mut r, &plain("payroll", "guess2"))
            .await
            .starts_with("535")
    );
    let third = cmd(&mut r, &plain("payroll", "guess3")).await;
    assert!(third.starts_with("535"), "{third}");
    let closing = read_reply(&mut r).await;
    assert!(closing.starts_with("421 4.7.0"), "{closing}");
    // The 4th attempt, even with the right password: refused at connect, and told why.
    let mut again = BufReader::new(connect_from("127.0.0.2", &lan).await);
    let refused = read_reply(&mut again).await;
    assert!(
        refused.starts_with("421 4.7.0 Too many failed logins from 127.0.0.2; try again after "),
        "{refused}"
    );
    // Another address is not affected.
    let mut other = starttls(&lan, connect_from("127.0.0.3", &lan).await).await;
    assert!(
        cmd(&mut other, &plain("payroll", "right-password"))
            .await
            .starts_with("235")
    );
}

#[test]
fn passwd_prints_a_hash_the_config_accepts_and_a_plaintext_password_is_refused() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("passwd")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("password_hash = \"$argon2id$"), "{line}");
    let text = format!(
        "[[client]]\nname = \"payroll\"\n{line}\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n"
    );
    let config = smarthost::config::Config::load(&text, std::path::Path::new("t.toml")).unwrap();
    assert!(config.clients[0].verify("correct horse"));
    let e = smarthost::config::Config::load(
        "[[client]]\nname = \"payroll\"\npassword = \"correct horse\"\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("client.password") && e.contains("smarthost passwd"),
        "{e}"
    );
    assert!(!e.contains("correct horse"), "{e}");
}

/// Two programs, two client accounts, two app profiles: each goes through its own upstream
/// with its own sender, proved at the real Postfix sink.
#[tokio::test]
async fn app_profiles_route_each_client_account_to_its_upstream_and_sender() {
    let h = common::Harness::get();
    let hash = smarthost::config::hash_password("pw");
    let config = format!(
        "[[client]]\nname = \"payroll\"\npassword_hash = \"{hash}\"\n\n\
         [[client]]\nname = \"invoices\"\npassword_hash = \"{hash}\"\n\n\
         [[profile]]\nmatch = {{ client = \"payroll\" }}\nupstream = \"payroll-mailbox\"\n\
         [profile.rewrite]\nfrom = \"salaires@acme.test\"\n\n\
         [[profile]]\nmatch = {{ client = \"invoices\" }}\nupstream = \"invoices-mailbox\"\n\
         [profile.rewrite]\nfrom = \"factures@acme.test\"\n\n\
         [[upstream]]\nname = \"payroll-mailbox\"\nhost = \"127.0.0.1\"\nport = 2587\nconn = \"starttls\"\nauth = \"plain\"\n\
         username = \"relay@example.test\"\npassword = \"secret\"\nca_file = \"{}\"\n\n\
         [[upstream]]\nname = \"invoices-mailbox\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\nauth = \"none\"\ndefault = true\n",
        h.ca()
    );
    let relay = TestRelay::start(&config, "allow_plain_auth_on_loopback = true\n").await;
    let mut sent = Vec::new();
    for account in ["payroll", "invoices"] {
        let rcpt = format!("{}@example.net", common::unique(account));
        let (mut c, _) = common::Client::connect(relay.addr()).await;
        assert!(c.cmd("EHLO legacy.lan").await.contains("AUTH PLAIN LOGIN"));
        assert!(c.cmd(&plain(account, "pw")).await.starts_with("235"));
        let r = c
            .send(
                "<legacy@acme.test>",
                &[&format!("<{rcpt}>")],
                &common::message(account),
            )
            .await;
        assert!(r.starts_with("250"), "{r}");
        sent.push(rcpt);
    }
    let payroll = h.wait_for(&sent[0]).await;
    let invoices = h.wait_for(&sent[1]).await;
    assert_eq!(payroll.json["mail_from"], "salaires@acme.test");
    assert_eq!(invoices.json["mail_from"], "factures@acme.test");
    assert!(
        payroll
            .top_received()
            .contains("Authenticated sender: relay@example.test"),
        "payroll went through the payroll mailbox: {}",
        payroll.top_received()
    );
    assert!(
        !invoices.top_received().contains("Authenticated sender"),
        "invoices went through the plain upstream: {}",
        invoices.top_received()
    );
}

fn client_config(
    ca: rustls::pki_types::CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn the_implicit_tls_listener_speaks_tls_from_the_first_byte_and_offers_auth() {
    let lan = lan("listen_tls = [\"127.0.0.1:0\"]\n").await;
    let addr = lan.relay.relay.tls_addrs[0];
    let tls = client_config(lan.ca.clone(), rustls::DEFAULT_VERSIONS)
        .connect(
            "relay.test".try_into().unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        )
        .await
        .expect("TLS handshake before any SMTP");
    let mut r = BufReader::new(tls);
    assert!(read_reply(&mut r).await.starts_with("220"));
    let ehlo = cmd(&mut r, "EHLO scanner.lan").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(
        cmd(&mut r, &plain("payroll", "right-password"))
            .await
            .starts_with("235")
    );
}

#[tokio::test]
async fn tls_min_version_1_3_refuses_a_tls_1_2_client_and_1_0_is_a_config_error() {
    let lan = lan("tls_min_version = \"1.3\"\nlisten_tls = [\"127.0.0.1:0\"]\n").await;
    let addr = lan.relay.relay.tls_addrs[0];
    let old = client_config(lan.ca.clone(), &[&rustls::version::TLS12])
        .connect(
            "relay.test".try_into().unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        )
        .await;
    assert!(old.is_err(), "a TLS 1.2-only client must not get in");
    let e = smarthost::config::Config::load(
        "[server]\ntls_min_version = \"1.0\"\n\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("server.tls_min_version") && e.contains("1.2 and 1.3"),
        "{e}"
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_a_restart() {
    let first = rcgen::generate_simple_self_signed(vec!["relay.test".into()]).unwrap();
    let second = rcgen::generate_simple_self_signed(vec!["relay.test".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let install = |ck: &rcgen::CertifiedKey<rcgen::KeyPair>| {
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    };
    install(&first);
    let relay = common::BinaryRelay::start(
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.2:0\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             [spool]\ndir = \"{{dir}}/spool\"\n[[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"{{dir}}/o\"\n",
            cert.display(),
            key.display()
        ),
        &[],
    );
    let tls_addr: std::net::SocketAddr = relay
        .log()
        .split("listening with implicit TLS on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let handshake = |ca: rustls::pki_types::CertificateDer<'static>| async move {
        client_config(ca, rustls::DEFAULT_VERSIONS)
            .connect(
                "relay.test".try_into().unwrap(),
                TcpStream::connect(tls_addr).await.unwrap(),
            )
            .await
            .is_ok()
    };
    assert!(handshake(first.cert.der().clone()).await);
    assert!(!handshake(second.cert.der().clone()).await);
    install(&second);
    // SAFETY: signals only the child this test started.
    unsafe { libc::kill(relay.child.id() as i32, libc::SIGHUP) };
    relay.wait_log("TLS certificate and key reloaded").await;
    assert!(
        handshake(second.cert.der().clone()).await,
        "the new certificate is served"
    );
    assert!(!handshake(first.cert.der().clone()).await);
}

#[tokio::test]
async fn sessions_from_one_outside_address_are_capped() {
    let lan = lan("max_sessions_per_address = 1\n").await;
    let mut first = BufReader::new(connect_from("127.0.0.2", &lan).await);
    assert!(read_reply(&mut first).await.starts_with("220"));
    let mut second = BufReader::new(connect_from("127.0.0.2", &lan).await);
    assert!(read_reply(&mut second).await.starts_with("421 4.7.0"));
    let mut other = BufReader::new(connect_from("127.0.0.3", &lan).await);
    assert!(
        read_reply(&mut other).await.starts_with("220"),
        "another address is not affected"
    );
    drop(first);
    // The slot is free again once the first session has ended.
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let mut again = BufReader::new(connect_from("127.0.0.2", &lan).await);
        if read_reply(&mut again).await.starts_with("220") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_over_its_message_rate_gets_451_and_may_retry() {
    let lan = lan("client_rate = \"2/min\"\n").await;
    let (mut c, _) = common::Client::connect(lan.relay.addr()).await;
    for _ in 0..2 {
        let r = c
            .send(
                "<a@acme.test>",
                &["<b@example.net>"],
                &common::message("rate"),
            )
            .await;
        assert!(r.starts_with("250"), "{r}");
    }
    c.cmd("EHLO c").await;
    let third = c.cmd("MAIL FROM:<a@acme.test>").await;
    assert!(third.starts_with("451 4.7.1"), "{third}");
}

#[tokio::test]
async fn a_client_account_may_have_tighter_recipient_and_size_limits() {
    let out = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(
        &format!(
            "[[client]]\nname = \"scanner\"\npassword_hash = \"{}\"\nmax_recipients = 1\nmax_message_size = \"1KB\"\n\n\
             [[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"{}\"\n",
            smarthost::config::hash_password("pw"),
            out.path().display()
        ),
        "allow_plain_auth_on_loopback = true\n",
    )
    .await;
    let (mut c, _) = common::Client::connect(relay.addr()).await;
    c.cmd("EHLO scanner.lan").await;
    assert!(c.cmd(&plain("scanner", "pw")).await.starts_with("235"));
    assert!(
        c.cmd("MAIL FROM:<s@acme.test> SIZE=5000")
            .await
            .starts_with("552")
    );
    assert!(c.cmd("MAIL FROM:<s@acme.test>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<a@example.net>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@example.net>").await.starts_with("452"));
}
