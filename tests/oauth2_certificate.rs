//! Issue 20, part 3: OAuth2 client credentials with a certificate (RFC 7523 client assertion)
//! instead of a client secret, for XOAUTH2 to the Postfix harness's port 2589 and for the Graph
//! stand-in. The token service (tests/common/token_server.rs) checks the assertion's signature
//! with the certificate's public key and every claim; it refuses expired or wrongly signed ones.

mod common;

use std::path::Path;
use std::time::Duration;

use common::certs::{self, Pem};
use common::graph_server::GraphServer;
use common::token_server::{TokenServer, USER};
use common::{Client, Harness, TestRelay, message, unique};

/// A client of the token service known by the certificate in `pem`.
fn register(prefix: &str, pem: &Pem) -> String {
    let id = unique(prefix);
    let server = TokenServer::get();
    server.register(&id, Duration::from_secs(60), None);
    let der = rustls_pki_types::CertificateDer::from_pem_file(&pem.cert).unwrap();
    use rustls_pki_types::pem::PemObject;
    server.update(&id, |c| c.certificate = Some(der.to_vec()));
    id
}

fn oauth2_section(id: &str, pem: &Pem) -> String {
    format!(
        "[upstream.oauth2]\nflow = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"{id}\"\n\
         client_certificate = \"{}\"\nclient_certificate_key = \"{}\"\nscope = \"smtp\"\n",
        TokenServer::url("/token"),
        pem.cert.display(),
        pem.key.display()
    )
}

fn smtp_upstream(id: &str, pem: &Pem) -> String {
    format!(
        "[[upstream]]\nname = \"oauth\"\nhost = \"127.0.0.1\"\nport = 2589\nconn = \"starttls\"\n\
         ca_file = \"{}\"\nusername = \"{USER}\"\ntimeout = \"20s\"\n{}",
        Harness::get().ca(),
        oauth2_section(id, pem)
    )
}

fn rsa(dir: &Path, name: &str) -> Pem {
    certs::openssl_self_signed(dir, name, &format!("{name}.app"), "DNS:app.test")
}

async fn send(relay: &TestRelay, prefix: &str) -> String {
    let rcpt = format!("{}@example.net", unique(prefix));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message(prefix),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    rcpt
}

#[tokio::test]
async fn a_certificate_credential_gets_a_token_and_the_mail_reaches_postfix_over_xoauth2() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa(dir.path(), "app");
    let id = register("certapp", &pem);
    let relay = TestRelay::start(&smtp_upstream(&id, &pem), "").await;
    let rcpt = send(&relay, "certxoauth").await;
    Harness::get().wait_for(&rcpt).await;

    let client = TokenServer::get().client(&id);
    assert_eq!(client.assertion_errors, Vec::<String>::new());
    let claims = &client.assertions[0];
    assert_eq!(claims["aud"], TokenServer::url("/token"));
    assert_eq!(claims["iss"], id.as_str());
    assert_eq!(claims["sub"], id.as_str());
    let (nbf, exp) = (
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > nbf && exp - nbf <= 600, "{claims}");
    assert!(client.introspected_active >= 1);
}

#[tokio::test]
async fn a_certificate_the_token_service_does_not_know_keeps_the_mail_queued() {
    let dir = tempfile::tempdir().unwrap();
    let known = rsa(dir.path(), "known");
    let other = rsa(dir.path(), "other");
    let id = register("certwrong", &known);
    let relay = TestRelay::start(&smtp_upstream(&id, &other), "").await;
    send(&relay, "certwrong").await;
    let reply = relay.first_deferral().await;
    assert!(reply.contains("refused the app"), "{reply}");
    let errors = TokenServer::get().client(&id).assertion_errors;
    assert!(errors[0].contains("x5t#S256"), "{errors:?}");
}

