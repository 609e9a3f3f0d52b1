//! The notices a sender gets about its message (RFC 3464): the bounce for recipients that
//! failed, one delay warning, and "relayed" for NOTIFY=SUCCESS when the upstream could not
//! take the request on. Each is queued in the spool like any message before the outcome that
//! caused it is recorded, so a notice is never lost. The texts are `crate::dsn`'s; this file
//! decides only when a notice is owed. Names no other part of delivery.

use std::time::Duration;

use crate::dsn;
use crate::maillog;
use crate::outcome::NewFailure;
use crate::spool::{Progress, RcptState, Spool, StoredMessage, now_ms};

#[derive(Clone)]
pub struct Notices {
    spool: Spool,
    /// Our name in the notices' `Reporting-MTA`.
    hostname: String,
    delay_warning: Option<Duration>,
}

impl Notices {
    pub fn new(spool: Spool, hostname: String, delay_warning: Option<Duration>) -> Notices {
        Notices {
            spool,
            hostname,
            delay_warning,
        }
    }

    /// Queues the bounce for recipients that just failed, before their failure is recorded: if
    /// the bounce cannot be stored, they stay pending and are tried again.
    pub async fn bounce(
        &self,
        msg: &StoredMessage,
        progress: Progress,
        failed: &[NewFailure],
    ) -> Progress {
        if failed.is_empty() {
            return progress;
        }
        let failures: Vec<dsn::Failure> = failed
            .iter()
            .map(|f| dsn::Failure {
                index: f.index,
                reply: &f.reply,
                expired: f.expired,
            })
            .collect();
        let now = chrono::Local::now().fixed_offset();
        let Some(notice) = dsn::failure_notice(msg, &failures, &self.hostname, now) else {
            crate::maillog!(maillog::NOTICE, queue_id = %msg.id, kind = "Failed", notice_id = "none",
                reason = "null sender or NOTIFY excludes FAILURE");
            return progress;
        };
        let bounce_id = notice.id.clone();
        match self.spool.put(notice).await {
            Ok(()) => {
                crate::maillog!(maillog::NOTICE, queue_id = %msg.id, kind = "Failed", notice_id = %bounce_id, to = %msg.envelope.mail_from);
                progress
            }
            Err(e) => {
                tracing::error!(queue_id = %msg.id, "cannot queue the bounce ({e}); the recipients stay pending");
                let mut p = progress;
                for f in failed {
                    p.rcpts[f.index] = RcptState::Pending {
                        last_reply: Some(f.reply.clone()),
                    };
                }
                p
            }
        }
    }

    /// NOTIFY=SUCCESS for an upstream that could not take the request on: tell the sender that
    /// the message was relayed.
    pub async fn relayed(&self, msg: &StoredMessage, progress: &Progress) {
        let items: Vec<(usize, String)> = progress
            .rcpts
            .iter()
            .enumerate()
            .filter(|(i, _)| msg.rcpts[*i].is_pending())
            .filter_map(|(i, s)| match s {
                RcptState::Delivered { reply } => Some((i, reply.clone())),
                _ => None,
            })
            .collect();
        self.queue(dsn::Kind::Relayed, msg, &items).await;
    }

    /// One delay notice per message, once it has waited `delay_warning` and is still pending.
    pub async fn delay(&self, msg: &StoredMessage, mut progress: Progress) -> Progress {
        let Some(after) = self.delay_warning else {
            return progress;
        };
        let age_ms = now_ms().saturating_sub(msg.created.saturating_mul(1000));
        if progress.warned || age_ms < after.as_millis() as i64 {
            return progress;
        }
        let items: Vec<(usize, String)> = progress
            .rcpts
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                RcptState::Pending { last_reply } => {
                    Some((i, last_reply.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect();
        if items.is_empty() {
            return progress;
        }
        progress.warned = self.queue(dsn::Kind::Delayed, msg, &items).await;
        progress
    }

    /// Queues a notice of `kind` for `items` (recipient index, reply); true when nothing more is
    /// owed (queued, or none was asked for).
    async fn queue(&self, kind: dsn::Kind, msg: &StoredMessage, items: &[(usize, String)]) -> bool {
        if items.is_empty() {
            return true;
        }
        let list: Vec<dsn::Failure> = items
            .iter()
            .map(|(index, reply)| dsn::Failure {
                index: *index,
                reply,
                expired: false,
            })
            .collect();
        let now = chrono::Local::now().fixed_offset();
        let Some(notice) = dsn::notice(kind, msg, &list, &self.hostname, now) else {
            return true;
        };
        let notice_id = notice.id.clone();
        match self.spool.put(notice).await {
            Ok(()) => {
                crate::maillog!(maillog::NOTICE, queue_id = %msg.id, %notice_id, kind = ?kind, to = %msg.envelope.mail_from);
                true
            }
            Err(e) => {
                tracing::error!(queue_id = %msg.id, "cannot queue a {kind:?} notice: {e}");
                false
            }
        }
    }
}
