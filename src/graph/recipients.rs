//! Graph delivers to the addresses in the MIME's To, Cc and Bcc, not to an envelope. So before
//! a message goes to Graph its headers must name exactly this transaction's recipients: header
//! addresses that are not recipients of this transaction are taken out (test mode, a blacklist
//! `drop`, one part of a split message), and recipients no To/Cc names go into `Bcc:` (the BCC
//! archive copy, RCPT-only recipients). Pure: bytes in, bytes out; untouched fields stay
//! byte-identical.

use std::borrow::Cow;

use base64::Engine;
use mail_parser::{Address, MessageParser};

use crate::policy::headers::{self, Edits};

/// The message with To/Cc/Bcc made to say exactly `rcpts`; `Cow::Borrowed` when nothing had to
/// change.
pub fn align<'a>(message: &'a [u8], rcpts: &[&str]) -> Cow<'a, [u8]> {
    let fields = headers::fields(message);
    let wanted = |a: &str| rcpts.iter().any(|r| r.eq_ignore_ascii_case(a));
    let mut edits = Edits::default();
    let mut named: Vec<String> = Vec::new();
    for name in ["To", "Cc"] {
        let Some(field) = headers::get(&fields, name) else {
            continue;
        };
        let list = addresses(name, &field.value);
        let kept: Vec<&Mailbox> = list.iter().filter(|m| wanted(&m.address)).collect();
        named.extend(kept.iter().map(|m| m.address.to_ascii_lowercase()));
        let repeated = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .count()
            > 1;
        if kept.len() == list.len() && !repeated {
            continue;
        }
        if kept.is_empty() {
            edits.remove(name);
        } else {
            edits.set(name, render(&kept));
        }
    }
    let hidden: Vec<Mailbox> = rcpts
        .iter()
        .filter(|r| !named.contains(&r.to_ascii_lowercase()))
        .map(|r| Mailbox {
            name: None,
            address: r.to_string(),
        })
        .collect();
    let bcc_now = headers::get(&fields, "Bcc").map(|f| addresses("Bcc", &f.value));
    let bcc_same = bcc_now.as_ref().is_some_and(|b| same(b, &hidden))
        || (bcc_now.is_none() && hidden.is_empty());
    if !bcc_same {
        edits.remove("Bcc");
        if !hidden.is_empty() {
            edits.add("Bcc", render(&hidden.iter().collect::<Vec<_>>()));
        }
    }
    if edits.is_empty() {
        Cow::Borrowed(message)
    } else {
        Cow::Owned(edits.apply(message))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Mailbox {
    name: Option<String>,
    address: String,
}

fn same(a: &[Mailbox], b: &[Mailbox]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.address.eq_ignore_ascii_case(&y.address))
}

/// The mailboxes of an address-list field (groups flattened), as mail-parser reads them.
fn addresses(name: &str, value: &str) -> Vec<Mailbox> {
    let raw = format!("{name}: {value}\r\n\r\n");
    let Some(parsed) = MessageParser::default().parse(raw.as_bytes()) else {
        return Vec::new();
    };
    let list = match name {
        "To" => parsed.to(),
        "Cc" => parsed.cc(),
        _ => parsed.bcc(),
    };
    let addrs: Vec<&mail_parser::Addr> = match list {
        Some(Address::List(l)) => l.iter().collect(),
        Some(Address::Group(g)) => g.iter().flat_map(|g| g.addresses.iter()).collect(),
        None => Vec::new(),
    };
    addrs
        .into_iter()
        .filter_map(|a| {
            Some(Mailbox {
                name: a.name.as_ref().map(|n| n.to_string()),
                address: a.address.as_ref()?.to_string(),
            })
        })
        .collect()
}

/// `"Name" <address>, <address>`: display names quoted, or RFC 2047-encoded when not ASCII;
/// control characters never survive into a header.
fn render(list: &[&Mailbox]) -> String {
    list.iter()
        .map(|m| {
            let address: String = m.address.chars().filter(|c| !c.is_control()).collect();
            match m.name.as_deref().map(display_name) {
                Some(n) if !n.is_empty() => format!("{n} <{address}>"),
                _ => format!("<{address}>"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_ascii() {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?UTF-8?B?{b64}?=")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: Pay <pay@x.test>\r\nTo: \"Ann A.\" <ann@y.test>, bob@y.test\r\nCc: Carl <carl@y.test>\r\nSubject: s\r\n\r\nbody\r\n";

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn headers_that_already_name_every_recipient_stay_byte_identical() {
        let out = align(MSG, &["ann@y.test", "BOB@y.test", "carl@y.test"]);
        assert!(matches!(out, Cow::Borrowed(_)));
    }

    #[test]
    fn a_recipient_no_header_names_goes_into_bcc() {
        let out = text(&align(
            MSG,
            &["ann@y.test", "bob@y.test", "carl@y.test", "archive@z.test"],
        ));
        assert!(
            out.contains("\r\nBcc: <archive@z.test>\r\n\r\nbody"),
            "{out}"
        );
        assert!(
            out.contains("To: \"Ann A.\" <ann@y.test>, bob@y.test\r\n"),
            "{out}"
        );
    }

    #[test]
    fn header_addresses_outside_this_transaction_are_taken_out() {
        let out = text(&align(MSG, &["bob@y.test"]));
        assert!(out.contains("To: <bob@y.test>\r\n"), "{out}");
        assert!(!out.contains("carl"), "{out}");
        assert!(!out.contains("Bcc"), "{out}");
    }

    #[test]
    fn test_mode_leaves_only_the_redirect_address_in_bcc() {
        let out = text(&align(MSG, &["test@z.test"]));
        assert!(
            !out.contains("ann@") && !out.contains("bob@") && !out.contains("carl@"),
            "{out}"
        );
        assert!(out.contains("Bcc: <test@z.test>"), "{out}");
    }

    #[test]
    fn a_bcc_the_client_wrote_is_replaced_by_this_transactions_hidden_recipients() {
        let msg = b"To: a@y.test\r\nBcc: secret@y.test, other@y.test\r\n\r\nb\r\n";
        let out = text(&align(msg, &["a@y.test", "other@y.test"]));
        assert!(out.contains("Bcc: <other@y.test>"), "{out}");
        assert!(!out.contains("secret"), "{out}");
    }

    #[test]
    fn display_names_are_quoted_or_encoded_never_raw() {
        let msg = "To: \"Zo\u{eb} \\\"Z\\\"\" <z@y.test>, x@y.test\r\n\r\nb\r\n".as_bytes();
        let out = text(&align(msg, &["z@y.test"]));
        assert!(out.contains("To: =?UTF-8?B?"), "{out}");
    }
}
