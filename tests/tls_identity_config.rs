//! Issue 20 in the configuration: the new keys, the `office365-connector` and `gmail-relay`
//! presets, and what `check-config` says about client certificates (errors and warnings).

mod common;

use std::path::Path;
use std::process::Command;

use common::certs;
use smarthost::config::{AuthMode, Config, ConnMode, Count, SmtpUpstream, Transport};

fn load(upstream: &str) -> Result<Config, String> {
    let text = format!("[[upstream]]\nname = \"up\"\n{upstream}");
    Config::load(&text, Path::new("t.toml")).map_err(|e| e.to_string())
}

fn smtp(upstream: &str) -> SmtpUpstream {
    match load(upstream).unwrap().upstreams[0].transport.clone() {
        Transport::Smtp(s) => s,
        other => panic!("{other:?}"),
    }
}

/// `check-config` on a file holding `upstream`: exit code and everything printed.
fn check_config(upstream: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smarthost.toml");
    std::fs::write(&path, format!("[[upstream]]\nname = \"up\"\n{upstream}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn client_cert_keys(pem: &certs::Pem) -> String {
    format!(
        "tls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n",
        pem.cert.display(),
        pem.key.display()
    )
}

const MX: &str = "host = \"acme-ch.mail.protection.outlook.com\"\n";

#[test]
fn the_connector_preset_needs_the_tenants_mx_host() {
    let e = load("preset = \"office365-connector\"\n").unwrap_err();
    assert!(e.contains("upstream.host"), "{e}");
    assert!(e.contains("<domain>.mail.protection.outlook.com"), "{e}");
}

#[test]
fn the_connector_preset_is_port_25_starttls_without_login_and_with_exchange_limits() {
    let s = smtp(&format!("preset = \"office365-connector\"\n{MX}"));
    assert_eq!(
        (s.port, s.conn, s.auth),
        (25, ConnMode::StartTls, AuthMode::None)
    );
    assert!(s.credentials.is_none());
    assert_eq!(s.max_connections, 3);
    assert_eq!(s.max_recipients_per_message, Some(500));
    assert_eq!(s.rate.map(|r| r.count), Some(30));
}

#[test]
fn the_connector_preset_refuses_any_conn_but_starttls() {
    let e = load(&format!(
        "preset = \"office365-connector\"\n{MX}conn = \"plaintext\"\n"
    ))
    .unwrap_err();
    assert!(e.contains("needs conn = \"starttls\""), "{e}");
}

#[test]
fn a_client_certificate_is_loaded_with_its_facts() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "relay",
        &["relay.acme.ch"],
        certs::day(-1),
        certs::day(300),
    );
    let s = smtp(&format!("host = \"mx.test\"\n{}", client_cert_keys(&pem)));
    let c = s.tls.client_cert.expect("client certificate");
    assert_eq!(c.facts.names, ["relay.acme.ch"]);
    assert!(
        c.facts.subject.contains("CN=relay.acme.ch"),
        "{:?}",
        c.facts
    );
}

#[test]
fn a_client_key_that_does_not_belong_to_the_certificate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = certs::rcgen_cert(
        dir.path(),
        "a",
        &["a.test"],
        certs::day(-1),
        certs::day(300),
    );
    let b = certs::rcgen_cert(
        dir.path(),
        "b",
        &["b.test"],
        certs::day(-1),
        certs::day(300),
    );
    let keys = format!(
        "tls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n",
        a.cert.display(),
        b.key.display()
    );
    let (code, out) = check_config(&format!("host = \"mx.test\"\n{keys}"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("upstream.tls_client_cert"), "{out}");
    assert!(out.contains("does not belong to the certificate"), "{out}");
}

#[test]
fn an_expired_client_certificate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "old",
        &["a.test"],
        certs::day(-400),
        certs::day(-2),
    );
    let (code, out) = check_config(&format!("host = \"mx.test\"\n{}", client_cert_keys(&pem)));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("expired on"), "{out}");
}

