use std::path::Path;

use super::*;
use crate::envelope::BodyType;

fn config(extra: &str) -> Config {
    let text = format!(
        "{extra}\n[[upstream]]\nname = \"main\"\nkind = \"file\"\ndir = \"out\"\ndefault = true\n\n\
         [[upstream]]\nname = \"payroll\"\nkind = \"file\"\ndir = \"out2\"\nsenders = [\"salaires@example.com\", \"paie.example\"]\n"
    );
    Config::load(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn env(from: &str, rcpts: &[&str]) -> Envelope {
    Envelope {
        mail_from: from.into(),
        body: BodyType::Unspecified,
        smtputf8: false,
        ret: None,
        envid: None,
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                address: r.to_string(),
                orcpt: None,
                notify: None,
            })
            .collect(),
        upstream: None,
        client: None,
    }
}

const MSG: &str = "From: =?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <juerg@example.com>\r\nTo: Ann <ann@x.test>\r\nCc: cc@x.test\r\nSubject: Lohnabrechnung\r\n\r\nBody line\r\n";

fn headers_of(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..headers::header_end(body)]).into_owned()
}

fn body_of(body: &[u8]) -> &[u8] {
    &body[headers::header_end(body)..]
}

#[test]
fn routing_prefers_a_full_address_then_a_domain_then_the_default() {
    let c = config("");
    let table = [
        ("salaires@example.com", "payroll"),
        ("SALAIRES@EXAMPLE.COM", "payroll"),
        ("other@example.com", "main"),
        ("anyone@paie.example", "payroll"),
        ("x@elsewhere.test", "main"),
        ("", "main"),
    ];
    for (sender, want) in table {
        assert_eq!(
            crate::router::route(sender, &c.upstreams).unwrap().name,
            want,
            "{sender}"
        );
    }
}

