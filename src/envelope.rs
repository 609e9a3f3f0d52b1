//! The SMTP envelope of one message: reverse path, recipients and the ESMTP parameters that must
//! survive the queue (DSN's RET/ENVID/NOTIFY/ORCPT, BODY, SMTPUTF8). Produced by the session,
//! stored by the spool, replayed by the upstream client. Holds no message bytes.

pub mod mailbox;

use serde::{Deserialize, Serialize};

pub use mailbox::{Mailbox, MailboxError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Reverse path without brackets; empty for the null sender `<>`. Always a [`Mailbox`] as
    /// it writes itself (a quoted local part stays quoted): the session checks it at MAIL.
    pub mail_from: String,
    #[serde(default)]
    pub body: BodyType,
    #[serde(default)]
    pub smtputf8: bool,
    #[serde(default)]
    pub ret: Option<Ret>,
    /// ENVID, xtext-decoded.
    #[serde(default)]
    pub envid: Option<String>,
    pub recipients: Vec<Recipient>,
    /// The upstream chosen by routing at acceptance; `None` means the default one.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Who handed the message in (IP address, or the client account), for the mail log;
    /// `None` for notices smarthost writes itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// A [`Mailbox`] as it writes itself, checked at RCPT.
    pub address: String,
    /// ORCPT address (type rfc822), xtext-decoded.
    #[serde(default)]
    pub orcpt: Option<String>,
    #[serde(default)]
    pub notify: Option<Notify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BodyType {
    #[default]
    Unspecified,
    SevenBit,
    EightBitMime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    Full,
    Hdrs,
}

/// DSN NOTIFY (RFC 3461): NEVER, or any of SUCCESS, FAILURE, DELAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notify {
    Never,
    On {
        success: bool,
        failure: bool,
        delay: bool,
    },
}

impl Notify {
    pub fn to_param(self) -> String {
        match self {
            Notify::Never => "NEVER".into(),
            Notify::On {
                success,
                failure,
                delay,
            } => {
                let words: Vec<&str> =
                    [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                        .into_iter()
                        .filter_map(|(on, w)| on.then_some(w))
                        .collect();
                words.join(",")
            }
        }
    }
}

impl Envelope {
    pub fn is_null_sender(&self) -> bool {
        self.mail_from.is_empty()
    }
}

/// RFC 3461 xtext: `+` and `=`, controls and non-ASCII become `+XX`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_escapes_plus_equals_and_spaces() {
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_encode("bob@example.net"), "bob@example.net");
    }

    #[test]
    fn notify_renders_in_rfc_order() {
        let n = Notify::On {
            success: true,
            failure: true,
            delay: false,
        };
        assert_eq!(n.to_param(), "SUCCESS,FAILURE");
        assert_eq!(Notify::Never.to_param(), "NEVER");
    }
}
