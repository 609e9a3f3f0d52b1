//! Issue 20, parts 1 and 2: self-signed and pinned server certificates (a scripted implicit-TLS
//! server for the CA:TRUE certificate `openssl req -x509` makes, the real Postfix for the rest)
//! and client certificates (the harness port 2590 relays only for the harness client
//! certificate's fingerprint, like an Office 365 connector identified by certificate).

mod common;

use std::path::Path;
use std::process::Command;

use common::certs::{self, Pem};
use common::{Client, Harness, TestRelay, message, unique};
use smarthost::config::{Config, SmtpUpstream, Transport};
use smarthost::diagnose::{self, Problem, Target};
use smarthost::upstream::connect::Endpoint;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// An implicit-TLS SMTP server with `pem` as its certificate: greets, says OK to everything.
async fn scripted_tls(pem: &Pem) -> u16 {
    let config =
        smarthost::tls::server_config(&pem.cert, &pem.key, smarthost::tls::TlsVersion::Tls12)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut s = BufReader::new(tls);
                let _ = s.write_all(b"220 nas.office.test ESMTP\r\n").await;
                let mut line = String::new();
                let mut in_data = false;
                while s.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let reply: &[u8] = match line.trim_end().to_ascii_uppercase() {
                        _ if in_data && line == ".\r\n" => {
                            in_data = false;
                            b"250 2.0.0 queued\r\n"
                        }
                        _ if in_data => b"",
                        l if l.starts_with("EHLO") => b"250-nas.office.test\r\n250 8BITMIME\r\n",
                        l if l.starts_with("DATA") => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        l if l.starts_with("QUIT") => b"221 bye\r\n",
                        _ => b"250 OK\r\n",
                    };
                    let _ = s.write_all(reply).await;
                    line.clear();
                }
            });
        }
    });
    port
}

fn smtp(text: &str) -> SmtpUpstream {
    let text = format!("[[upstream]]\nname = \"nas\"\ntimeout = \"10s\"\n{text}");
    let c = Config::load(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    match &c.upstreams[0].transport {
        Transport::Smtp(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// Opens a connection as the relay would; the problem send-test would name on failure.
async fn open(cfg: SmtpUpstream) -> Result<(), Problem> {
    let target = Target {
        host: cfg.host.clone(),
        port: cfg.port,
        conn: cfg.conn,
        oauth: false,
    };
    let spool = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::new("nas", cfg, "relay.test", spool.path()).unwrap();
    match endpoint.open().await {
        Ok(c) => {
            c.quit().await;
            Ok(())
        }
        Err(e) => Err(diagnose::from_error(&e, &target)),
    }
}

fn implicit_tls(port: u16, extra: &str) -> String {
    format!("host = \"127.0.0.1\"\nport = {port}\nconn = \"ssl_tls\"\nauth = \"none\"\n{extra}")
}

fn is_ca(cert: &Path) -> bool {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("CA:TRUE")
}

#[tokio::test]
async fn a_ca_true_self_signed_server_certificate_in_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::openssl_self_signed(dir.path(), "nas", "nas", "DNS:localhost,IP:127.0.0.1");
    assert!(is_ca(&pem.cert), "openssl req -x509 makes CA:TRUE");
    let port = scripted_tls(&pem).await;
    let ca = format!("ca_file = \"{}\"", pem.cert.display());
    assert_eq!(open(smtp(&implicit_tls(port, &ca))).await, Ok(()));
}

#[tokio::test]
async fn a_ca_certificate_in_ca_file_must_still_name_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::openssl_self_signed(dir.path(), "nas", "nas", "DNS:nas.office.test");
    let port = scripted_tls(&pem).await;
    let ca = format!("ca_file = \"{}\"", pem.cert.display());
    assert_eq!(
        open(smtp(&implicit_tls(port, &ca))).await,
        Err(Problem::CertificateName)
    );
}

#[tokio::test]
async fn an_untrusted_ca_certificate_is_named_a_ca_used_as_the_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::openssl_self_signed(dir.path(), "nas", "nas", "DNS:localhost,IP:127.0.0.1");
    let port = scripted_tls(&pem).await;
    assert_eq!(
        open(smtp(&implicit_tls(port, ""))).await,
        Err(Problem::CaAsEndEntity)
    );
}

#[tokio::test]
async fn an_untrusted_self_signed_server_certificate_is_named_self_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "nas",
        &["127.0.0.1"],
        certs::day(-1),
        certs::day(30),
    );
    let port = scripted_tls(&pem).await;
    assert_eq!(
        open(smtp(&implicit_tls(port, ""))).await,
        Err(Problem::SelfSignedCertificate)
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_named_so_and_its_ca_in_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::issued_by_unknown_ca(dir.path());
    let port = scripted_tls(&pem).await;
    assert_eq!(
        open(smtp(&implicit_tls(port, ""))).await,
        Err(Problem::UnknownCa)
    );
    let ca = format!("ca_file = \"{}\"", dir.path().join("ca.pem").display());
    assert_eq!(open(smtp(&implicit_tls(port, &ca))).await, Ok(()));
}

