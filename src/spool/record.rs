//! What the spool keeps per message besides the bytes: the envelope and, per recipient, where
//! delivery stands. Serialised as versioned JSON so a human can read it with `sqlite3`.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;

pub const FORMAT_VERSION: u32 = 1;

/// Envelope as stored, with its format version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    pub v: u32,
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// Where one recipient stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RcptState {
    /// Not yet delivered; `last_reply` holds the latest temporary failure, if any.
    Pending {
        last_reply: Option<String>,
    },
    Delivered {
        reply: String,
    },
    /// Permanently refused. Kept until a bounce is sent (a later stage); never silently dropped.
    Failed {
        reply: String,
    },
}

impl RcptState {
    pub fn is_pending(&self) -> bool {
        matches!(self, RcptState::Pending { .. })
    }
}

/// A message read back from the spool.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub envelope: Envelope,
    pub rcpts: Vec<RcptState>,
    pub body: std::sync::Arc<Vec<u8>>,
    pub attempts: u32,
    /// The sender was already told the message is delayed.
    pub warned: bool,
}

impl StoredMessage {
    pub fn pending_indices(&self) -> Vec<usize> {
        self.rcpts
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_pending())
            .map(|(i, _)| i)
            .collect()
    }

    pub fn is_finished(&self) -> bool {
        !self.rcpts.iter().any(RcptState::is_pending)
    }
}

/// One line per message for `queue list`-style views and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: String,
    pub mail_from: String,
    pub rcpts: Vec<(String, RcptState)>,
    pub attempts: u32,
    /// Unix milliseconds.
    pub next_attempt: i64,
    /// Held by an operator: not delivered until released.
    pub held: bool,
    /// Unix seconds.
    pub created: i64,
    /// Waiting for this upstream's limits (quota, provider pause) rather than for a retry.
    pub limited_by: Option<String>,
    /// The upstream routing chose at acceptance; `None`: the default one.
    pub upstream: Option<String>,
}