#[test]
fn a_client_certificate_expiring_within_30_days_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "soon",
        &["a.test"],
        certs::day(-300),
        certs::day(10),
    );
    let (code, out) = check_config(&format!("host = \"mx.test\"\n{}", client_cert_keys(&pem)));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: upstream \"up\": the client certificate"),
        "{out}"
    );
    assert!(out.contains("expires on"), "{out}");
    assert!(out.contains("configuration OK"), "{out}");
    let later = certs::rcgen_cert(
        dir.path(),
        "later",
        &["a.test"],
        certs::day(-1),
        certs::day(90),
    );
    let (_, out) = check_config(&format!("host = \"mx.test\"\n{}", client_cert_keys(&later)));
    assert!(!out.contains("warning"), "{out}");
}

#[test]
fn a_self_signed_client_certificate_for_the_connector_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "c",
        &["relay.acme.ch"],
        certs::day(-1),
        certs::day(300),
    );
    let keys = client_cert_keys(&pem);
    let (code, out) = check_config(&format!("preset = \"office365-connector\"\n{MX}{keys}"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is self-signed; Microsoft 365"), "{out}");
    let (_, out) = check_config(&format!("host = \"mx.test\"\n{keys}"));
    assert!(!out.contains("self-signed"), "without the connector: {out}");
}

#[test]
fn a_certificate_and_key_in_one_pem_file_need_no_key_key() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certs::rcgen_cert(
        dir.path(),
        "one",
        &["a.test"],
        certs::day(-1),
        certs::day(300),
    );
    let both = dir.path().join("both.pem");
    let text =
        std::fs::read_to_string(&pem.cert).unwrap() + &std::fs::read_to_string(&pem.key).unwrap();
    std::fs::write(&both, text).unwrap();
    let s = smtp(&format!(
        "host = \"mx.test\"\ntls_client_cert = \"{}\"\n",
        both.display()
    ));
    assert_eq!(s.tls.client_cert.unwrap().key, both);
}

#[test]
fn tls_fingerprint_takes_one_or_several_spellings_and_refuses_anything_else() {
    let colons = vec!["0A"; 32].join(":");
    let s = smtp(&format!(
        "host = \"nas\"\ntls_fingerprint = [\"sha256:{colons}\", \"{}\"]\n",
        "0b".repeat(32)
    ));
    assert_eq!(s.tls.pins.len(), 2);
    assert_eq!(s.tls.pins[0].to_string(), format!("sha256:{colons}"));
    let e = load("host = \"nas\"\ntls_fingerprint = \"sha256:12:34\"\n").unwrap_err();
    assert!(e.contains("upstream.tls_fingerprint"), "{e}");
    assert!(e.contains("64 hex digits"), "{e}");
}

#[test]
fn the_gmail_relay_preset_is_smtp_relay_on_587_with_starttls_and_the_relay_limits() {
    let s = smtp("preset = \"gmail-relay\"\n");
    assert_eq!(s.host, "smtp-relay.gmail.com");
    assert_eq!((s.port, s.conn), (587, ConnMode::StartTls));
    assert_eq!(s.max_recipients_per_message, Some(100));
    let q = s.quota.expect("a daily quota");
    assert_eq!(q.count, Count::Recipients);
    assert!(format!("{q:?}").contains("10000"), "{q:?}");
}

#[test]
fn the_gmail_relay_preset_logs_in_only_when_a_username_is_set() {
    let by_ip = smtp("preset = \"gmail-relay\"\n");
    assert_eq!(by_ip.auth, AuthMode::Auto);
    assert!(by_ip.credentials.is_none());
    let with_login =
        smtp("preset = \"gmail-relay\"\nusername = \"scanner@acme.ch\"\npassword_env = \"GPW\"\n");
    assert_eq!(with_login.credentials.unwrap().username, "scanner@acme.ch");
}

#[test]
fn presets_lists_the_connector_and_the_gmail_relay() {
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .arg("presets")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("office365-connector  "), "{text}");
    assert!(text.contains("port 25  conn starttls  auth none"), "{text}");
    assert!(text.contains("gmail-relay  "), "{text}");
    assert!(
        text.contains("host smtp-relay.gmail.com  port 587  conn starttls  auth auto"),
        "{text}"
    );
}