#[tokio::test]
async fn a_pinned_fingerprint_is_accepted_whatever_its_name_chain_or_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "old",
        &["appliance.internal"],
        certs::day(-400),
        certs::day(-30),
    );
    let port = scripted_tls(&pem).await;
    // openssl's spelling, in lower case, among other pins.
    let fp = certs::openssl_fingerprint(&pem.cert).to_lowercase();
    let pins = format!(
        "tls_fingerprint = [\"sha256:{}\", \"{fp}\"]",
        "00".repeat(32)
    );
    assert_eq!(open(smtp(&implicit_tls(port, &pins))).await, Ok(()));
}

#[tokio::test]
async fn a_server_certificate_that_is_not_pinned_is_refused_even_when_ca_file_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::openssl_self_signed(dir.path(), "nas", "nas", "DNS:localhost,IP:127.0.0.1");
    let other = certs::openssl_self_signed(dir.path(), "other", "x", "DNS:localhost");
    let port = scripted_tls(&pem).await;
    let extra = format!(
        "ca_file = \"{}\"\ntls_fingerprint = \"{}\"",
        pem.cert.display(),
        certs::openssl_fingerprint(&other.cert)
    );
    assert_eq!(
        open(smtp(&implicit_tls(port, &extra))).await,
        Err(Problem::FingerprintMismatch)
    );
}

