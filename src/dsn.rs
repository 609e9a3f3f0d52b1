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
    let mut human = String::new();
    let mut report = report_fields(msg, hostname);
    for f in &due {
        recipient_fields(kind, f, &env.recipients[f.index], &mut human, &mut report);
    }
    let texts = Texts {
        human,
        report,
        date: now.format("%a, %d %b %Y %H:%M:%S %z").to_string(),
    };
    let body = compose(kind, msg, &id, hostname, &texts);
    Some(NewMessage {
        id,
        envelope: notice_envelope(env),
        body,
    })
}

/// The per-message fields of the delivery report (RFC 3464 section 2.2).
fn report_fields(msg: &StoredMessage, hostname: &str) -> String {
    let env = &msg.envelope;
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
    report
}

/// One recipient: its line for people and its per-recipient report fields (section 2.3).
fn recipient_fields(
    kind: Kind,
    f: &Failure,
    r: &Recipient,
    human: &mut String,
    report: &mut String,
) {
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

/// The texts a notice is made of, besides the original message.
struct Texts {
    human: String,
    report: String,
    date: String,
}

/// The multipart/report: the words for people, the report, and the original (or its headers,
/// unless RET=FULL).
fn compose(kind: Kind, msg: &StoredMessage, id: &str, hostname: &str, t: &Texts) -> Vec<u8> {
    let env = &msg.envelope;
    let boundary = format!("{id}/{hostname}");
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
        date = t.date,
        human = t.human,
        report = t.report,
    )
    .into_bytes();
    body.extend_from_slice(returned);
    if !returned.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// A notice goes from the null sender to the original sender, asking for no notice back.
fn notice_envelope(env: &Envelope) -> Envelope {
    Envelope {
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
    }
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
#[path = "dsn/tests.rs"]
mod tests;

#[cfg(test)]
#[path = "dsn/notice_tests.rs"]
mod notice_tests;
