//! Every reply the listener sends, by name, with its enhanced status code (RFC 3463). Keeping
//! them in one place makes the wording consistent and reviewable; nothing here does I/O.

use std::borrow::Cow;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status, e.g. `5.5.2`; `None` for the greeting and EHLO lines.
    pub status: Option<&'static str>,
    /// One entry per line.
    pub lines: Vec<Cow<'static, str>>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<Cow<'static, str>>) -> Self {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    pub fn plain(code: u16, text: impl Into<Cow<'static, str>>) -> Self {
        Reply {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// Wire form, CRLF-terminated, multi-line replies with `-` continuation.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            // Some replies echo what the client sent (an option, a HELO name): a NUL or a bare
            // CR there would corrupt the reply stream, so control characters never go out.
            let line: std::borrow::Cow<str> = if line.chars().any(char::is_control) {
                line.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect::<String>()
                    .into()
            } else {
                std::borrow::Cow::Borrowed(line.as_ref())
            };
            match self.status {
                Some(st) => {
                    let _ = write!(s, "{}{}{} {}\r\n", self.code, sep, st, line);
                }
                None => {
                    let _ = write!(s, "{}{}{}\r\n", self.code, sep, line);
                }
            }
        }
        out.extend_from_slice(s.as_bytes());
    }

    pub fn to_wire(&self) -> String {
        let mut v = Vec::new();
        self.write_to(&mut v);
        String::from_utf8(v).expect("replies are UTF-8")
    }
}

