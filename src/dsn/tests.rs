//! Notices as RFC 3461-3464 describe them, one behaviour each.
use super::*;
use crate::spool::RcptState;
use std::sync::Arc;

pub(super) fn msg(from: &str, notify: Option<Notify>, ret: Option<Ret>) -> StoredMessage {
    StoredMessage {
        id: "ORIG1".into(),
        created: 1_790_000_000,
        envelope: Envelope {
            mail_from: from.into(),
            body: Default::default(),
            smtputf8: false,
            ret,
            envid: Some("env-42".into()),
            recipients: vec![
                Recipient {
                    address: "bad@y.test".into(),
                    orcpt: Some("orig@y.test".into()),
                    notify,
                },
                Recipient {
                    address: "ok@y.test".into(),
                    orcpt: None,
                    notify: None,
                },
            ],
            upstream: Some("isp".into()),
            client: None,
        },
        rcpts: vec![RcptState::Pending { last_reply: None }; 2],
        body: Arc::new(b"Subject: payslip\r\nFrom: a@x.test\r\n\r\nsecret body\r\n".to_vec()),
        attempts: 1,
        warned: false,
    }
}

pub(super) fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc2822("Tue, 24 Nov 2026 10:00:00 +0000").unwrap()
}

const REPLY: &str = "550 5.1.1 <bad@y.test>: Recipient address rejected: User unknown";

/// The bounce for recipient 0 refused with [`REPLY`].
fn bounce_of(m: &StoredMessage, host: &str) -> Option<NewMessage> {
    failure_notice(
        m,
        &[Failure {
            index: 0,
            reply: REPLY,
            expired: false,
        }],
        host,
        now(),
    )
}

#[test]
fn bounce_is_a_multipart_report_from_the_null_sender_to_the_original_sender() {
    let m = msg("payroll@x.test", None, None);
    let n = bounce_of(&m, "relay.test").unwrap();
    assert_eq!(n.envelope.mail_from, "");
    assert_eq!(n.envelope.recipients[0].address, "payroll@x.test");
    assert_eq!(n.envelope.upstream.as_deref(), Some("isp"));
    let text = String::from_utf8(n.body).unwrap();
    assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
    assert!(text.contains("Reporting-MTA: dns; relay.test\r\n"));
    assert!(text.contains("Original-Envelope-Id: env-42\r\n"));
    assert!(text.contains("Final-Recipient: rfc822; bad@y.test\r\nOriginal-Recipient: rfc822; orig@y.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"));
    assert!(text.contains(&format!("Diagnostic-Code: smtp; {REPLY}\r\n")));
    assert!(
        text.contains(&format!("<bad@y.test>: {REPLY}")),
        "the human part quotes the reply"
    );
    // RET=HDRS is the default: headers only, never the body.
    assert!(text.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: payslip\r\n"));
    assert!(!text.contains("secret body"));
    assert!(!text.contains("ok@y.test"));
}

#[test]
fn ret_full_returns_the_whole_message() {
    let m = msg("payroll@x.test", None, Some(Ret::Full));
    let n = bounce_of(&m, "relay.test").unwrap();
    let text = String::from_utf8(n.body).unwrap();
    assert!(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: payslip"));
    assert!(text.contains("secret body"));
}

#[test]
fn null_sender_never_gets_a_bounce() {
    let m = msg("", None, None);
    assert!(
        failure_notice(
            &m,
            &[Failure {
                index: 0,
                reply: REPLY,
                expired: false
            }],
            "relay.test",
            now()
        )
        .is_none()
    );
}

#[test]
fn notify_never_or_success_only_suppresses_the_bounce() {
    for n in [
        Notify::Never,
        Notify::On {
            success: true,
            failure: false,
            delay: true,
        },
    ] {
        let m = msg("payroll@x.test", Some(n), None);
        assert!(
            failure_notice(
                &m,
                &[Failure {
                    index: 0,
                    reply: REPLY,
                    expired: false
                }],
                "r",
                now()
            )
            .is_none()
        );
    }
}

#[test]
fn expiry_reports_status_4_4_7() {
    assert_eq!(status_of("451 4.3.0 try later", true), "4.4.7");
    assert_eq!(status_of("554 no enhanced code here", false), "5.0.0");
    assert_eq!(status_of(REPLY, false), "5.1.1");
}
