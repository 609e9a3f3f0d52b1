//! Issue 18 finding 10: `[rewrite] from` leaves exactly one mailbox in `From:`.

use super::*;
use crate::envelope::{BodyType, Recipient};

fn rewritten_from(from_field: &str) -> String {
    let mut env = Envelope {
        mail_from: "app@probe.test".into(),
        body: BodyType::Unspecified,
        smtputf8: false,
        ret: None,
        envid: None,
        recipients: vec![Recipient {
            address: "b@y.test".into(),
            orcpt: None,
            notify: None,
        }],
        upstream: None,
        client: None,
    };
    let raw = format!("From: {from_field}\r\nSubject: x\r\n\r\nbody\r\n");
    let fields = headers::fields(raw.as_bytes());
    let cfg = RewriteConfig {
        from: Some("payroll@probe.test".into()),
        ..Default::default()
    };
    let mut edits = Edits::default();
    rewrite(&mut env, &fields, &cfg, &mut edits);
    let out = edits.apply(raw.as_bytes());
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("From: "))
        .unwrap()
        .to_string()
}

#[test]
fn a_from_list_becomes_the_rewrite_address_alone_with_the_first_display_name() {
    let table = [
        (
            r#""CEO" <ceo@victim.test>, <app@probe.test>"#,
            "CEO <payroll@probe.test>",
        ),
        (
            "<app@probe.test>, \"CEO\" <ceo@victim.test>",
            "<payroll@probe.test>",
        ),
        ("Team: a@x.test, b@x.test;", "<payroll@probe.test>"),
        (
            "\"Doe, John\" <app@probe.test>",
            "\"Doe, John\" <payroll@probe.test>",
        ),
    ];
    for (from, want) in table {
        assert_eq!(rewritten_from(from), want, "{from}");
    }
}

#[test]
fn a_display_name_that_is_itself_an_address_is_dropped() {
    assert_eq!(
        rewritten_from(r#""ceo@victim.test" <app@probe.test>"#),
        "<payroll@probe.test>"
    );
}
