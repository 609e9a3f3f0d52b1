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