pub fn greeting(hostname: &str) -> Reply {
    Reply::plain(220, format!("{hostname} ESMTP smarthost"))
}
pub fn ok() -> Reply {
    Reply::new(250, "2.0.0", "Ok")
}
pub fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0", "Ok")
}
pub fn recipient_ok() -> Reply {
    Reply::new(250, "2.1.5", "Ok")
}
pub fn start_data() -> Reply {
    Reply::plain(354, "End data with <CR><LF>.<CR><LF>")
}
pub fn queued(id: &str) -> Reply {
    Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
}
pub fn bye() -> Reply {
    Reply::new(221, "2.0.0", "Bye")
}
pub fn ready_for_tls() -> Reply {
    Reply::new(220, "2.0.0", "Ready to start TLS")
}
pub fn vrfy() -> Reply {
    Reply::new(
        252,
        "2.0.0",
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}
pub fn help() -> Reply {
    Reply::new(
        214,
        "2.0.0",
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
    )
}
pub fn unknown_command() -> Reply {
    Reply::new(500, "5.5.2", "Error: command not recognized")
}
pub fn line_too_long() -> Reply {
    Reply::new(500, "5.5.2", "Error: line too long (limit 1000 octets)")
}
pub fn not_implemented(what: &str) -> Reply {
    Reply::new(502, "5.5.1", format!("Error: {what} not implemented"))
}
pub fn syntax(detail: impl Into<Cow<'static, str>>) -> Reply {
    Reply::new(501, "5.5.4", detail)
}
pub fn bad_sender_syntax() -> Reply {
    Reply::new(501, "5.1.7", "Bad sender address syntax")
}
pub fn bad_recipient_syntax() -> Reply {
    Reply::new(501, "5.1.3", "Bad recipient address syntax")
}
/// RFC 3463 X.1.7: the sender's mailbox is not one the relay will write anywhere.
pub fn bad_sender_mailbox(why: &crate::envelope::MailboxError) -> Reply {
    Reply::new(553, "5.1.7", format!("Error: bad sender address: {why}"))
}
/// RFC 3463 X.1.3: the recipient's mailbox is not one the relay will write anywhere.
pub fn bad_recipient_mailbox(why: &crate::envelope::MailboxError) -> Reply {
    Reply::new(553, "5.1.3", format!("Error: bad recipient address: {why}"))
}
pub fn auth_ok() -> Reply {
    Reply::new(235, "2.7.0", "Authentication successful")
}
pub fn auth_failed() -> Reply {
    Reply::new(535, "5.7.8", "Authentication credentials invalid")
}
pub fn auth_challenge(payload: &str) -> Reply {
    Reply::plain(334, payload.to_string())
}
pub fn auth_bad_sequence() -> Reply {
    Reply::new(503, "5.5.1", "Already authenticated, or in a transaction")
}
pub fn encryption_required() -> Reply {
    Reply::new(
        538,
        "5.7.11",
        "Encryption required for requested authentication mechanism: use STARTTLS",
    )
}
pub fn auth_mechanism_unknown() -> Reply {
    Reply::new(
        504,
        "5.5.4",
        "Unrecognized authentication type (PLAIN or LOGIN)",
    )
}
pub fn auth_cancelled() -> Reply {
    Reply::new(501, "5.7.0", "Authentication cancelled")
}
pub fn auth_bad_base64() -> Reply {
    Reply::new(501, "5.5.2", "Cannot decode response")
}
pub fn auth_required() -> Reply {
    Reply::new(530, "5.7.0", "Authentication required")
}
pub fn client_rate_exceeded() -> Reply {
    Reply::new(
        451,
        "4.7.1",
        "Too many messages from you: try again in a minute",
    )
}
pub fn too_many_from_address() -> Reply {
    Reply::new(421, "4.7.0", "Too many connections from your address")
}
/// The address (outside `allowed_networks`) is banned for failed logins until `at` ("14:35").
pub fn too_many_auth_failures(ip: std::net::IpAddr, at: &str) -> Reply {
    Reply::new(
        421,
        "4.7.0",
        format!("Too many failed logins from {ip}; try again after {at}"),
    )
}
/// This name is paused from this address until `at`; other names and programs go on.
pub fn login_paused(name: &str, at: &str) -> Reply {
    let name: String = name.chars().take(64).collect();
    Reply::new(
        454,
        "4.7.0",
        format!("Too many failed logins as {name}; try again after {at}"),
    )
}
/// `AUTH` with a mechanism name this relay does not offer.
pub fn auth_mechanism_unknown_of(offered: &str) -> Reply {
    Reply::new(
        504,
        "5.5.4",
        format!("Unrecognized authentication type (use {offered})"),
    )
}
pub fn unsupported_parameter(param: &str) -> Reply {
    Reply::new(555, "5.5.4", format!("Unsupported option: {param}"))
}
pub fn nested_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: nested MAIL command")
}
pub fn need_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: need MAIL command")
}
/// A BDAT chunk that is not the last was read (RFC 3030).
pub fn chunk_received(total: u64) -> Reply {
    Reply::new(250, "2.0.0", format!("Ok: {total} octets received"))
}
/// DATA in the middle of a BDAT transaction (RFC 3030 2).
pub fn data_after_bdat() -> Reply {
    Reply::new(503, "5.5.1", "Error: DATA in a BDAT transaction")
}
pub fn need_rcpt() -> Reply {
    Reply::new(503, "5.5.1", "Error: need RCPT command")
}
pub fn tls_already_active() -> Reply {
    Reply::new(503, "5.5.1", "Error: TLS already active")
}
pub fn tls_in_transaction() -> Reply {
    Reply::new(
        503,
        "5.5.1",
        "Error: STARTTLS not allowed during a mail transaction",
    )
}
pub fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3", "Error: too many recipients")
}
/// The message (declared at MAIL with SIZE, or as received) is over the limit; both in words.
pub fn message_too_big(size: u64, limit: u64) -> Reply {
    Reply::new(
        552,
        "5.3.4",
        format!(
            "Message too big: {}, the limit is {}",
            human_size(size),
            human_size(limit)
        ),
    )
}

