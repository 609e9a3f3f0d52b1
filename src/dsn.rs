//! Delivery status notifications (RFC 3464): the bounce a sender gets when a recipient failed
//! for good. Builds the `multipart/report` message and its envelope (null sender, so a bounce
//! never bounces); the caller queues it. Pure: no I/O, the clock reading is passed in.

use crate::envelope::{Envelope, Notify, Recipient, Ret};
use crate::spool::{NewMessage, StoredMessage, new_queue_id};

/// One recipient that failed, with the reply (or reason) that decided it.
pub struct Failure<'a> {
    pub index: usize,
    pub reply: &'a str,
    /// Expired in the queue rather than refused by the upstream.
    pub expired: bool,
}

/// What a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The recipient failed for good (a bounce).
    Failed,
    /// Still trying after `delay_warning`.
    Delayed,
    /// Handed to an upstream that does not do DSN itself, for a sender who asked NOTIFY=SUCCESS.
    Relayed,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Delayed => "delayed",
            Kind::Relayed => "relayed",
        }
    }
    fn subject(self) -> &'static str {
        match self {
            Kind::Failed => "Undelivered Mail Returned to Sender",
            Kind::Delayed => "Delayed Mail (still being retried)",
            Kind::Relayed => "Successful Mail Delivery Report",
        }
    }
    fn text(self) -> &'static str {
        match self {
            Kind::Failed => {
                "Your message could not be delivered to the recipients below. The reply of the\r\n\
                             server that refused it is given after each address."
            }
            Kind::Delayed => {
                "Your message has not been delivered yet to the recipients below. It is still\r\n\
                              queued and will be retried; you do not need to send it again."
            }
            Kind::Relayed => {
                "Your message was handed on to the next mail server for the recipients below.\r\n\
                              That server gives no further delivery reports."
            }
        }
    }
}

/// Whether the sender asked for this notice. Without NOTIFY, RFC 3461 presumes FAILURE and
/// DELAY, never SUCCESS.
fn wants(kind: Kind, r: &Recipient) -> bool {
    match (r.notify, kind) {
        (None, Kind::Relayed) => false,
        (None, _) => true,
        (Some(Notify::Never), _) => false,
        (Some(Notify::On { failure, .. }), Kind::Failed) => failure,
        (Some(Notify::On { delay, .. }), Kind::Delayed) => delay,
        (Some(Notify::On { success, .. }), Kind::Relayed) => success,
    }
}

/// The enhanced status in a reply like `550 5.1.1 <x>: ...`, else a generic one.
pub fn status_of(reply: &str, expired: bool) -> String {
    if expired {
        return "4.4.7".into();
    }
    let found = reply.split_whitespace().nth(1).filter(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match found {
        Some(s) => s.to_string(),
        None if reply.starts_with('4') => "4.0.0".into(),
        None => "5.0.0".into(),
    }
}

/// The bounce for `failures` of `msg`, or `None` when none is due: null sender (no bounce of a
/// bounce), or NOTIFY that excludes FAILURE for every failed recipient.
pub fn failure_notice(
    msg: &StoredMessage,
    failures: &[Failure],
    hostname: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Option<NewMessage> {
    notice(Kind::Failed, msg, failures, hostname, now)
}

/// A notice of `kind` about the recipients in `items`, or `None` when none is due.
pub fn notice(
    kind: Kind,
    msg: &StoredMessage,
    failures: &[Failure],
    hostname: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> Option<NewMessage> {
    let env = &msg.envelope;
    if env.is_null_sender() {
        return None;
    }
    let due: Vec<&Failure> = failures
        .iter()
        .filter(|f| wants(kind, &env.recipients[f.index]))
        .collect();
    if due.is_empty() {
        return None;
    }
    let id = new_queue_id();
    let boundary = format!("{id}/{hostname}");
    let date = now.format("%a, %d %b %Y %H:%M:%S %z");
    let mut human = String::new();
    let mut report = format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Smarthost-Queue-ID: {}\r\n",
        msg.id
    );
    if let Some(envid) = &env.envid {
        report.push_str(&format!("Original-Envelope-Id: {}\r\n", field(envid)));
    }
    if let Some(arrival) = chrono::DateTime::from_timestamp(msg.created, 0) {
        report.push_str(&format!(
            "Arrival-Date: {}\r\n",
            arrival.format("%a, %d %b %Y %H:%M:%S +0000")
        ));
    }
    for f in &due {
        let r = &env.recipients[f.index];
        let why = if f.expired {
            format!("gave up after retrying: {}", f.reply)
        } else {
            f.reply.to_string()
        };
        human.push_str(&format!("<{}>: {}\r\n", field(&r.address), one_line(&why)));
        report.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\n",
            field(&r.address)
        ));
        if let Some(o) = &r.orcpt {
            report.push_str(&format!("Original-Recipient: rfc822; {}\r\n", field(o)));
        }
        let status = match kind {
            Kind::Failed => status_of(f.reply, f.expired),
            Kind::Delayed => "4.4.7".into(),
            Kind::Relayed => "2.0.0".into(),
        };
        report.push_str(&format!(
            "Action: {}\r\nStatus: {status}\r\n",
            kind.action()
        ));
        report.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(f.reply)));
    }
    let original = &msg.body[..];
    let (returned_type, returned) = match env.ret {
        Some(Ret::Full) => ("message/rfc822", original),
        _ => {
            let end = crate::policy::headers::header_end(original);
            ("text/rfc822-headers", &original[..end])
        }
    };
    let mut body = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\nTo: <{to}>\r\n\
         Subject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n\
         This is a MIME-encapsulated message.\r\n\r\n\
         --{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         This is the mail relay smarthost at {hostname}.\r\n\r\n\
         {text}\r\n\r\n{human}\r\n\
         --{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
         {report}\r\n\
         --{boundary}\r\nContent-Description: Original message\r\nContent-Type: {returned_type}\r\n\r\n",
        to = field(&env.mail_from),
        subject = kind.subject(),
        text = kind.text(),
    )
    .into_bytes();
    body.extend_from_slice(returned);
    if !returned.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let envelope = Envelope {
        mail_from: String::new(),
        body: crate::envelope::BodyType::EightBitMime,
        smtputf8: false,
        ret: None,
        envid: None,
        recipients: vec![Recipient {
            address: env.mail_from.clone(),
            orcpt: None,
            notify: Some(Notify::Never),
        }],
        upstream: env.upstream.clone(),
        client: None,
    };
    Some(NewMessage { id, envelope, body })
}

/// A value from the envelope as it may appear in a notice field: control characters (which a
/// message spooled before ENVID/ORCPT were checked may hold) are xtext-encoded (`+0D+0A`), so
/// they can never end the field and start an attacker's line (`Action: delivered`).
fn field(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("+{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
#[path = "dsn/injection_tests.rs"]
mod injection_tests;

#[cfg(test)]
mod tests {
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
}

#[cfg(test)]
mod notice_tests {
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
}
