//! The console over HTTPS (`[console] tls = true`, the `[server]` certificate): the login
//! works over TLS and its cookie is marked `Secure`; plain HTTP gets no page; a client that
//! connects and says nothing does not hold up anyone's login. (Beyond loopback HTTPS is forced;
//! tests bind loopback only, so that rule is shown by the configuration's own tests.)

mod common;

use std::time::Duration;

use common::TestRelay;
use common::certs::issued_by_unknown_ca;
use reqwest::StatusCode;
use reqwest::redirect::Policy;

const PASSWORD: &str = "console-tls-pass";

struct Https {
    relay: TestRelay,
    ca: std::path::PathBuf,
    _certs: tempfile::TempDir,
}

async fn https_console() -> Https {
    let certs = tempfile::tempdir().unwrap();
    let pem = issued_by_unknown_ca(certs.path());
    let hash = smarthost::config::hash_password(PASSWORD);
    let upstreams = format!(
        "[[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
        certs.path().join("outbox").display()
    );
    let server = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n[console]\nlisten = \"127.0.0.1:0\"\ntls = true\n\
         password_hash = \"{hash}\"\n",
        pem.cert.display(),
        pem.key.display()
    );
    Https {
        relay: TestRelay::start_from_file(&upstreams, &server).await,
        ca: certs.path().join("ca.pem"),
        _certs: certs,
    }
}

/// A client that trusts the office CA that issued the relay's certificate.
fn trusting(h: &Https) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&h.ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn addr(h: &Https) -> std::net::SocketAddr {
    h.relay.relay.console_addr.expect("console on")
}

async fn log_in(h: &Https) -> reqwest::Response {
    trusting(h)
        .post(format!("https://{}/login", addr(h)))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn over_https_the_login_opens_a_session_whose_cookie_is_secure() {
    let h = https_console().await;
    let resp = log_in(&h).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap();
    let page = trusting(&h)
        .get(format!("https://{}/", addr(&h)))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_to_the_https_console_gets_no_page() {
    let h = https_console().await;
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
        .get(format!("http://{}/login", addr(&h)))
        .send()
        .await;
    assert!(plain.is_err(), "a page over plain HTTP: {plain:?}");
    // The console still serves HTTPS after the failed handshake.
    assert_eq!(log_in(&h).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_client_that_connects_and_says_nothing_does_not_hold_up_a_login() {
    let h = https_console().await;
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(tokio::net::TcpStream::connect(addr(&h)).await.unwrap());
    }
    // The handshakes wait on their own: the login is answered while the silent clients are
    // still connected (had it waited for their handshake timeout, they would be closed by now).
    assert_eq!(log_in(&h).await.status(), StatusCode::SEE_OTHER);
    for s in &silent {
        let mut buf = [0u8; 1];
        match s.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a silent client was already let go: {other:?}"),
        }
    }
    drop(silent);
}

#[tokio::test]
async fn the_one_time_link_of_an_https_console_is_https() {
    let certs = tempfile::tempdir().unwrap();
    let pem = issued_by_unknown_ca(certs.path());
    let upstreams = format!(
        "[[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
        certs.path().join("outbox").display()
    );
    let server = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n[console]\nlisten = \"127.0.0.1:0\"\ntls = true\n",
        pem.cert.display(),
        pem.key.display()
    );
    let r = TestRelay::start_from_file(&upstreams, &server).await;
    let link = r.relay.console_link.clone().expect("a one-time link");
    assert!(link.starts_with("https://127.0.0.1:"), "{link}");
}
