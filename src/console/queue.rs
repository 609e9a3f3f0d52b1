//! The queue as the console shows it: counts by state, filters, one message with its headers
//! and history, and the actions on it (the same as `smarthost queue`).

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::journal::JOURNAL;
use super::{Shared, fail};
use crate::admin::QueueCommand;
use crate::spool::{QueueEntry, RcptState, now_ms};

#[derive(Serialize)]
pub struct QueueCounts {
    pub messages: usize,
    pub waiting: usize,
    pub held: usize,
    pub deferred: usize,
    pub limited: usize,
    pub oldest_age_seconds: i64,
}

pub fn counts(q: &[QueueEntry]) -> QueueCounts {
    let now = now_ms() / 1000;
    let deferred = |e: &QueueEntry| {
        e.rcpts.iter().any(|(_, s)| {
            matches!(
                s,
                RcptState::Pending {
                    last_reply: Some(_)
                }
            )
        })
    };
    QueueCounts {
        messages: q.len(),
        held: q.iter().filter(|e| e.held).count(),
        limited: q.iter().filter(|e| e.limited_by.is_some()).count(),
        deferred: q.iter().filter(|e| !e.held && deferred(e)).count(),
        waiting: q
            .iter()
            .filter(|e| !e.held && e.limited_by.is_none())
            .count(),
        oldest_age_seconds: q.iter().map(|e| now - e.created).max().unwrap_or(0).max(0),
    }
}

#[derive(Deserialize, Default)]
pub struct QueueFilter {
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub recipient: String,
    /// `held`, `limited`, `deferred`, `waiting` or empty.
    #[serde(default)]
    pub state: String,
    /// An upstream's name, exactly (the default one for mail routed by default).
    #[serde(default)]
    pub upstream: String,
}

pub fn state_of(e: &QueueEntry) -> &'static str {
    if e.held {
        "held"
    } else if e.limited_by.is_some() {
        "limited"
    } else if e.rcpts.iter().any(|(_, s)| {
        matches!(
            s,
            RcptState::Pending {
                last_reply: Some(_)
            }
        )
    }) {
        "deferred"
    } else {
        "waiting"
    }
}

/// The entries `f` lets through, each naming its upstream (`default` for mail routed by default).
pub fn filtered(q: Vec<QueueEntry>, f: &QueueFilter, default: &str) -> Vec<QueueEntry> {
    let has = |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
    q.into_iter()
        .map(|mut e| {
            e.upstream.get_or_insert_with(|| default.to_string());
            e
        })
        .filter(|e| f.upstream.is_empty() || e.upstream.as_deref() == Some(f.upstream.as_str()))
        .filter(|e| f.sender.is_empty() || has(&e.mail_from, &f.sender))
        .filter(|e| f.recipient.is_empty() || e.rcpts.iter().any(|(r, _)| has(r, &f.recipient)))
        .filter(|e| f.state.is_empty() || state_of(e) == f.state)
        .collect()
}

pub fn entry_json(e: &QueueEntry) -> serde_json::Value {
    json!({
        "id": e.id,
        "from": e.mail_from,
        "state": state_of(e),
        "attempts": e.attempts,
        "next_attempt": crate::throttle::local(e.next_attempt),
        "limited_by": e.limited_by,
        "upstream": e.upstream,
        "age_seconds": (now_ms() / 1000 - e.created).max(0),
        "recipients": e.rcpts.iter().map(|(r, s)| json!({ "to": r, "state": rcpt_state(s) })).collect::<Vec<_>>(),
    })
}

/// The name of the upstream mail without a route goes to.
pub fn default_upstream(c: &Shared) -> String {
    let config = c.live.config();
    config
        .upstreams
        .iter()
        .find(|u| u.default)
        .or(config.upstreams.first())
        .map(|u| u.name.clone())
        .unwrap_or_default()
}

pub fn rcpt_state(s: &RcptState) -> String {
    match s {
        RcptState::Pending { last_reply: None } => "pending".into(),
        RcptState::Pending {
            last_reply: Some(r),
        } => format!("deferred: {r}"),
        RcptState::Delivered { reply } => format!("delivered: {reply}"),
        RcptState::Failed { reply } => format!("failed: {reply}"),
    }
}

/// One message: envelope, headers, and its history from the journal.
pub async fn message_value(c: &Shared, id: &str) -> Option<serde_json::Value> {
    let dir = c.live.config().spool.dir.clone();
    let id2 = id.to_string();
    let msg = tokio::task::spawn_blocking(move || {
        crate::spool::Admin::open(&dir)
            .ok()?
            .load(&id2)
            .ok()
            .flatten()
    })
    .await
    .ok()
    .flatten()?;
    let end = crate::policy::headers::header_end(&msg.body);
    let headers: Vec<_> = crate::policy::headers::fields(&msg.body[..end])
        .into_iter()
        .map(|f| json!({ "name": f.name, "value": crate::maillog::escape_controls(&f.value) }))
        .collect();
    let history: Vec<_> = JOURNAL
        .recent(id, 200)
        .into_iter()
        .map(|e| json!(e))
        .collect();
    Some(json!({
        "id": msg.id,
        "from": msg.envelope.mail_from,
        "upstream": msg.envelope.upstream,
        "client": msg.envelope.client,
        "attempts": msg.attempts,
        "recipients": msg.envelope.recipients.iter().zip(&msg.rcpts)
            .map(|(r, s)| json!({ "to": r.address, "state": rcpt_state(s) })).collect::<Vec<_>>(),
        "headers": headers,
        "history": history,
    }))
}

/// `retry`, `hold`, `release`, `delete` (with a bounce) or `delete-silent`.
pub async fn run_queue_action(c: &Shared, id: &str, action: &str) -> Result<String, Response> {
    let cmd = match action {
        "retry" => QueueCommand::Retry(Some(id.to_string())),
        "hold" => QueueCommand::Hold(id.to_string()),
        "release" => QueueCommand::Release(id.to_string()),
        "delete" => QueueCommand::Delete {
            id: id.to_string(),
            silent: false,
        },
        "delete-silent" => QueueCommand::Delete {
            id: id.to_string(),
            silent: true,
        },
        _ => return Err(fail(StatusCode::NOT_FOUND, "unknown action")),
    };
    let config = c.live.config();
    tokio::task::spawn_blocking(move || crate::admin::queue(&config, &cmd))
        .await
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .map_err(|e| fail(StatusCode::NOT_FOUND, e))
}
