//! The session driver over in-memory streams and through the listener: durability before 250,
//! STARTTLS with a real handshake, timeouts, allowed networks and 1,000 concurrent clients.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestRelay, read_reply as reply, say, unique};
use smarthost::session::machine::Limits;
use smarthost::session::{self, SessionContext};
use smarthost::spool::Spool;
use tokio::io::{AsyncWriteExt, BufReader};

fn limits(tls: bool) -> Limits {
    Limits {
        hostname: "relay.test".into(),
        max_message_size: 1_000_000,
        max_errors: 10,
        max_recipients: 100,
        tls_available: tls,
    }
}

struct Setup {
    ctx: Arc<SessionContext>,
    _stop: tokio::sync::watch::Sender<bool>,
    spool: Spool,
    _fresh: tokio::sync::mpsc::UnboundedReceiver<smarthost::spool::StoredMessage>,
    _dir: tempfile::TempDir,
}

fn setup(tls: Option<Arc<smarthost::tls::ServerTls>>, command_timeout: Duration) -> Setup {
    setup_with(tls, command_timeout, Default::default(), Default::default())
}

fn setup_with(
    tls: Option<Arc<smarthost::tls::ServerTls>>,
    command_timeout: Duration,
    dkim: Arc<smarthost::dkim::Signers>,
    cpu: Arc<smarthost::cpu::Pool>,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (spool, fresh) = Spool::open(&dir.path().join("spool")).unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(SessionContext {
        limits: limits(tls.is_some()),
        tls,
        command_timeout,
        data_timeout: command_timeout,
        spool: spool.clone(),
        policy: Arc::new(
            smarthost::policy::Policy::new(&smarthost::config::Config::embedded_default()).unwrap(),
        ),
        spf: Arc::new(smarthost::spf::SpfCheck::new(
            &smarthost::config::Config::embedded_default(),
        )),
        dkim,
        cpu,
        metrics: Default::default(),
        clients: Default::default(),
        auth: smarthost::config::Config::embedded_default().server.auth,
        bans: Default::default(),
        client_limits: Arc::new(smarthost::session::client_limits::ClientLimits::new(
            None, 0,
        )),
        shutdown,
        bare_newlines: Default::default(),
        memory: smarthost::session::budget::MemoryBudget::new(u64::MAX),
    });
    Setup {
        ctx,
        _stop: stop,
        spool,
        _fresh: fresh,
        _dir: dir,
    }
}

/// A session over an in-memory stream, past its `220` greeting.
async fn open(s: &Setup, peer: &str, buffer: usize) -> BufReader<tokio::io::DuplexStream> {
    let (client, server) = tokio::io::duplex(buffer);
    tokio::spawn(session::serve(server, peer.parse().unwrap(), s.ctx.clone()));
    let mut c = BufReader::new(client);
    let greeting = reply(&mut c).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    c
}

#[tokio::test]
async fn the_250_comes_only_once_the_message_is_in_the_spool() {
    let s = setup(None, Duration::from_secs(30));
    let mut c = open(&s, "127.0.0.1:5000", 64 * 1024).await;
    say(&mut c, "EHLO payroll.lan").await;
    say(&mut c, "MAIL FROM:<a@x.test>").await;
    say(&mut c, "RCPT TO:<b@y.test>").await;
    say(&mut c, "DATA").await;
    let r = say(&mut c, "Subject: hi\r\n\r\nbody\r\n.").await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let id = r.trim().rsplit(' ').next().unwrap();
    // No waiting: by the time the client reads 250 the row is committed.
    let q = s.spool.list().await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, id);
}

/// A DKIM signer for `dkim.smarthost.test` with the RSA test key.
fn rsa_signer() -> Arc<smarthost::dkim::Signers> {
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns/keys/rsa.pem");
    let text = format!(
        "[dkim]\ndomain = \"dkim.smarthost.test\"\nselector = \"rsa\"\nkey_file = \"{}\"\n\
         [[upstream]]\nname = \"u\"\nhost = \"127.0.0.1\"\n",
        key.display()
    );
    let config = smarthost::config::Config::load(&text, std::path::Path::new("test.toml")).unwrap();
    Arc::new(smarthost::dkim::Signers::load(&config).unwrap())
}

