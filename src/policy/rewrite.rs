//! Sender rewrite (envelope and `From:`), `Reply-To:` so answers reach the real person, removal
//! of a contradicting `Sender:`, and the optional read-receipt and importance headers. Pure
//! functions over the envelope and the raw header block.

use base64::Engine;

use super::headers::{self, Edits, Field};
use crate::config::{Importance, ReplyTo, RewriteConfig};
use crate::envelope::Envelope;

/// `Name <addr>` or `addr` split into the raw display name (encoded words kept as written) and
/// the address.
pub fn split_mailbox(value: &str) -> (Option<String>, String) {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(l), Some(r)) if l < r => {
            let name = value[..l].trim();
            let name = (!name.is_empty()).then(|| name.to_string());
            (name, value[l + 1..r].trim().to_string())
        }
        _ => (None, value.trim().to_string()),
    }
}

/// A display name ready for a header: RFC 2047 encoded when not ASCII (unless the message is
/// SMTPUTF8), quoted when it holds specials.
pub fn encode_display_name(name: &str, utf8_ok: bool) -> String {
    if !name.is_ascii() && !utf8_ok {
        return format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name)
        );
    }
    if name.chars().any(|c| "()<>[]:;@\\,.\"".contains(c)) {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    }
}

/// The display name the rewritten `From:` keeps: the first mailbox's, whatever else the field
/// lists (the new `From:` holds exactly one mailbox, or a client could keep a second sender
/// next to the rewrite address, and have it DKIM-signed). No name when the first one is itself
/// an address (it would show as the sender) or holds control characters.
fn kept_display_name(value: &str, utf8_ok: bool) -> Option<String> {
    let field = format!("From: {value}\r\n\r\n");
    let parsed = mail_parser::MessageParser::default().parse_headers(field.as_bytes())?;
    let from = parsed.from()?;
    let name = from.first()?.name()?;
    if name.contains('@') || name.chars().any(char::is_control) {
        return None;
    }
    // One plain mailbox: its name as written (encoded words kept), unfolded.
    if from.as_list().is_some_and(|l| l.len() == 1)
        && let Some(raw) = split_mailbox(value).0
    {
        return Some(raw.replace(['\r', '\n'], ""));
    }
    Some(encode_display_name(name, utf8_ok))
}

/// Rewrites sender, From, Reply-To and Sender according to `cfg`; adds receipt and importance.
pub fn rewrite(env: &mut Envelope, fields: &[Field], cfg: &RewriteConfig, edits: &mut Edits) {
    let original_from = headers::get(fields, "From").map(|f| f.value.clone());
    if let Some(new_from) = &cfg.from {
        // A bounce keeps its null sender: rewriting it would invite mail loops.
        if !env.is_null_sender() {
            env.mail_from = new_from.clone();
        }
        let kept_name = original_from
            .as_deref()
            .and_then(|v| kept_display_name(v, env.smtputf8));
        let name = match &cfg.from_name {
            Some(n) => Some(encode_display_name(n, env.smtputf8)),
            None => kept_name,
        };
        let value = match name {
            Some(n) => format!("{n} <{new_from}>"),
            None => format!("<{new_from}>"),
        };
        edits.set("From", value);
        if headers::get(fields, "Sender").is_some() {
            edits.remove("Sender");
        }
    }
    let reply_to = cfg.reply_to.clone().unwrap_or(if cfg.from.is_some() {
        ReplyTo::Original
    } else {
        ReplyTo::Keep
    });
    let has_reply_to = headers::get(fields, "Reply-To").is_some();
    let reply_target = match &reply_to {
        ReplyTo::Original if !has_reply_to && cfg.from.is_some() => {
            if let Some(orig) = &original_from {
                edits.set("Reply-To", orig.clone());
            }
            original_from.clone()
        }
        ReplyTo::Address(a) => {
            edits.set("Reply-To", a.clone());
            Some(a.clone())
        }
        _ => headers::get(fields, "Reply-To")
            .map(|f| f.value.clone())
            .or(original_from.clone()),
    };
    if cfg.read_receipt
        && let Some(target) = reply_target
    {
        edits.set("Disposition-Notification-To", target);
    }
    match cfg.importance {
        Some(Importance::High) => {
            edits
                .set("Importance", "high")
                .set("X-Priority", "1 (Highest)");
        }
        Some(Importance::Low) => {
            edits
                .set("Importance", "low")
                .set("X-Priority", "5 (Lowest)");
        }
        None => {}
    }
}

#[cfg(test)]
#[path = "from_list_tests.rs"]
mod from_list_tests;