/// POSTs a hand-made assertion to the token service; its HTTP status.
async fn post_assertion(id: &str, jwt: &str) -> u16 {
    let form = [
        ("client_id", id),
        ("grant_type", "client_credentials"),
        ("scope", "smtp"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", jwt),
    ];
    reqwest::Client::new()
        .post(TokenServer::url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An assertion for `id` signed with `key`, naming `cert`, valid from `nbf` to `exp`.
fn assertion(id: &str, cert: &Pem, key: &Pem, nbf: i64, exp: i64) -> String {
    use base64::Engine;
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(&cert.cert).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest));
    let claims = serde_json::json!({
        "aud": TokenServer::url("/token"), "iss": id, "sub": id,
        "jti": unique("jti"), "nbf": nbf, "iat": nbf, "exp": exp,
    });
    let pem = std::fs::read(&key.key).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn the_token_service_refuses_an_expired_assertion() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa(dir.path(), "app");
    let id = register("certexpired", &pem);
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post_assertion(&id, &assertion(&id, &pem, &pem, now, now + 300)).await,
        200
    );
    let expired = assertion(&id, &pem, &pem, now - 900, now - 600);
    assert_eq!(post_assertion(&id, &expired).await, 400);
    let errors = TokenServer::get().client(&id).assertion_errors;
    assert!(errors[0].contains("Expired"), "{errors:?}");
}

#[tokio::test]
async fn the_token_service_refuses_an_assertion_signed_by_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa(dir.path(), "app");
    let thief = rsa(dir.path(), "thief");
    let id = register("certforged", &pem);
    let now = chrono::Utc::now().timestamp();
    let forged = assertion(&id, &pem, &thief, now, now + 300);
    assert_eq!(post_assertion(&id, &forged).await, 400);
    let errors = TokenServer::get().client(&id).assertion_errors;
    assert!(errors[0].contains("InvalidSignature"), "{errors:?}");
}

#[tokio::test]
async fn a_graph_upstream_gets_its_token_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa(dir.path(), "graphapp");
    let id = register("certgraph", &pem);
    let server = GraphServer::start();
    server.add_mailbox("payroll@example.test");
    let up = format!(
        "[spf]\nmode = \"off\"\n\n[[upstream]]\nname = \"m365\"\nkind = \"graph\"\n\
         graph_url = \"{}\"\nca_file = \"{}\"\ntimeout = \"20s\"\n{}",
        server.url(),
        server.ca_file().display(),
        oauth2_section(&id, &pem).replace("scope = \"smtp\"\n", "")
    );
    let relay = TestRelay::start(&up, "").await;
    send(&relay, "certgraph").await;
    let deadline = std::time::Instant::now() + common::WAIT;
    while !server.sent().iter().any(|m| m.client_id == id) {
        assert!(std::time::Instant::now() < deadline, "{:?}", server.sent());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(TokenServer::get().client(&id).assertions.len(), 1);
}

#[test]
fn client_certificate_replaces_the_secret_and_must_be_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa(dir.path(), "app");
    let load = |extra: &str| {
        let text = format!(
            "[[upstream]]\nname = \"o\"\nhost = \"smtp.office365.com\"\nusername = \"a@b.ch\"\n{}{extra}",
            oauth2_section("id", &pem)
        );
        smarthost::config::Config::load(&text, Path::new("t.toml")).map_err(|e| e.to_string())
    };
    assert!(load("").is_ok());
    let both = load("client_secret_env = \"S\"\n").unwrap_err();
    assert!(both.contains("not both"), "{both}");
    let ec = certs::rcgen_cert(dir.path(), "ec", &["a.test"], certs::day(-1), certs::day(9));
    let text = format!(
        "[[upstream]]\nname = \"o\"\nhost = \"smtp.office365.com\"\nusername = \"a@b.ch\"\n{}",
        oauth2_section("id", &ec)
    );
    let e = smarthost::config::Config::load(&text, Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("must be RSA"), "{e}");
}