// One thread of the runtime (tokio::test): had the signature been made inline, the session
// waiting for it would hold that thread, and the second client would get no greeting.
#[tokio::test]
async fn a_new_client_is_greeted_while_a_message_waits_for_its_dkim_signature() {
    let pool = Arc::new(smarthost::cpu::Pool::new(1));
    let s = setup_with(None, Duration::from_secs(30), rsa_signer(), pool.clone());
    // The pool's only thread is held until the test releases it.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(move || held.recv().is_ok()).await }
    });
    let mut a = open(&s, "127.0.0.1:5000", 64 * 1024).await;
    say(&mut a, "EHLO payroll.lan").await;
    say(&mut a, "MAIL FROM:<pay@dkim.smarthost.test>").await;
    say(&mut a, "RCPT TO:<b@y.test>").await;
    say(&mut a, "DATA").await;
    a.get_mut()
        .write_all(b"From: <pay@dkim.smarthost.test>\r\nSubject: hi\r\n\r\nbody\r\n.\r\n")
        .await
        .unwrap();
    // Its 250 waits for the signature, which waits for the pool.
    let early = tokio::time::timeout(Duration::from_millis(300), reply(&mut a)).await;
    assert!(early.is_err(), "answered before it was signed: {early:?}");
    let mut b = open(&s, "127.0.0.2:5000", 64 * 1024).await;
    assert!(say(&mut b, "EHLO other.lan").await.starts_with("250"));
    release.send(()).unwrap();
    assert!(holder.await.unwrap().unwrap());
    let r = reply(&mut a).await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    let msgs = s.spool.due(i64::MAX, 10, true).await.unwrap();
    let body = String::from_utf8_lossy(&msgs[0].body);
    assert!(body.contains("DKIM-Signature: v=1; a=rsa-sha256"), "{body}");
}

