//! Delivery: takes messages from the spool as they become durable (and, every second, those
//! whose retry time has come), routes each to an upstream, sends it over a pooled connection and
//! writes the outcome back. Owns the upstream connection pools and the set of messages in flight.
//! Never accepts mail and never deletes a message itself (the spool does, once delivered).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::config::{Config, Transport};
use crate::dsn;
use crate::maillog;
use crate::outcome;
use crate::spool::{LimitOp, Progress, RcptState};
use crate::spool::{Spool, StoredMessage, now_ms};
use crate::throttle::{self, Hold, Throttle, signal};
use crate::upstream::client::Conn;
use crate::upstream::connect::Endpoint;
use crate::upstream::error::UpstreamError;
use crate::upstream::{self, RcptResult};

/// An idle upstream connection is closed after this long.
const IDLE_CLOSE: Duration = Duration::from_secs(5);
const SCAN_EVERY: Duration = Duration::from_secs(1);
const SCAN_BATCH: usize = 1000;

enum Target {
    Smtp(Box<Pool>),
    File(PathBuf),
}

struct Pool {
    endpoint: Endpoint,
    throttle: Throttle,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

pub struct Delivery {
    config: Arc<Config>,
    spool: Spool,
    metrics: Arc<crate::metrics::Metrics>,
    targets: HashMap<String, Arc<Target>>,
    inflight: Mutex<HashSet<String>>,
    /// When each recent attempt ended: a scan that read the spool before that moment holds a
    /// stale copy of the message and must not dispatch it again.
    finished: Mutex<HashMap<String, Instant>>,
}

impl Delivery {
    pub fn new(
        config: Arc<Config>,
        spool: Spool,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Arc<Delivery>, UpstreamError> {
        let mut targets = HashMap::new();
        for u in &config.upstreams {
            let t = match &u.transport {
                Transport::Smtp(s) => Target::Smtp(Box::new(Pool {
                    endpoint: Endpoint::new(
                        &u.name,
                        s.clone(),
                        &config.server.hostname,
                        &config.spool.dir,
                    )?,
                    throttle: Throttle::new(s),
                    idle: Mutex::new(Vec::new()),
                })),
                Transport::File { dir } => Target::File(dir.clone()),
            };
            targets.insert(u.name.clone(), Arc::new(t));
        }
        Ok(Arc::new(Delivery {
            config,
            spool,
            metrics,
            targets,
            inflight: Mutex::new(HashSet::new()),
            finished: Mutex::new(HashMap::new()),
        }))
    }

    /// Runs until `shutdown` flips; messages in flight finish on their own tasks.
    pub async fn run(
        self: Arc<Self>,
        mut fresh: mpsc::UnboundedReceiver<StoredMessage>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(SCAN_EVERY);
        let mut first_scan = true;
        if let Err(e) = self.spool.prune_limits().await {
            tracing::error!("cannot prune old limit usage: {e}");
        }
        let mut reset_mark = self.spool.limit_reset_mark().await.unwrap_or(0);
        self.load_limits().await;
        loop {
            tokio::select! {
                Some(msg) = fresh.recv() => self.dispatch(msg, None),
                _ = tick.tick() => {
                    // The first scan after start also picks up messages that were accepted but
                    // never attempted (the previous process died in between).
                    let unattempted = std::mem::replace(&mut first_scan, false);
                    let read_at = Instant::now();
                    let due = self.spool.due(now_ms(), SCAN_BATCH, unattempted).await;
                    // After reading what is due: mail a reset released is then dispatched only
                    // once the counters are reloaded, so it is not held again by stale ones.
                    self.follow_resets(&mut reset_mark).await;
                    match due {
                        Ok(msgs) => msgs.into_iter().for_each(|m| self.dispatch(m, Some(read_at))),
                        Err(e) => tracing::error!("cannot read the spool: {e}"),
                    }
                    // Every end recorded so far is older than the next scan's read: forget them.
                    self.finished.lock().unwrap_or_else(|p| p.into_inner()).clear();
                    self.close_idle().await;
                    self.restore_connections();
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Starts an attempt unless one is running; `read_at`: when a scan read this copy.
    fn dispatch(self: &Arc<Self>, msg: StoredMessage, read_at: Option<Instant>) {
        if msg.is_finished() {
            return;
        }
        {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            let finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            // An attempt that ended after the scan read the row: the copy is stale (the row
            // may be gone already), and sending it again would deliver twice.
            let stale = read_at.is_some_and(|r| finished.get(&msg.id).is_some_and(|f| *f >= r));
            if stale || !inflight.insert(msg.id.clone()) {
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            let id = msg.id.clone();
            this.attempt(msg).await;
            let mut inflight = this.inflight.lock().unwrap_or_else(|p| p.into_inner());
            this.finished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), Instant::now());
            inflight.remove(&id);
        });
    }

    async fn attempt(&self, msg: StoredMessage) {
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
        let mut result = self.try_upstream(&up.name, &msg, &pending).await;
        if let (Err(e), Some(fallback)) = (&result, &up.fallback)
            && e.is_unreachable()
        {
            tracing::warn!(queue_id = %msg.id, upstream = %up.name, %fallback, "unreachable ({e}); trying the fallback");
            via = fallback.clone();
            result = self.try_upstream(fallback, &msg, &pending).await;
        }
        self.observe(&via, &result);
        let mut dsn_passed_on = false;
        let progress = match result {
            Ok(attempt) => {
                dsn_passed_on = attempt.dsn_passed_on;
                match &attempt.held {
                    Some(hold) => {
                        self.announce_hold(&via, &msg, hold);
                        outcome::hold(
                            &msg,
                            &attempt.results,
                            hold,
                            &via,
                            now_ms(),
                            &self.config.retry,
                        )
                    }
                    None => outcome::apply(&msg, &attempt.results, now_ms(), &self.config.retry),
                }
            }
            Err(e) => {
                if e.is_configuration_problem() {
                    tracing::error!(queue_id = %msg.id, upstream = %via, "configuration problem, mail stays queued: {e}");
                } else {
                    tracing::warn!(queue_id = %msg.id, upstream = %via, "deferred: {e}");
                }
                outcome::defer_all(&msg, &e.to_string(), now_ms(), &self.config.retry)
            }
        };
        let (progress, failed) = progress;
        log_results(&msg, &via, &progress);
        self.count_results(&msg, &via, &progress);
        let progress = self.bounce(&msg, progress, &failed).await;
        if !dsn_passed_on {
            self.report_relayed(&msg, &progress).await;
        }
        let progress = self.warn_delay(&msg, progress).await;
        if let Err(e) = self.spool.record(progress).await {
            tracing::error!(queue_id = %msg.id, "cannot record delivery result: {e}");
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
        for (i, state) in p.rcpts.iter().enumerate() {
            if msg.rcpts[i] == *state || !msg.rcpts[i].is_pending() {
                continue;
            }
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
        if let Some(Target::Smtp(pool)) = self.targets.get(upstream).map(|t| t.as_ref())
            && pool.throttle.first_notice(hold.until)
        {
            tracing::warn!(%upstream, "{}; mail waits in the queue", hold.reason);
        }
        crate::maillog!(maillog::HELD, queue_id = %msg.id, client = %maillog::client(&msg.envelope),
            %upstream, next = %throttle::local(hold.until), reason = %hold.reason);
    }

    /// NOTIFY=SUCCESS for an upstream that could not take the request on: tell the sender that
    /// the message was relayed.
    async fn report_relayed(&self, msg: &StoredMessage, progress: &Progress) {
        let items: Vec<(usize, String)> = progress
            .rcpts
            .iter()
            .enumerate()
            .filter(|(i, s)| msg.rcpts[*i].is_pending() && matches!(s, RcptState::Delivered { .. }))
            .map(|(i, s)| {
                (
                    i,
                    match s {
                        RcptState::Delivered { reply } => reply.clone(),
                        _ => String::new(),
                    },
                )
            })
            .collect();
        self.queue_notice(dsn::Kind::Relayed, msg, &items).await;
    }

    /// One delay notice per message, once it has waited `delay_warning` and is still pending.
    async fn warn_delay(&self, msg: &StoredMessage, mut progress: Progress) -> Progress {
        let Some(after) = self.config.retry.delay_warning else {
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
        progress.warned = self.queue_notice(dsn::Kind::Delayed, msg, &items).await;
        progress
    }

    /// Queues a notice of `kind` for `items` (recipient index, reply); true when nothing more is
    /// owed (queued, or none was asked for).
    async fn queue_notice(
        &self,
        kind: dsn::Kind,
        msg: &StoredMessage,
        items: &[(usize, String)],
    ) -> bool {
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
        let Some(notice) = dsn::notice(kind, msg, &list, &self.config.server.hostname, now) else {
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

    /// Queues the bounce for recipients that just failed, before their failure is recorded: if
    /// the bounce cannot be stored, they stay pending and are tried again.
    async fn bounce(
        &self,
        msg: &StoredMessage,
        progress: Progress,
        failed: &[outcome::NewFailure],
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
        let Some(notice) = dsn::failure_notice(msg, &failures, &self.config.server.hostname, now)
        else {
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
                    p.rcpts[f.index] = crate::spool::RcptState::Pending {
                        last_reply: Some(f.reply.clone()),
                    };
                }
                p
            }
        }
    }

    /// One attempt through the named upstream.
    async fn try_upstream(
        &self,
        name: &str,
        msg: &StoredMessage,
        pending: &[usize],
    ) -> Result<Attempt, UpstreamError> {
        let Some(target) = self.targets.get(name).cloned() else {
            return Err(UpstreamError::TlsConfig(format!(
                "no upstream named {name}"
            )));
        };
        match target.as_ref() {
            Target::File(dir) => {
                let path = write_file(dir, msg, pending).await.map_err(|e| {
                    UpstreamError::Local(format!("cannot write to {}: {e}", dir.display()))
                })?;
                let reply = format!("written to {}", path.display());
                let results = pending
                    .iter()
                    .map(|&i| (i, RcptResult::Delivered(reply.clone())))
                    .collect();
                Ok(Attempt {
                    results,
                    held: None,
                    dsn_passed_on: false,
                })
            }
            Target::Smtp(pool) => self.send_smtp(name, pool, msg, pending).await,
        }
    }

    async fn send_smtp(
        &self,
        name: &str,
        pool: &Pool,
        msg: &StoredMessage,
        pending: &[usize],
    ) -> Result<Attempt, UpstreamError> {
        let throttle = &pool.throttle;
        if let Some(hold) = throttle.hold(now_ms()) {
            return Ok(Attempt::held(Vec::new(), hold));
        }
        let permit = throttle.connection().await;
        // A connection idle past IDLE_CLOSE is not reused even if the sweep has not closed it
        // yet: the server may have dropped it, and its login may be stale (an expired token).
        let reused = {
            let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = None;
            while let Some((c, at)) = idle.pop() {
                if at.elapsed() <= IDLE_CLOSE {
                    found = Some((c, at));
                    break;
                }
                // Dropping it closes the socket; the sweep sends QUIT to the ones it finds.
                drop(c);
            }
            found
        };
        let (mut conn, mut reusable) = match reused {
            Some((c, _)) => (c, true),
            None => match pool.endpoint.open().await {
                Ok(c) => (c, false),
                Err(e) => return self.signalled(name, throttle, e, Vec::new(), permit).await,
            },
        };
        let notify = pool.endpoint.cfg.default_notify;
        // More recipients than the provider takes in one transaction: several transactions.
        let per = pool
            .endpoint
            .cfg
            .max_recipients_per_message
            .unwrap_or(pending.len())
            .max(1);
        let mut results = Vec::with_capacity(pending.len());
        let mut rest = pending;
        let mut held = None;
        while !rest.is_empty() {
            let (n, units) = match throttle.take(now_ms(), per.min(rest.len())) {
                Ok(granted) => granted,
                Err(hold) => {
                    held = Some(hold);
                    break;
                }
            };
            if units > 0 {
                self.persist(LimitOp::Usage {
                    upstream: name.to_string(),
                    at: now_ms(),
                    units,
                })
                .await;
            }
            let _admitted = throttle.admit().await;
            let (part, tail) = rest.split_at(n);
            let mut sent = upstream::send(&mut conn, &msg.envelope, part, &msg.body, notify).await;
            if reusable
                && matches!(
                    sent,
                    Err(UpstreamError::Io { .. } | UpstreamError::Closed { .. })
                )
            {
                // The server may have dropped an idle connection; one fresh try before deferring.
                conn = match pool.endpoint.open().await {
                    Ok(c) => c,
                    Err(e) => return self.signalled(name, throttle, e, results, permit).await,
                };
                sent = upstream::send(&mut conn, &msg.envelope, part, &msg.body, notify).await;
            }
            reusable = false;
            match sent {
                Ok(mut part_results) => {
                    if let Some((signal, reply)) = soften_signals(&mut part_results) {
                        results.extend(part_results);
                        let (hold, pause) = throttle.back_off(signal, &reply, now_ms(), permit);
                        self.persist_pause(name, pause).await;
                        // The provider may have closed it or count it against us; not reused.
                        drop(conn);
                        return Ok(Attempt::held(results, hold));
                    }
                    results.extend(part_results);
                }
                Err(e) if results.is_empty() => {
                    return self.signalled(name, throttle, e, results, permit).await;
                }
                Err(e) => {
                    // The first transactions went through; the rest wait for the next try.
                    results.extend(
                        rest.iter()
                            .map(|&i| (i, RcptResult::Deferred(e.to_string()))),
                    );
                    return Ok(Attempt {
                        results,
                        held: None,
                        dsn_passed_on: conn.caps.dsn,
                    });
                }
            }
            rest = tail;
        }
        let dsn_passed_on = conn.caps.dsn;
        pool.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((conn, Instant::now()));
        Ok(Attempt {
            results,
            held,
            dsn_passed_on,
        })
    }

    /// A failed connection or transaction: a provider's "slow down" (a `421 4.7.0` greeting, a
    /// `432 4.3.2` after AUTH) holds the mail and backs off; anything else is the caller's to
    /// retry or fall back from.
    async fn signalled(
        &self,
        name: &str,
        throttle: &Throttle,
        e: UpstreamError,
        results: Vec<(usize, RcptResult)>,
        permit: tokio::sync::SemaphorePermit<'_>,
    ) -> Result<Attempt, UpstreamError> {
        let reply = e.reply().map(|r| r.to_string());
        match reply
            .as_deref()
            .and_then(|r| signal::classify(r).map(|s| (s, r)))
        {
            Some((signal, reply)) => {
                let (hold, pause) = throttle.back_off(signal, reply, now_ms(), permit);
                self.persist_pause(name, pause).await;
                Ok(Attempt::held(results, hold))
            }
            None => Err(e),
        }
    }

    async fn persist_pause(&self, name: &str, pause: Option<throttle::Pause>) {
        if let Some(p) = pause {
            tracing::warn!(upstream = %name, "{}; mail waits in the queue", p.reason);
            self.persist(LimitOp::Pause {
                upstream: name.to_string(),
                until: p.until,
                reason: p.reason,
            })
            .await;
        }
    }

    /// Quota usage and pauses must survive a restart; if the spool cannot take them the mail
    /// still goes (counting is a courtesy to the provider, the queue is not at risk).
    async fn persist(&self, op: LimitOp) {
        if let Err(e) = self.spool.limit(op).await {
            tracing::error!("cannot record limit usage: {e}");
        }
    }

    /// Loads every upstream's usage and pauses from the spool (at start and after a manual
    /// reset).
    async fn load_limits(&self) {
        let now = now_ms();
        for (name, t) in &self.targets {
            let Target::Smtp(pool) = t.as_ref() else {
                continue;
            };
            match self
                .spool
                .limit_state(name, now - crate::spool::LIMITS_KEPT_MS, now)
                .await
            {
                Ok(state) => pool.throttle.load(
                    state.usage,
                    state
                        .pause
                        .map(|(until, reason)| throttle::Pause { until, reason }),
                ),
                Err(e) => tracing::error!(upstream = %name, "cannot read limit usage: {e}"),
            }
        }
    }

    /// Reloads the limits when `smarthost limits reset` left a new mark.
    async fn follow_resets(&self, seen: &mut i64) {
        match self.spool.limit_reset_mark().await {
            Ok(mark) if mark != *seen => {
                *seen = mark;
                tracing::info!("limits reset by the administrator; held mail goes out now");
                self.load_limits().await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!("cannot read the spool: {e}"),
        }
    }

    /// Connections lowered after a `432` come back one at a time.
    fn restore_connections(&self) {
        for t in self.targets.values() {
            if let Target::Smtp(pool) = t.as_ref() {
                pool.throttle.restore_connections();
            }
        }
    }

    /// Every SMTP upstream's connections, pause and quota windows now (for `/status`).
    pub fn limits_now(&self) -> Vec<UpstreamLimits> {
        let now = now_ms();
        let mut out: Vec<UpstreamLimits> = self
            .targets
            .iter()
            .filter_map(|(name, t)| match t.as_ref() {
                Target::Smtp(p) => Some(UpstreamLimits {
                    name: name.clone(),
                    connections: p.throttle.connection_limit(),
                    paused_until: p.throttle.paused_until(now),
                    windows: p.throttle.windows(now),
                }),
                Target::File(_) => None,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Connections allowed to `upstream` now (for status and tests).
    pub fn connection_limit(&self, upstream: &str) -> Option<usize> {
        match self.targets.get(upstream)?.as_ref() {
            Target::Smtp(p) => Some(p.throttle.connection_limit()),
            Target::File(_) => None,
        }
    }

    async fn close_idle(&self) {
        for t in self.targets.values() {
            let Target::Smtp(pool) = t.as_ref() else {
                continue;
            };
            let stale: Vec<Conn> = {
                let mut idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner());
                let (old, keep): (Vec<_>, Vec<_>) = idle
                    .drain(..)
                    .partition(|(_, at)| at.elapsed() > IDLE_CLOSE);
                *idle = keep;
                old.into_iter().map(|(c, _)| c).collect()
            };
            for c in stale {
                c.quit().await;
            }
        }
    }

    /// Waits until no delivery is in flight, at most `grace`; returns how many still were. Those
    /// stay in the spool and are tried again at the next start.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        loop {
            let n = self
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes every pooled connection politely (QUIT).
    pub async fn close_all(&self) {
        for t in self.targets.values() {
            let Target::Smtp(pool) = t.as_ref() else {
                continue;
            };
            let conns: Vec<Conn> = pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..)
                .map(|(c, _)| c)
                .collect();
            for c in conns {
                c.quit().await;
            }
        }
    }

    /// What AUTO detection found for an upstream (for logs, tests and `send-test`).
    pub fn detected(&self, upstream: &str) -> Option<crate::upstream::connect::Detected> {
        match self.targets.get(upstream)?.as_ref() {
            Target::Smtp(p) => p.endpoint.detected(),
            Target::File(_) => None,
        }
    }
}

/// File writes fsync; keep them off the async workers.
async fn write_file(
    dir: &std::path::Path,
    msg: &StoredMessage,
    pending: &[usize],
) -> std::io::Result<PathBuf> {
    let (dir, id, env, pending, body) = (
        dir.to_path_buf(),
        msg.id.clone(),
        msg.envelope.clone(),
        pending.to_vec(),
        msg.body.clone(),
    );
    tokio::task::spawn_blocking(move || upstream::file::write(&dir, &id, &env, &pending, &body))
        .await
        .map_err(std::io::Error::other)?
}

/// One upstream's limits as they stand.
pub struct UpstreamLimits {
    pub name: String,
    pub connections: usize,
    pub paused_until: Option<i64>,
    pub windows: Vec<throttle::quota::WindowState>,
}

/// What one attempt through one upstream gave.
struct Attempt {
    results: Vec<(usize, RcptResult)>,
    /// The upstream's limits stopped the attempt; recipients without a result wait until then.
    held: Option<Hold>,
    /// The upstream offered DSN, so NOTIFY went on to it and its own reports will follow.
    dsn_passed_on: bool,
}

impl Attempt {
    fn held(results: Vec<(usize, RcptResult)>, hold: Hold) -> Attempt {
        Attempt {
            results,
            held: Some(hold),
            dsn_passed_on: false,
        }
    }
}

/// A provider's "slow down" reply never fails a recipient, even as a 5xx: those results become
/// deferrals. Returns the first such signal and its reply.
fn soften_signals(results: &mut [(usize, RcptResult)]) -> Option<(signal::Signal, String)> {
    let mut found = None;
    for (_, r) in results.iter_mut() {
        let (RcptResult::Failed(reply) | RcptResult::Deferred(reply)) = r else {
            continue;
        };
        if let Some(s) = signal::classify(reply) {
            found.get_or_insert((s, reply.clone()));
            *r = RcptResult::Deferred(reply.clone());
        }
    }
    found
}

fn log_results(msg: &StoredMessage, upstream: &str, p: &crate::spool::Progress) {
    use crate::spool::RcptState;
    let client = maillog::client(&msg.envelope);
    for (i, state) in p.rcpts.iter().enumerate() {
        if msg.rcpts[i] == *state || !msg.rcpts[i].is_pending() {
            continue;
        }
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