#[test]
fn the_route_is_recorded_before_the_sender_is_rewritten() {
    let c = config("[rewrite]\nfrom = \"noreply@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(
        env("salaires@example.com", &["bob@y.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert_eq!(a.envelope.upstream.as_deref(), Some("payroll"));
    assert_eq!(a.envelope.mail_from, "noreply@company.test");
}

fn blacklist_config(action: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bl.txt");
    std::fs::write(&file, "Blocked@Example.com\n@bücher.example\n").unwrap();
    let c = config(&format!(
        "[blacklist]\nfile = \"{}\"\naction = \"{action}\"\n",
        file.display()
    ));
    (dir, c)
}

#[test]
fn blacklisted_recipient_is_refused_at_rcpt_with_550_5_7_1() {
    let (_d, c) = blacklist_config("reject");
    let p = Policy::new(&c).unwrap();
    let r = p.check_rcpt("a@x.test", "blocked@EXAMPLE.com").unwrap();
    assert_eq!((r.code, r.status), (550, Some("5.7.1")));
    assert!(
        p.check_rcpt("a@x.test", "kunde@xn--bcher-kva.example")
            .is_some()
    );
    assert!(p.check_rcpt("a@x.test", "fine@example.com").is_none());
}

#[test]
fn drop_action_accepts_at_rcpt_but_never_queues_the_recipient() {
    let (_d, c) = blacklist_config("drop");
    let p = Policy::new(&c).unwrap();
    assert!(p.check_rcpt("a@x.test", "blocked@example.com").is_none());
    let a = p.apply(
        env("a@x.test", &["blocked@example.com", "ok@y.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert_eq!(a.dropped, vec!["blocked@example.com"]);
    assert_eq!(a.envelope.recipients.len(), 1);
    assert_eq!(a.envelope.recipients[0].address, "ok@y.test");
}

#[test]
fn test_mode_redirects_every_recipient_and_keeps_the_originals_in_headers() {
    let c = config("[test_mode]\nenabled = true\nredirect_to = \"tester@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(
        env("a@x.test", &["ann@x.test", "cc@x.test", "hidden@x.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert!(a.test_mode);
    let rcpts: Vec<&str> = a
        .envelope
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(rcpts, vec!["tester@company.test"]);
    let h = headers_of(&a.body);
    assert!(h.contains("X-Original-To: Ann <ann@x.test>\r\n"), "{h}");
    assert!(h.contains("X-Original-Cc: cc@x.test\r\n"), "{h}");
    assert!(h.contains("X-Original-Bcc: hidden@x.test\r\n"), "{h}");
    assert!(h.contains("Subject: [TEST] Lohnabrechnung\r\n"), "{h}");
    assert_eq!(body_of(&a.body), b"Body line\r\n");
}

#[test]
fn sender_rewrite_changes_envelope_and_from_and_keeps_the_encoded_display_name() {
    let c = config("[rewrite]\nfrom = \"payroll@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(
        env("juerg@example.com", &["b@y.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert_eq!(a.envelope.mail_from, "payroll@company.test");
    let h = headers_of(&a.body);
    assert!(
        h.starts_with("From: =?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <payroll@company.test>\r\n"),
        "{h}"
    );
    // reply_to defaults to "original": replies reach the real person.
    assert!(
        h.contains("Reply-To: =?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <juerg@example.com>\r\n"),
        "{h}"
    );
}

#[test]
fn a_non_ascii_from_name_is_rfc_2047_encoded() {
    let c = config(
        "[rewrite]\nfrom = \"payroll@company.test\"\nfrom_name = \"Ressources humaines, Genève\"\n",
    );
    let p = Policy::new(&c).unwrap();
    let a = p.apply(env("x@example.com", &["b@y.test"]), MSG.as_bytes().to_vec());
    let h = headers_of(&a.body);
    assert!(
        h.starts_with(
            "From: =?UTF-8?B?UmVzc291cmNlcyBodW1haW5lcywgR2Vuw6h2ZQ==?= <payroll@company.test>\r\n"
        ),
        "{h}"
    );
}

#[test]
fn an_existing_reply_to_is_kept() {
    let c = config("[rewrite]\nfrom = \"payroll@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let msg = format!("Reply-To: hr@company.test\r\n{MSG}");
    let a = p.apply(env("x@example.com", &["b@y.test"]), msg.into_bytes());
    let h = headers_of(&a.body);
    assert!(h.contains("Reply-To: hr@company.test\r\n"), "{h}");
    assert_eq!(h.matches("Reply-To:").count(), 1, "{h}");
}

#[test]
fn a_sender_header_that_would_contradict_the_new_from_is_removed() {
    let c = config("[rewrite]\nfrom = \"payroll@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let msg = format!("Sender: secretary@example.com\r\n{MSG}");
    let a = p.apply(env("x@example.com", &["b@y.test"]), msg.into_bytes());
    assert!(!headers_of(&a.body).contains("Sender:"));
}

#[test]
fn a_bounce_keeps_its_null_sender() {
    let c = config("[rewrite]\nfrom = \"payroll@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(env("", &["b@y.test"]), MSG.as_bytes().to_vec());
    assert_eq!(a.envelope.mail_from, "");
}

#[test]
fn bcc_archive_is_added_to_the_envelope_only() {
    let c = config("[rewrite]\nbcc = [\"archive@company.test\"]\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(env("x@example.com", &["b@y.test"]), MSG.as_bytes().to_vec());
    assert!(
        a.envelope
            .recipients
            .iter()
            .any(|r| r.address == "archive@company.test")
    );
    assert!(!String::from_utf8_lossy(&a.body).contains("archive@company.test"));
    assert_eq!(a.body, MSG.as_bytes(), "no header changes at all");
}

#[test]
fn read_receipt_and_importance_headers_are_added_when_asked() {
    let c = config("[rewrite]\nread_receipt = true\nimportance = \"high\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(env("x@example.com", &["b@y.test"]), MSG.as_bytes().to_vec());
    let h = headers_of(&a.body);
    assert!(
        h.contains(
            "Disposition-Notification-To: =?UTF-8?Q?J=C3=BCrg_M=C3=BCller?= <juerg@example.com>\r\n"
        ),
        "{h}"
    );
    assert!(
        h.contains("Importance: high\r\n") && h.contains("X-Priority: 1 (Highest)\r\n"),
        "{h}"
    );
}

#[test]
fn nothing_changes_without_policy_sections() {
    let p = Policy::new(&config("")).unwrap();
    let a = p.apply(env("x@example.com", &["b@y.test"]), MSG.as_bytes().to_vec());
    assert_eq!(a.body, MSG.as_bytes());
    assert_eq!(a.envelope.mail_from, "x@example.com");
}

#[test]
fn an_upstream_section_overrides_the_global_one_for_mail_routed_there() {
    let text = "[rewrite]\nfrom = \"global@company.test\"\n\n\
        [[upstream]]\nname = \"main\"\nkind = \"file\"\ndir = \"o\"\ndefault = true\n\n\
        [[upstream]]\nname = \"payroll\"\nkind = \"file\"\ndir = \"o2\"\nsenders = [\"paie.example\"]\n\
        [upstream.rewrite]\nfrom = \"salaires@company.test\"\n";
    let c = Config::load(text, Path::new("t.toml")).unwrap();
    let p = Policy::new(&c).unwrap();
    let a = p.apply(
        env("x@paie.example", &["b@y.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert_eq!(a.envelope.mail_from, "salaires@company.test");
    let a = p.apply(
        env("x@other.example", &["b@y.test"]),
        MSG.as_bytes().to_vec(),
    );
    assert_eq!(a.envelope.mail_from, "global@company.test");
}

#[test]
fn test_mode_without_a_redirect_address_is_a_config_error() {
    let text =
        "[test_mode]\nenabled = true\n\n[[upstream]]\nname = \"m\"\nkind = \"file\"\ndir = \"o\"\n";
    let e = Config::load(text, Path::new("t.toml")).unwrap_err();
    assert!(
        e.0.iter()
            .any(|e| e.key == "test_mode.redirect_to" && e.line == 1),
        "{e}"
    );
}

#[test]
fn signature_is_added_through_the_pipeline_and_a_broken_message_passes_unchanged() {
    let c = config("[rewrite]\nsignature_text = \"ACME SA\"\n");
    let p = Policy::new(&c).unwrap();
    let a = p.apply(
        env("x@example.com", &["b@y.test"]),
        b"Subject: s\r\n\r\nHello\r\n".to_vec(),
    );
    assert_eq!(a.body, b"Subject: s\r\n\r\nHello\r\n\r\nACME SA\r\n");
    let broken = b"Content-Type: application/octet-stream\r\n\r\n\x00\x01".to_vec();
    let a = p.apply(env("x@example.com", &["b@y.test"]), broken.clone());
    assert_eq!(a.body, broken);
}

#[test]
fn test_mode_lists_a_hidden_recipient_even_when_a_header_address_contains_it() {
    let c = config("[test_mode]\nenabled = true\nredirect_to = \"tester@company.test\"\n");
    let p = Policy::new(&c).unwrap();
    let msg = "To: joann@x.test\r\nSubject: s\r\n\r\nb\r\n";
    let a = p.apply(
        env("a@x.test", &["joann@x.test", "ann@x.test"]),
        msg.as_bytes().to_vec(),
    );
    assert!(headers_of(&a.body).contains("X-Original-Bcc: ann@x.test\r\n"));
}
