use super::*;

fn message(from: &str) -> Vec<u8> {
    format!(
        "From: Payroll <{from}>\r\nTo: staff@example.org\r\nSubject: Payslip\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <1@example.com>\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

fn signer(algorithm: Algorithm) -> Signer {
    let pem = generate(algorithm, 2048).unwrap();
    Signer::new("example.com", "s1", Key::from_pem(pem.as_bytes()).unwrap()).unwrap()
}

#[test]
fn generated_keys_load_back_with_the_algorithm_they_were_made_for() {
    for alg in [Algorithm::Rsa, Algorithm::Ed25519] {
        let pem = generate(alg, 2048).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(Key::from_pem(pem.as_bytes()).unwrap().algorithm(), alg);
    }
}

#[test]
fn txt_record_names_the_key_type_and_carries_the_public_key() {
    let ed = Key::from_pem(generate(Algorithm::Ed25519, 0).unwrap().as_bytes()).unwrap();
    let rec = ed.txt_record();
    assert!(rec.starts_with("v=DKIM1; k=ed25519; p="), "{rec}");
    // RFC 8463: the bare 32-byte key, 44 base64 characters.
    assert_eq!(rec.len(), "v=DKIM1; k=ed25519; p=".len() + 44);
    let rsa = Key::from_pem(generate(Algorithm::Rsa, 2048).unwrap().as_bytes()).unwrap();
    // SubjectPublicKeyInfo of a 2048-bit key always starts like this.
    assert!(
        rsa.txt_record()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    );
}

#[test]
fn a_published_key_matches_only_its_own_private_key() {
    let a = Key::from_pem(generate(Algorithm::Rsa, 2048).unwrap().as_bytes()).unwrap();
    let b = Key::from_pem(generate(Algorithm::Rsa, 2048).unwrap().as_bytes()).unwrap();
    assert!(a.matches_published(&a.public_b64()));
    // DNS publishers may split the value with spaces.
    let spaced: String = a.public_b64().chars().flat_map(|c| [c, ' ']).collect();
    assert!(a.matches_published(&spaced));
    assert!(!a.matches_published(&b.public_b64()));
}

#[test]
fn a_file_that_is_not_a_key_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dkim.pem");
    std::fs::write(
        &p,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = Key::load(&p).unwrap_err().to_string();
    assert!(
        e.contains("dkim.pem") && e.contains("not a PEM private key"),
        "{e}"
    );
    let e = Key::load(&dir.path().join("missing.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pem"), "{e}");
}

#[test]
fn signature_is_relaxed_relaxed_with_the_configured_domain_and_selector() {
    for (alg, a) in [
        (Algorithm::Rsa, "rsa-sha256"),
        (Algorithm::Ed25519, "ed25519-sha256"),
    ] {
        let sig = signer(alg).signature(&message("pay@example.com")).unwrap();
        assert!(sig.starts_with("DKIM-Signature: "), "{sig}");
        assert!(sig.ends_with("\r\n"), "{sig:?}");
        for tag in [
            format!("a={a}"),
            "c=relaxed/relaxed".into(),
            "d=example.com".into(),
            "s=s1".into(),
        ] {
            assert!(sig.contains(&tag), "{tag} missing in {sig}");
        }
    }
}

#[test]
fn signs_only_mail_from_its_domain_or_below() {
    let s = signer(Algorithm::Ed25519);
    assert!(s.covers(&message("pay@example.com")));
    assert!(s.covers(&message("pay@hr.EXAMPLE.com")));
    assert!(!s.covers(&message("pay@notexample.com")));
    assert!(!s.covers(&message("pay@example.org")));
    assert!(!s.covers(b"Subject: no from\r\n\r\nbody\r\n"));
}
