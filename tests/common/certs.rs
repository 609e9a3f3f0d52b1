//! Certificates for the TLS identity tests, written as PEM files into a temp dir: made the way
//! real offices make them (`openssl req -x509`, which marks the certificate CA:TRUE) or with
//! rcgen when a test needs a chosen validity (expired, expiring soon).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its key on disk.
pub struct Pem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `openssl req -x509` with the defaults of OpenSSL's configuration (CA:TRUE), an RSA key and
/// the given subjectAltName (e.g. `DNS:localhost,IP:127.0.0.1`).
pub fn openssl_self_signed(dir: &Path, name: &str, cn: &str, san: &str) -> Pem {
    let pem = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .arg("-keyout")
        .arg(&pem.key)
        .arg("-out")
        .arg(&pem.cert)
        .args(["-subj", &format!("/CN={cn}"), "-addext"])
        .arg(format!("subjectAltName={san}"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pem
}

/// An rcgen certificate for `names`, valid from `from` to `until` (y, m, d).
pub fn rcgen_cert(
    dir: &Path,
    name: &str,
    names: &[&str],
    from: (i32, u8, u8),
    until: (i32, u8, u8),
) -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
    let cert = params.self_signed(&key).unwrap();
    let pem = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&pem.cert, cert.pem()).unwrap();
    std::fs::write(&pem.key, key.serialize_pem()).unwrap();
    pem
}

/// (y, m, d) `days` from today (negative: in the past).
pub fn day(days: i64) -> (i32, u8, u8) {
    use chrono::Datelike;
    let d = chrono::Utc::now() + chrono::Duration::days(days);
    (d.year(), d.month() as u8, d.day() as u8)
}

/// The SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint` prints it.
pub fn openssl_fingerprint(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().rsplit('=').next().unwrap().to_string()
}

/// A server certificate for 127.0.0.1 issued by a fresh CA nobody trusts; the CA is `ca.pem`.
pub fn issued_by_unknown_ca(dir: &Path) -> Pem {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Office internal CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let pem = Pem {
        cert: dir.join("leaf.pem"),
        key: dir.join("leaf.key"),
    };
    std::fs::write(&pem.cert, cert.pem()).unwrap();
    std::fs::write(&pem.key, key.serialize_pem()).unwrap();
    pem
}
