//! One attempt of one message: route it, send it through its upstream (or the fallback when
//! that is unreachable), turn the replies into the outcome (`crate::outcome`), queue the
//! notices the outcome owes, and record it in the spool. The only place that decides what
//! becomes of a message after an attempt.

use std::sync::Arc;

use super::limits::LimitBook;
use super::notices::Notices;
use super::target::Targets;
use super::transactions::{self, Attempt};
use crate::config::Config;
use crate::maillog;
use crate::metrics::Metrics;
use crate::outcome;
use crate::spool::{Progress, RcptState, Spool, StoredMessage, now_ms};
use crate::throttle::{self, Hold};
use crate::upstream::error::UpstreamError;

pub struct Attempts {
    pub config: Arc<Config>,
    pub spool: Spool,
    pub metrics: Arc<Metrics>,
    pub targets: Arc<Targets>,
    pub book: LimitBook,
    pub notices: Notices,
}

impl Attempts {
    pub async fn run(&self, msg: StoredMessage) {
        let Some(up) = crate::router::route_stored(
            msg.envelope.upstream.as_deref(),
            &msg.envelope.mail_from,
            &self.config.upstreams,
        ) else {
            tracing::error!(queue_id = %msg.id, "no upstream to route to; message stays queued");
            return;
        };
        let pending = msg.pending_indices();
        crate::maillog!(maillog::ATTEMPT, queue_id = %msg.id, client = %maillog::client(&msg.envelope),
            upstream = %up.name, rcpts = pending.len(), attempt = msg.attempts + 1);
        let mut via = up.name.clone();
        let mut result = self.through(&up.name, &msg, &pending).await;
        if let (Err(e), Some(fallback)) = (&result, &up.fallback)
            && e.is_unreachable()
        {
            tracing::warn!(queue_id = %msg.id, upstream = %up.name, %fallback, "unreachable ({e}); trying the fallback");
            via = fallback.clone();
            result = self.through(fallback, &msg, &pending).await;
        }
        self.observe(&via, &result);
        let dsn_passed_on = result.as_ref().is_ok_and(|a| a.dsn_passed_on);
        let (progress, failed) = self.outcome(&via, &msg, result);
        log_results(&msg, &via, &progress);
        self.count_results(&msg, &via, &progress);
        let progress = self.notices.bounce(&msg, progress, &failed).await;
        if !dsn_passed_on {
            self.notices.relayed(&msg, &progress).await;
        }
        let progress = self.notices.delay(&msg, progress).await;
        if let Err(e) = self.spool.record(progress).await {
            tracing::error!(queue_id = %msg.id, "cannot record delivery result: {e}");
        }
    }

    /// One attempt through the named upstream.
    async fn through(
        &self,
        name: &str,
        msg: &StoredMessage,
        pending: &[usize],
    ) -> Result<Attempt, UpstreamError> {
        let Some(target) = self.targets.get(name) else {
            return Err(UpstreamError::TlsConfig(format!(
                "no upstream named {name}"
            )));
        };
        transactions::send(target, &self.book, msg, pending).await
    }

    /// The new record of each recipient, and those that just failed (for the bounce).
    fn outcome(
        &self,
        via: &str,
        msg: &StoredMessage,
        result: Result<Attempt, UpstreamError>,
    ) -> (Progress, Vec<outcome::NewFailure>) {
        let retry = &self.config.retry;
        match result {
            Ok(Attempt {
                results,
                held: Some(hold),
                ..
            }) => {
                self.announce_hold(via, msg, &hold);
                outcome::hold(msg, &results, &hold, via, now_ms(), retry)
            }
            Ok(attempt) => outcome::apply(msg, &attempt.results, now_ms(), retry),
            Err(e) => {
                if e.is_configuration_problem() {
                    tracing::error!(queue_id = %msg.id, upstream = %via, "configuration problem, mail stays queued: {e}");
                } else {
                    tracing::warn!(queue_id = %msg.id, upstream = %via, "deferred: {e}");
                }
                outcome::defer_all(msg, &e.to_string(), now_ms(), retry)
            }
        }
    }

    /// Upstream health and failure counters from one attempt.
    fn observe(&self, upstream: &str, result: &Result<Attempt, UpstreamError>) {
        match result {
            Ok(a) if a.results.is_empty() && a.held.is_some() => {}
            Ok(_) => self.metrics.upstream_result(upstream, Ok(())),
            Err(e) => self.metrics.upstream_result(
                upstream,
                Err((crate::metrics::failure_kind(e), e.to_string())),
            ),
        }
    }

    fn count_results(&self, msg: &StoredMessage, upstream: &str, p: &Progress) {
        let age = (now_ms() - msg.created * 1000).max(0) as f64 / 1000.0;
        for (_, state) in changed(msg, p) {
            let outcome = match state {
                RcptState::Delivered { .. } => {
                    self.metrics.delivered_after(upstream, age);
                    maillog::DELIVERED
                }
                RcptState::Failed { .. } => maillog::BOUNCED,
                RcptState::Pending { .. } if p.limited_by.is_some() => maillog::HELD,
                RcptState::Pending { .. } => maillog::DEFERRED,
            };
            self.metrics.count(outcome, upstream, 1);
        }
    }

    /// The log says once per hold why mail waits and when the next message goes; each held
    /// message gets its own line in the mail log.
    fn announce_hold(&self, upstream: &str, msg: &StoredMessage, hold: &Hold) {
        if let Some(t) = self.targets.get(upstream)
            && t.transport.is_limited()
            && t.pacer.local().first_notice(hold.until)
        {
            tracing::warn!(%upstream, "{}; mail waits in the queue", hold.reason);
        }
        crate::maillog!(maillog::HELD, queue_id = %msg.id, client = %maillog::client(&msg.envelope),
            %upstream, next = %throttle::local(hold.until), reason = %hold.reason);
    }
}

/// The recipients whose state this attempt changed, from pending.
/// The recipients this attempt is news about: those whose state changed, and, as Postfix logs
/// every `status=deferred`, those an upstream deferred again with the same reply (a "Retry
/// now" must show its outcome). Mail held by limits was not attempted: no news for it.
fn changed<'a>(
    msg: &'a StoredMessage,
    p: &'a Progress,
) -> impl Iterator<Item = (usize, &'a RcptState)> {
    let attempted = p.limited_by.is_none();
    p.rcpts.iter().enumerate().filter(move |(i, state)| {
        msg.rcpts[*i].is_pending() && (msg.rcpts[*i] != **state || attempted)
    })
}

fn log_results(msg: &StoredMessage, upstream: &str, p: &Progress) {
    let client = maillog::client(&msg.envelope);
    for (i, state) in changed(msg, p) {
        let rcpt = &msg.envelope.recipients[i].address;
        match state {
            RcptState::Delivered { reply } => {
                crate::maillog!(maillog::DELIVERED, queue_id = %msg.id, %client, %upstream, %rcpt, %reply)
            }
            RcptState::Failed { reply } => {
                crate::maillog!(maillog::BOUNCED, queue_id = %msg.id, %client, %upstream, %rcpt, %reply)
            }
            RcptState::Pending { last_reply } => crate::maillog!(
                maillog::DEFERRED, queue_id = %msg.id, %client, %upstream, %rcpt,
                reply = %last_reply.as_deref().unwrap_or(""), next = %throttle::local(p.next_attempt)
            ),
        }
    }
}
