//! The admin's view of the background service: `smarthost queue list|show|retry|delete|hold|
//! release`. Works on the spool beside a running relay and says so when none runs. Formats text
//! for the terminal; never delivers anything itself.

pub mod cluster;
mod limits;
pub mod send_test;
mod send_test_graph;
pub mod send_test_report;
pub mod sender_auth;
mod upstreams;
mod verdict;

use std::fmt::Write;

pub use limits::{LimitsCommand, limits};
pub use upstreams::{Format, Row, presets, rows, upstreams};

use crate::config::Config;
use crate::dsn;
use crate::spool::{Admin, QueueEntry, RcptState, SpoolError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCommand {
    List,
    Show(String),
    /// `None`: every message that is not held.
    Retry(Option<String>),
    Delete {
        id: String,
        silent: bool,
    },
    Hold(String),
    Release(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Spool(#[from] SpoolError),
    #[error("no message {0} in the queue")]
    NotFound(String),
    #[error("no SMTP upstream named {0} (configured: {1})")]
    NoUpstream(String, String),
}

const NOT_RUNNING: &str =
    "note: smarthost is not running on this spool; the change takes effect when it starts\n";

pub fn queue(config: &Config, cmd: &QueueCommand) -> Result<String, AdminError> {
    let mut admin = Admin::open(&config.spool.dir)?;
    let mut out = String::new();
    let found = |ok: bool, id: &str| {
        if ok {
            Ok(())
        } else {
            Err(AdminError::NotFound(id.to_string()))
        }
    };
    match cmd {
        QueueCommand::List => return Ok(list(&admin.list()?)),
        QueueCommand::Show(id) => return show(&admin, id),
        QueueCommand::Retry(id) => {
            let n = admin.retry_now(id.as_deref())?;
            if let Some(id) = id {
                found(n > 0, id)?;
            }
            let _ = writeln!(out, "{n} message(s) will be tried again now");
        }
        QueueCommand::Hold(id) => {
            found(admin.set_held(id, true)?, id)?;
            let _ = writeln!(out, "{id} held: it will not be delivered until released");
        }
        QueueCommand::Release(id) => {
            found(admin.set_held(id, false)?, id)?;
            let _ = writeln!(out, "{id} released");
        }
        QueueCommand::Delete { id, silent } => {
            let msg = admin
                .load(id)?
                .ok_or_else(|| AdminError::NotFound(id.clone()))?;
            let reply = "550 5.0.0 message deleted from the queue by the administrator";
            let failures: Vec<dsn::Failure> = msg
                .pending_indices()
                .into_iter()
                .map(|index| dsn::Failure {
                    index,
                    reply,
                    expired: false,
                })
                .collect();
            let now = chrono::Local::now().fixed_offset();
            let bounce = if *silent {
                None
            } else {
                dsn::failure_notice(&msg, &failures, &config.server.hostname, now)
            };
            found(admin.delete(id, bounce.as_ref())?, id)?;
            match &bounce {
                Some(b) => {
                    let _ = writeln!(
                        out,
                        "{id} deleted; bounce {} queued to <{}>",
                        b.id,
                        safe(&msg.envelope.mail_from)
                    );
                }
                None => {
                    let _ = writeln!(out, "{id} deleted without a bounce");
                }
            }
        }
    }
    if !admin.relay_running() {
        out.push_str(NOT_RUNNING);
    }
    Ok(out)
}

fn age(created: i64) -> String {
    let secs = (chrono::Utc::now().timestamp() - created).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn next(e: &QueueEntry) -> String {
    if e.held {
        return "held".into();
    }
    let secs = (e.next_attempt - crate::spool::now_ms()) / 1000;
    let when = if secs <= 0 {
        "now".into()
    } else {
        format!("in {secs}s")
    };
    match &e.limited_by {
        // Waiting for a quota or a provider's pause, not for a retry: `limits show` explains.
        Some(_) => format!("{when} (limit)"),
        None => when,
    }
}

/// Text from a client or an upstream, made safe for the operator's terminal: an ESC sequence
/// could clear the screen, and a newline could print a fake line (`route: ...`).
fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    crate::maillog::escape_controls(s)
}

fn state(s: &RcptState) -> String {
    let text = match s {
        RcptState::Pending { last_reply: None } => "pending".into(),
        RcptState::Pending {
            last_reply: Some(r),
        } => format!("deferred: {r}"),
        RcptState::Delivered { .. } => "delivered".into(),
        RcptState::Failed { reply } => format!("failed: {reply}"),
    };
    safe(&text).into_owned()
}

fn list(entries: &[QueueEntry]) -> String {
    if entries.is_empty() {
        return "queue is empty\n".into();
    }
    let mut out = format!(
        "{:<17} {:>5} {:>8} {:<10} sender / recipients\n",
        "id", "age", "attempts", "next"
    );
    for e in entries {
        let sender = if e.mail_from.is_empty() {
            "<>"
        } else {
            &e.mail_from
        };
        let _ = writeln!(
            out,
            "{:<17} {:>5} {:>8} {:<10} {}",
            e.id,
            age(e.created),
            e.attempts,
            next(e),
            safe(sender)
        );
        for (addr, s) in &e.rcpts {
            let _ = writeln!(out, "{:<44}  -> {}: {}", "", safe(addr), state(s));
        }
    }
    let _ = writeln!(out, "{} message(s)", entries.len());
    out
}

fn show(admin: &Admin, id: &str) -> Result<String, AdminError> {
    let entry = admin
        .list()?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| AdminError::NotFound(id.into()))?;
    let msg = admin
        .load(id)?
        .ok_or_else(|| AdminError::NotFound(id.into()))?;
    let mut out = list(std::slice::from_ref(&entry));
    let env = &msg.envelope;
    let _ = writeln!(
        out,
        "route: {}",
        safe(env.upstream.as_deref().unwrap_or("(default)"))
    );
    if let Some(r) = env.ret {
        let _ = writeln!(out, "RET: {r:?}");
    }
    if let Some(e) = &env.envid {
        let _ = writeln!(out, "ENVID: {}", safe(e));
    }
    let end = crate::policy::headers::header_end(&msg.body);
    let _ = writeln!(out, "size: {} bytes\n", msg.body.len());
    // Header lines one by one, each escaped: a value cannot end its line early.
    let headers = String::from_utf8_lossy(&msg.body[..end]);
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        let _ = writeln!(out, "{}", safe(line));
    }
    let _ = writeln!(out);
    Ok(out)
}

#[cfg(test)]
#[path = "admin/terminal_tests.rs"]
mod terminal_tests;