/// The relay's mail reaches the real Postfix with only the pin to trust its certificate.
#[tokio::test]
async fn a_pinned_fingerprint_lets_mail_reach_postfix_without_ca_file() {
    let h = Harness::get();
    let up = format!(
        "[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = {}\nconn = \"starttls\"\n\
         auth = \"plain\"\nusername = \"relay@example.test\"\npassword = \"secret\"\n\
         tls_fingerprint = \"{}\"\ntimeout = \"20s\"\n",
        h.var("HARNESS_SUBMISSION_PORT"),
        certs::openssl_fingerprint(Path::new(h.ca()))
    );
    let relay = TestRelay::start(&up, "").await;
    let rcpt = format!("{}@example.net", unique("pinned"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message("pin"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&rcpt).await;
    assert!(
        got.top_received().contains("using TLS"),
        "{}",
        got.top_received()
    );
}

fn send_test(config: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smarthost.toml");
    let text = format!(
        "[spool]\ndir = \"{}\"\n\n{config}",
        dir.path().join("spool").display()
    );
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("send-test")
        .arg("--config")
        .arg(&path)
        .args(["--no-send", "--all"])
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn send_test_names_the_ca_certificate_and_prints_the_line_to_paste_in_french() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::openssl_self_signed(dir.path(), "nas", "nas", "DNS:localhost,IP:127.0.0.1");
    let port = scripted_tls(&pem).await;
    let up = format!(
        "[[upstream]]\nname = \"nas\"\n{}",
        implicit_tls(port, "timeout = \"10s\"")
    );
    let fp = certs::openssl_fingerprint(&pem.cert);
    let (code, out) = tokio::task::spawn_blocking(move || send_test(&up, &["--lang", "fr"]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("sha256:{fp}")), "{out}");
    assert!(out.contains("FAILED (ca_as_end_entity)"), "{out}");
    assert!(out.contains("certificat d'autorité"), "{out}");
    let line = format!("tls_fingerprint = \"sha256:{fp}\"");
    assert!(
        out.contains(&format!("ajoutez dans le [[upstream]] : {line}")),
        "{out}"
    );
    assert!(!out.contains("TLS version"), "{out}");

    // The line pasted as printed: the same server is accepted.
    let pasted = format!(
        "[[upstream]]\nname = \"nas\"\n{}",
        implicit_tls(port, &format!("timeout = \"10s\"\n{line}"))
    );
    let (code, out) = tokio::task::spawn_blocking(move || send_test(&pasted, &[]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn send_test_prints_the_line_to_paste_for_a_certificate_from_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::issued_by_unknown_ca(dir.path());
    let port = scripted_tls(&pem).await;
    let up = format!("[[upstream]]\nname = \"nas\"\n{}", implicit_tls(port, ""));
    let fp = certs::openssl_fingerprint(&pem.cert);
    let (code, out) = tokio::task::spawn_blocking(move || send_test(&up, &[]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED (unknown_ca)"), "{out}");
    assert!(
        out.contains(&format!("tls_fingerprint = \"sha256:{fp}\"")),
        "{out}"
    );
}

fn ccert_upstream(with_cert: bool) -> String {
    let h = Harness::get();
    let cert = match with_cert {
        true => format!(
            "tls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n",
            h.var("HARNESS_CLIENT_CERT"),
            h.var("HARNESS_CLIENT_KEY")
        ),
        false => String::new(),
    };
    format!(
        "[[upstream]]\nname = \"connector\"\nhost = \"127.0.0.1\"\nport = {}\nconn = \"starttls\"\n\
         auth = \"none\"\nca_file = \"{}\"\ntimeout = \"20s\"\n{cert}",
        h.var("HARNESS_CCERT_PORT"),
        h.ca()
    )
}

#[tokio::test]
async fn with_the_client_certificate_postfix_relays_and_its_received_header_shows_it() {
    let h = Harness::get();
    let relay = TestRelay::start(&ccert_upstream(true), "").await;
    let rcpt = format!("{}@example.net", unique("ccert"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message("ccert"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&rcpt).await;
    let received = got.top_received();
    assert!(
        received.contains("Client CN \"relay.harness.test\""),
        "{received}"
    );
}

#[tokio::test]
async fn without_the_client_certificate_the_relay_is_refused_and_the_mail_stays_queued() {
    let relay = TestRelay::start(&ccert_upstream(false), "").await;
    let rcpt = format!("{}@example.net", unique("noccert"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message("x"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let reply = relay.first_deferral().await;
    assert!(reply.contains("refuses to relay for us"), "{reply}");
    assert!(reply.contains("Relay access denied"), "{reply}");
    assert!(reply.contains("tls_client_cert"), "{reply}");
    assert!(Harness::get().find(&rcpt).is_none());
}

#[tokio::test]
async fn send_test_shows_that_postfix_asked_for_the_client_certificate_and_which_was_sent() {
    let up = ccert_upstream(true);
    let (code, out) = tokio::task::spawn_blocking(move || send_test(&up, &[]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the server asked for one; sent subject CN=relay.harness.test"),
        "{out}"
    );
    assert!(out.contains("SAN relay.harness.test"), "{out}");
    assert!(out.contains("expires 20"), "{out}");
}

#[tokio::test]
async fn send_test_says_when_the_server_did_not_ask_for_the_client_certificate() {
    let h = Harness::get();
    let up = format!(
        "[[upstream]]\nname = \"plain\"\nhost = \"127.0.0.1\"\nport = {}\nconn = \"starttls\"\n\
         auth = \"plain\"\nusername = \"relay@example.test\"\npassword = \"secret\"\n\
         ca_file = \"{}\"\ntls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n",
        h.var("HARNESS_SUBMISSION_PORT"),
        h.ca(),
        h.var("HARNESS_CLIENT_CERT"),
        h.var("HARNESS_CLIENT_KEY")
    );
    let (code, out) = tokio::task::spawn_blocking(move || send_test(&up, &[]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the server did not ask for one"), "{out}");
}

#[tokio::test]
async fn send_test_without_the_client_certificate_points_at_tls_client_cert() {
    let up = ccert_upstream(false);
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smarthost.toml");
        std::fs::write(&path, &up).unwrap();
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args([
                "send-test",
                "--all",
                "--to",
                "nobody@example.net",
                "--config",
            ])
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED (relay_denied)"), "{text}");
    assert!(text.contains("tls_client_cert"), "{text}");
}