/// `1.4 MB`, `980 KB`, `512 bytes`: decimal units, as `max_message_size = "1MB"` means.
pub fn human_size(n: u64) -> String {
    let scaled = |unit: f64, name: &str| {
        let v = format!("{:.1}", n as f64 / unit);
        format!("{} {name}", v.strip_suffix(".0").unwrap_or(&v))
    };
    match n {
        1_000_000_000.. => scaled(1e9, "GB"),
        1_000_000.. => scaled(1e6, "MB"),
        1_000.. => scaled(1e3, "KB"),
        _ => format!("{n} bytes"),
    }
}
/// `[server] bare_newlines = "reject"` and the message held a bare CR/LF or a NUL.
pub fn bad_line_ends(flaw: super::data::Flaw) -> Reply {
    let why = match flaw {
        super::data::Flaw::BareNewline => {
            "Error: bare CR or LF in message; lines must end with CRLF (RFC 5321 2.3.8)"
        }
        super::data::Flaw::Nul => "Error: NUL character in message",
    };
    Reply::new(550, "5.5.2", why)
}
/// `[server] memory_budget` is spent by the messages in transit: try again shortly.
pub fn memory_budget_spent() -> Reply {
    Reply::new(
        452,
        "4.3.1",
        "Error: insufficient system storage, try again later",
    )
}
/// RFC 5321 6.3: too many `Received:` fields, the message is probably looping.
pub fn mail_loop() -> Reply {
    Reply::new(
        554,
        "5.4.6",
        "Error: too many hops (Received: fields), mail loop?",
    )
}
/// A `SIZE=` too large to be a number at all.
pub fn declared_size_too_big() -> Reply {
    Reply::new(552, "5.3.4", "Error: message size exceeds fixed limit")
}
pub fn too_many_errors() -> Reply {
    Reply::new(421, "4.7.0", "Error: too many errors, closing connection")
}
pub fn timeout() -> Reply {
    Reply::new(421, "4.4.2", "Error: timeout exceeded, closing connection")
}
pub fn too_many_connections() -> Reply {
    Reply::new(421, "4.3.2", "Too many connections, try again later")
}
pub fn shutting_down() -> Reply {
    Reply::new(421, "4.3.2", "Service shutting down, try again later")
}
pub fn client_not_allowed() -> Reply {
    Reply::new(
        554,
        "5.7.1",
        "Access denied: your address is not allowed to relay through this server",
    )
}
pub fn blacklisted() -> Reply {
    Reply::new(
        550,
        "5.7.1",
        "Recipient address rejected: blacklisted by local policy",
    )
}
pub fn storage_failed() -> Reply {
    Reply::new(
        452,
        "4.3.1",
        "Error: insufficient system storage, try again later",
    )
}
/// The message could not be processed here (a bug, logged): the client may try again.
pub fn local_error() -> Reply {
    Reply::new(
        451,
        "4.3.0",
        "Error: local error in processing, try again later",
    )
}
pub fn tls_unavailable() -> Reply {
    Reply::new(454, "4.7.0", "TLS not available due to local problem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_use_dash_continuation_and_space_on_the_last_line() {
        let r = Reply {
            code: 250,
            status: None,
            lines: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(r.to_wire(), "250-a\r\n250-b\r\n250 c\r\n");
    }

    #[test]
    fn enhanced_status_follows_the_code() {
        assert_eq!(
            unknown_command().to_wire(),
            "500 5.5.2 Error: command not recognized\r\n"
        );
    }

    #[test]
    fn a_size_refusal_gives_the_size_and_the_limit_in_megabytes() {
        assert_eq!(
            message_too_big(1_400_000, 1_000_000).to_wire(),
            "552 5.3.4 Message too big: 1.4 MB, the limit is 1 MB\r\n"
        );
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(35_000_000), "35 MB");
    }

    #[test]
    fn a_banned_address_is_told_its_address_and_when_to_try_again() {
        let r = too_many_auth_failures("192.0.2.7".parse().unwrap(), "14:35");
        assert_eq!(
            r.to_wire(),
            "421 4.7.0 Too many failed logins from 192.0.2.7; try again after 14:35\r\n"
        );
    }

    #[test]
    fn client_bytes_echoed_in_a_reply_cannot_inject_control_characters() {
        assert_eq!(
            unsupported_parameter("0\0x\ry").to_wire(),
            "555 5.5.4 Unsupported option: 0?x?y\r\n"
        );
    }
}