#[tokio::test]
async fn accepted_message_gets_a_received_header_naming_the_client() {
    let s = setup(None, Duration::from_secs(30));
    let mut c = open(&s, "127.0.0.7:5000", 64 * 1024).await;
    say(&mut c, "EHLO payroll.lan").await;
    say(&mut c, "MAIL FROM:<a@x.test>").await;
    say(&mut c, "RCPT TO:<b@y.test>").await;
    say(&mut c, "DATA").await;
    assert!(
        say(&mut c, "Subject: hi\r\n\r\nbody\r\n.")
            .await
            .starts_with("250")
    );
    let msgs = s.spool.due(i64::MAX, 10, true).await.unwrap();
    let body = String::from_utf8_lossy(&msgs[0].body);
    assert!(
        body.starts_with(
            "Received: from payroll.lan ([127.0.0.7])\r\n\tby relay.test (smarthost) with ESMTP id "
        ),
        "{body}"
    );
    assert!(body.ends_with("Subject: hi\r\n\r\nbody\r\n"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn idle_client_gets_421_after_the_command_timeout() {
    let s = setup(None, Duration::from_secs(300));
    let mut c = open(&s, "127.0.0.1:5000", 1024).await;
    // The clock is paused: tokio jumps it forward while both sides wait.
    let r = reply(&mut c).await;
    assert!(r.starts_with("421 4.4.2"), "{r}");
}

fn test_cert() -> (
    Arc<smarthost::tls::ServerTls>,
    rustls::pki_types::CertificateDer<'static>,
) {
    let ck = rcgen::generate_simple_self_signed(vec!["relay.test".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let tls = smarthost::tls::ServerTls::load(&cert, &key, Default::default()).unwrap();
    (Arc::new(tls), ck.cert.der().clone())
}

fn tls_client(cert: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

#[tokio::test]
async fn starttls_upgrades_the_session_and_the_message_is_marked_esmtps() {
    let (acceptor, cert) = test_cert();
    let s = setup(Some(acceptor), Duration::from_secs(30));
    let mut c = open(&s, "127.0.0.1:5000", 64 * 1024).await;
    assert!(say(&mut c, "EHLO payroll.lan").await.contains("STARTTLS"));
    assert!(say(&mut c, "STARTTLS").await.starts_with("220 2.0.0"));
    let name = rustls::pki_types::ServerName::try_from("relay.test").unwrap();
    let tls = tls_client(cert)
        .connect(name, c.into_inner())
        .await
        .expect("handshake");
    let mut c = BufReader::new(tls);
    let ehlo = say(&mut c, "EHLO payroll.lan").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    say(&mut c, "MAIL FROM:<a@x.test>").await;
    say(&mut c, "RCPT TO:<b@y.test>").await;
    say(&mut c, "DATA").await;
    assert!(
        say(&mut c, "Subject: tls\r\n\r\nbody\r\n.")
            .await
            .starts_with("250")
    );
    let msgs = s.spool.due(i64::MAX, 10, true).await.unwrap();
    assert!(String::from_utf8_lossy(&msgs[0].body).contains("with ESMTPS id"));
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_discarded() {
    let (acceptor, cert) = test_cert();
    let s = setup(Some(acceptor), Duration::from_secs(30));
    let mut c = open(&s, "127.0.0.1:5000", 64 * 1024).await;
    say(&mut c, "EHLO x").await;
    // An injected MAIL after STARTTLS (CVE-2011-0411 pattern) must not survive into TLS.
    c.get_mut()
        .write_all(b"STARTTLS\r\nMAIL FROM:<injected@evil>\r\n")
        .await
        .unwrap();
    assert!(reply(&mut c).await.starts_with("220"));
    let name = rustls::pki_types::ServerName::try_from("relay.test").unwrap();
    let tls = tls_client(cert).connect(name, c.into_inner()).await;
    if let Ok(tls) = tls {
        let mut c = BufReader::new(tls);
        say(&mut c, "EHLO x").await;
        // Had the injected MAIL been kept, this would be a nested MAIL (503).
        let r = say(&mut c, "MAIL FROM:<a@x.test>").await;
        assert!(r.starts_with("250"), "{r}");
    }
    // Either way: nothing was queued from the injected command.
    assert!(s.spool.list().await.unwrap().is_empty());
}

fn outbox(dir: &std::path::Path) -> String {
    format!(
        "[[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
        dir.display()
    )
}

#[tokio::test]
async fn client_outside_allowed_networks_gets_554_at_connect() {
    let out = tempfile::tempdir().unwrap();
    let relay =
        TestRelay::start(&outbox(out.path()), "allowed_networks = [\"127.0.0.1/32\"]").await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = sock.connect(relay.addr()).await.unwrap();
    let mut r = BufReader::new(stream);
    let greeting = reply(&mut r).await;
    assert!(greeting.starts_with("554 5.7.1"), "{greeting}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_clients_are_all_served() {
    raise_fd_limit();
    let out = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&outbox(out.path()), "").await;
    let addr = relay.addr();
    const N: usize = 1000;
    let mut tasks = Vec::new();
    // All connect first, then all send: every session is open at the same time.
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    for i in 0..N {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let (mut c, greeting) = Client::connect(addr).await;
            assert!(greeting.starts_with("220"), "{greeting}");
            barrier.wait().await;
            let rcpt = format!("<{}@example.net>", unique(&format!("c{i}")));
            c.send("<a@example.test>", &[&rcpt], b"Subject: load\r\n\r\nhi\r\n")
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().starts_with("250") {
            ok += 1;
        }
    }
    assert_eq!(ok, N);
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a stack struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.max(4096).min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[tokio::test]
async fn shutdown_lets_a_message_in_data_finish_and_tells_idle_clients_421() {
    let out = tempfile::tempdir().unwrap();
    let TestRelay { relay, dir: _dir } = TestRelay::start(&outbox(out.path()), "").await;
    let addr = relay.local_addrs[0];
    let (mut idle, _) = Client::connect(addr).await;
    assert!(idle.cmd("EHLO idle.test").await.starts_with("250"));
    let (mut busy, _) = Client::connect(addr).await;
    assert!(busy.cmd("EHLO busy.test").await.starts_with("250"));
    assert!(
        busy.cmd("MAIL FROM:<a@example.test>")
            .await
            .starts_with("250")
    );
    assert!(busy.cmd("RCPT TO:<b@example.net>").await.starts_with("250"));
    assert!(busy.cmd("DATA").await.starts_with("354"));
    busy.raw(b"Subject: late\r\n\r\nfirst half\r\n").await;

    let stopping = tokio::spawn(relay.shutdown());
    let r = idle.reply().await;
    assert!(r.starts_with("421 4.3.2"), "{r}");
    busy.raw(b"second half\r\n.\r\n").await;
    let r = busy.reply().await;
    assert!(
        r.starts_with("250 2.0.0 Ok: queued as"),
        "the message in DATA finishes: {r}"
    );
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
    let id = common::queue_id(&r);
    assert!(
        out.path().join(format!("{id}.eml")).exists(),
        "the in-flight delivery finished before shutdown returned"
    );
}

/// 10,000 idle sessions must fit in little memory, and a task is as large as its largest await:
/// the long, rarely taken steps (login, the SPF check, the spool write, TLS) are boxed.
#[tokio::test]
async fn an_idle_session_task_takes_under_6_kib() {
    let s = setup(None, Duration::from_secs(30));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let task = session::serve_as(stream, peer, addr, s.ctx.clone(), false, false);
    let size = std::mem::size_of_val(&task);
    assert!(size < 6 * 1024, "session task: {size} bytes");
}

/// Issue 18 finding 12: a client that pipelines megabytes of commands and never reads the
/// replies is cut off once a write has waited `command_timeout`.
#[tokio::test]
async fn a_client_that_never_reads_its_replies_is_cut_off_after_the_timeout() {
    let s = setup(None, Duration::from_millis(500));
    let (client, server) = tokio::io::duplex(4096);
    let session = tokio::spawn(session::serve(
        server,
        "127.0.0.9:4000".parse().unwrap(),
        s.ctx.clone(),
    ));
    let (_read_half, mut write_half) = tokio::io::split(client);
    tokio::spawn(async move {
        let noops = "NOOP\r\n".repeat(200_000);
        let _ = write_half.write_all(noops.as_bytes()).await;
        // Keep the write side open: only the timeout may end the session.
        std::future::pending::<()>().await;
    });
    tokio::time::timeout(Duration::from_secs(5), session)
        .await
        .expect("the session must end on its own")
        .unwrap();
}
