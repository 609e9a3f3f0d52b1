//! Which notices are due (NOTIFY, the null sender) and what they say.
use super::*;
use crate::spool::RcptState;
use std::sync::Arc;

fn msg(notify: Option<Notify>) -> StoredMessage {
    StoredMessage {
        id: "Q".into(),
        created: 0,
        envelope: Envelope {
            mail_from: "s@x.test".into(),
            body: Default::default(),
            smtputf8: false,
            ret: None,
            envid: None,
            recipients: vec![Recipient {
                address: "r@y.test".into(),
                orcpt: None,
                notify,
            }],
            upstream: None,
            client: None,
        },
        rcpts: vec![RcptState::Pending { last_reply: None }],
        body: Arc::new(b"Subject: s\r\n\r\nb\r\n".to_vec()),
        attempts: 0,
        warned: false,
    }
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc2822("Tue, 24 Nov 2026 10:00:00 +0000").unwrap()
}

#[test]
fn notices_follow_notify_and_the_rfc_3461_defaults() {
    let item = [Failure {
        index: 0,
        reply: "451 4.3.0 later",
        expired: false,
    }];
    let on = |s, f, d| {
        Some(Notify::On {
            success: s,
            failure: f,
            delay: d,
        })
    };
    let table = [
        (Kind::Delayed, None, true),
        (Kind::Delayed, on(false, true, false), false),
        (Kind::Delayed, on(false, false, true), true),
        (Kind::Relayed, None, false),
        (Kind::Relayed, on(true, false, false), true),
        (Kind::Failed, Some(Notify::Never), false),
    ];
    for (kind, notify, want) in table {
        let n = notice(kind, &msg(notify), &item, "relay.test", now());
        assert_eq!(n.is_some(), want, "{kind:?} with {notify:?}");
    }
}

#[test]
fn a_delay_notice_says_delayed_and_a_success_notice_relayed() {
    let item = [Failure {
        index: 0,
        reply: "451 4.3.0 later",
        expired: false,
    }];
    let d = notice(Kind::Delayed, &msg(None), &item, "relay.test", now()).unwrap();
    let d = String::from_utf8(d.body).unwrap();
    assert!(
        d.contains("Action: delayed\r\nStatus: 4.4.7") && d.contains("Subject: Delayed Mail"),
        "{d}"
    );
    let item = [Failure {
        index: 0,
        reply: "250 2.0.0 Ok",
        expired: false,
    }];
    let r = notice(
        Kind::Relayed,
        &msg(Some(Notify::On {
            success: true,
            failure: false,
            delay: false,
        })),
        &item,
        "r",
        now(),
    )
    .unwrap();
    assert!(
        String::from_utf8(r.body)
            .unwrap()
            .contains("Action: relayed\r\nStatus: 2.0.0")
    );
}
