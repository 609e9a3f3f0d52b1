//! Verdicts for issue 20: certificates smarthost does not trust yet, and Google's SMTP relay.

use super::*;

fn reply(text: &str) -> UpReply {
    UpReply {
        code: text[..3].parse().unwrap(),
        text: text.into(),
    }
}

fn target(conn: ConnMode, port: u16) -> Target {
    Target {
        host: "nas.office.test".into(),
        port,
        conn,
        oauth: false,
    }
}

#[test]
fn self_signed_ca_and_unpinned_certificates_are_named_not_blamed_on_the_tls_version() {
    let t = target(ConnMode::StartTls, 587);
    let cases = [
        (
            "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
            Problem::CaAsEndEntity,
        ),
        (
            "invalid peer certificate: Other(OtherError(self-signed certificate sha256:AB is not trusted (not in ca_file, not pinned)))",
            Problem::SelfSignedCertificate,
        ),
        (
            "invalid peer certificate: Other(OtherError(certificate sha256:AB is not a pinned tls_fingerprint))",
            Problem::FingerprintMismatch,
        ),
    ];
    for (msg, want) in cases {
        let p = from_error(&UpstreamError::Tls(msg.into()), &t);
        assert_eq!(p, want, "{msg}");
        assert!(wants_pin(p));
        assert!(!explain(p, &t, Lang::En).1.contains("TLS version"));
    }
}

#[test]
fn google_relay_refusals_have_their_own_verdicts() {
    let not_allowed = reply(
        "550 5.7.1 Invalid credentials for relay [203.0.113.7]. The IP address you've registered in your G Suite SMTP Relay service doesn't match domain of the account this email is being sent from.",
    );
    assert_eq!(from_reply("RCPT", &not_allowed), Problem::RelayNotAllowed);
    let limit = reply(
        "550 5.4.5 Daily SMTP relay limit exceeded for user. For more information on SMTP relay sending limits please visit https://support.google.com/a/answer/166852",
    );
    assert_eq!(from_reply("MAIL", &limit), Problem::RelayLimitExceeded);
    let (what, fix) = explain(
        Problem::RelayNotAllowed,
        &target(ConnMode::StartTls, 587),
        Lang::De,
    );
    assert!(what.contains("SMTP-Relay"), "{what}");
    assert!(fix.contains("IP-Adresse"), "{fix}");
}
