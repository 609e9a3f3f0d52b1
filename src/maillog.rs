//! The mail log: one line per event in a fixed vocabulary, with the queue id and the client,
//! under the tracing target `maillog` (`--log-format json` gives one JSON object per line).
//! Never a message body, never a secret: only envelopes, replies and decisions.
//!
//! | event | when |
//! |---|---|
//! | `received` | a client finished sending a message (before policy) |
//! | `rejected` | the relay answered a client with a 4xx/5xx (the reply is the reason) |
//! | `dropped` | a recipient on the blacklist with `action = "drop"` |
//! | `redirected` | test mode replaced the recipients |
//! | `spf` | the sender domain does not fully authorize the upstream; relayed anyway (warn mode) |
//! | `queued` | the message is durable in the spool (the client got its 250) |
//! | `attempt` | a delivery attempt starts through an upstream |
//! | `delivered` | an upstream accepted a recipient |
//! | `deferred` | a recipient waits for the next attempt (`next` says when) |
//! | `held` | a limit or a provider pause holds the message (`next` says when it goes) |
//! | `bounced` | a recipient failed for good |
//! | `notice` | a bounce, delay or success notice was queued for the sender |

/// The events, for tests and documentation.
pub const EVENTS: &[&str] = &[
    RECEIVED, REJECTED, DROPPED, REDIRECTED, SPF, QUEUED, ATTEMPT, DELIVERED, DEFERRED, HELD,
    BOUNCED, NOTICE,
];

pub const RECEIVED: &str = "received";
pub const REJECTED: &str = "rejected";
pub const DROPPED: &str = "dropped";
pub const REDIRECTED: &str = "redirected";
pub const SPF: &str = "spf";
pub const QUEUED: &str = "queued";
pub const ATTEMPT: &str = "attempt";
pub const DELIVERED: &str = "delivered";
pub const DEFERRED: &str = "deferred";
pub const HELD: &str = "held";
pub const BOUNCED: &str = "bounced";
pub const NOTICE: &str = "notice";

/// `maillog!(DELIVERED, queue_id = %id, ...)`: one mail-log line for that event.
#[macro_export]
macro_rules! maillog {
    ($event:expr, $($fields:tt)*) => {
        tracing::info!(target: "maillog", event = %$event, $($fields)*)
    };
}

/// How the client is named in the log: the account when it logged in, else its address.
pub fn client(envelope: &crate::envelope::Envelope) -> &str {
    envelope.client.as_deref().unwrap_or("-")
}

/// Control characters escaped (`\n`, `\r`, `\u{1b}`...), everything else as is. Every field a
/// client or an upstream chose (an AUTH name, a reply, an address) goes through this before it
/// reaches a line-oriented log or a terminal, so it can never start a forged line or move the
/// cursor.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The field formatter of the human log format: like tracing's default (`message` first, then
/// `name=value`), but every value goes through [`escape_controls`]. The JSON format escapes by
/// itself.
pub fn human_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = escape_controls(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{name}={text}"),
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` under the human log format and returns what it wrote.
    fn human_log(f: impl FnOnce()) -> String {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(human_fields())
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_client_chosen_field_cannot_forge_a_second_human_log_line() {
        let name =
            "nobody\n2026-01-01T00:00:00Z  INFO maillog: event=delivered queue_id=FAKE\x1b[2J";
        let out = human_log(|| {
            crate::maillog!(REJECTED, client = %name, reply = %"535\r\nforged");
            tracing::warn!(client = %name, "failed login: {name}");
        });
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(!out.contains('\x1b') && !out.contains('\r'), "{out}");
        assert!(out.contains(r"client=nobody\n2026"), "{out}");
    }

    #[test]
    fn escape_controls_leaves_ordinary_text_alone() {
        assert_eq!(escape_controls("héllo <a@b.test>"), "héllo <a@b.test>");
        assert_eq!(escape_controls("a\r\nb\0\x07"), r"a\r\nb\u{0}\u{7}");
    }
}
