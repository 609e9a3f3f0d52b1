//! Pacing toward one upstream, everything its provider limits: concurrent connections, a GCRA
//! token bucket (`rate = "30/min"`, governor), Cresus' batches (`LIMITE:12 WAIT:15.5`), quotas
//! over rolling hour/day/week windows, and the back-off a provider asks for in its replies.
//! Short waits (rate, batch) happen in [`Throttle::admit`]; a closed quota or a pause is a
//! [`Hold`]: the mail waits in the queue until the given time, never refused, never lost.
//! Keeps state in memory only: the caller persists usage and pauses and reloads them.

pub mod batch;
pub mod quota;
pub mod signal;

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota as GcraQuota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::ProviderLimits;
use quota::Usage;
use signal::Signal;

/// A provider's "try again later": how long the upstream rests.
pub const THROTTLED_PAUSE: Duration = Duration::from_secs(5 * 60);
/// Quota exceeded at the provider with no quota configured here to tell when it frees.
pub const QUOTA_PAUSE_DEFAULT: Duration = Duration::from_secs(3600);
/// After a `432 4.3.2`, the mail tried again this soon (over fewer connections).
pub const CONCURRENCY_RETRY: Duration = Duration::from_secs(5);
/// A lowered connection count goes back up by one after this long without another `432`.
pub const CONCURRENCY_RESTORE: Duration = Duration::from_secs(600);

/// A transaction allowed to go out; dropped when it ends.
#[must_use = "drop it when the transaction ends"]
pub struct Admitted {
    _batch: Option<batch::Ticket>,
}

/// Mail for this upstream waits in the queue until `until` (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub until: i64,
    pub reason: String,
}

/// A pause the provider asked for, as persisted in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub until: i64,
    pub reason: String,
}

pub struct Throttle {
    rate: Option<DefaultDirectRateLimiter>,
    batch: Option<batch::Batches>,
    connections: std::sync::Arc<Semaphore>,
    configured_connections: usize,
    current_connections: AtomicUsize,
    lowered_at: Mutex<Option<Instant>>,
    quota: Option<Mutex<Usage>>,
    pause: Mutex<Option<Pause>>,
    /// The end of the last hold the log was told about.
    noticed: Mutex<i64>,
}

impl Throttle {
    pub fn new(cfg: &ProviderLimits) -> Throttle {
        let rate = cfg.rate.and_then(|r| {
            // Smooth pacing (burst 1): providers count bursts against you.
            GcraQuota::with_period(r.per / r.count)
                .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
        });
        Throttle {
            rate,
            batch: cfg.batch.map(batch::Batches::new),
            connections: std::sync::Arc::new(Semaphore::new(cfg.max_connections)),
            configured_connections: cfg.max_connections,
            current_connections: AtomicUsize::new(cfg.max_connections),
            lowered_at: Mutex::new(None),
            quota: cfg.quota.clone().map(|q| Mutex::new(Usage::new(q))),
            pause: Mutex::new(None),
            noticed: Mutex::new(0),
        }
    }

    /// No limits at all (the file target): every call grants at once.
    pub fn unlimited() -> Throttle {
        Throttle {
            rate: None,
            batch: None,
            connections: std::sync::Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            configured_connections: Semaphore::MAX_PERMITS,
            current_connections: AtomicUsize::new(Semaphore::MAX_PERMITS),
            lowered_at: Mutex::new(None),
            quota: None,
            pause: Mutex::new(None),
            noticed: Mutex::new(0),
        }
    }

    /// A connection slot; held for as long as the connection is in use.
    pub async fn connection(&self) -> SemaphorePermit<'_> {
        self.connections
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// A connection slot that may outlive this borrow (a cluster node's share while alone).
    pub async fn connection_owned(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.connections
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Connections allowed now (lower than configured after a `432 4.3.2`).
    pub fn connection_limit(&self) -> usize {
        self.current_connections.load(Ordering::SeqCst)
    }

    /// Whether mail must wait now, and until when: a pause, or a quota with no room left.
    pub fn hold(&self, now: i64) -> Option<Hold> {
        if let Some(p) = lock(&self.pause).as_ref().filter(|p| p.until > now) {
            return Some(Hold {
                until: p.until,
                reason: p.reason.clone(),
            });
        }
        let usage = lock(self.quota.as_ref()?);
        (usage.room(now) == 0).then(|| full(&usage, now))
    }

    /// Takes quota room for one transaction to `recipients` recipients: how many may go now
    /// and the units to persist; a [`Hold`] when none may.
    pub fn take(&self, now: i64, recipients: usize) -> Result<(usize, u32), Hold> {
        if let Some(h) = self.hold(now) {
            return Err(h);
        }
        let Some(q) = &self.quota else {
            return Ok((recipients, 0));
        };
        let mut usage = lock(q);
        match usage.take(now, recipients) {
            (0, _) => Err(full(&usage, now)),
            granted => Ok(granted),
        }
    }

    /// Waits until one more transaction may go out (batch rest, then the token bucket). Keep
    /// the result until the transaction ends: a batch's rest runs from its last transaction's end.
    pub async fn admit(&self) -> Admitted {
        let ticket = match &self.batch {
            Some(b) => Some(b.admit().await),
            None => None,
        };
        if let Some(limiter) = &self.rate {
            limiter.until_ready().await;
        }
        Admitted { _batch: ticket }
    }

    /// Reacts to a provider's "slow down" reply. `permit` is the connection slot of the
    /// transaction that got it: for a concurrency reply it is given up for good (one connection
    /// fewer). Returns the hold for this upstream's mail and the pause to persist, if any.
    pub fn back_off(
        &self,
        signal: Signal,
        reply: &str,
        now: i64,
        permit: SemaphorePermit<'_>,
    ) -> (Hold, Option<Pause>) {
        match signal {
            Signal::Concurrency => {
                let lowered = self.current_connections.fetch_update(
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                    |n| (n > 1).then(|| n - 1),
                );
                if let Ok(was) = lowered {
                    permit.forget();
                    tracing::warn!(
                        "upstream asked for fewer connections ({reply}); now at most {}",
                        was - 1
                    );
                }
                *lock(&self.lowered_at) = Some(Instant::now());
                let hold = Hold {
                    until: now + CONCURRENCY_RETRY.as_millis() as i64,
                    reason: format!("too many connections, tried again shortly: {reply}"),
                };
                (hold, None)
            }
            Signal::QuotaExceeded | Signal::Throttled | Signal::RestFor(_) => {
                let until = match signal {
                    Signal::Throttled => now + THROTTLED_PAUSE.as_millis() as i64,
                    Signal::RestFor(d) => now + d.as_millis() as i64,
                    _ => self.window_frees(now),
                };
                let pause = Pause {
                    until,
                    reason: format!("paused by the provider until {}: {reply}", local(until)),
                };
                *lock(&self.pause) = Some(pause.clone());
                let hold = Hold {
                    until,
                    reason: pause.reason.clone(),
                };
                (hold, Some(pause))
            }
        }
    }

    /// When the provider's own window should have room again: once the oldest unit counted in
    /// the longest window here leaves it (the whole window if nothing was counted).
    fn window_frees(&self, now: i64) -> i64 {
        let Some(q) = &self.quota else {
            return now + QUOTA_PAUSE_DEFAULT.as_millis() as i64;
        };
        lock(q).oldest_leaves(now)
    }

    /// Puts back one connection after [`CONCURRENCY_RESTORE`] without a concurrency reply.
    pub fn restore_connections(&self) {
        let mut at = lock(&self.lowered_at);
        if at.is_some_and(|t| t.elapsed() >= CONCURRENCY_RESTORE)
            && self.current_connections.load(Ordering::SeqCst) < self.configured_connections
        {
            self.current_connections.fetch_add(1, Ordering::SeqCst);
            self.connections.add_permits(1);
            *at = Some(Instant::now());
        }
    }

    /// Replaces usage and pause with what the spool holds (at start, after a manual reset, which
    /// also gives back every connection a `432` took).
    pub fn load(&self, usage: Vec<(i64, u32)>, pause: Option<Pause>) {
        if let Some(q) = &self.quota {
            lock(q).load(usage);
        }
        *lock(&self.pause) = pause;
        let current = self
            .current_connections
            .swap(self.configured_connections, Ordering::SeqCst);
        self.connections
            .add_permits(self.configured_connections.saturating_sub(current));
        *lock(&self.lowered_at) = None;
    }

    /// True the first time a hold ending at `until` is reported (one log line per hold).
    pub fn first_notice(&self, until: i64) -> bool {
        let mut noticed = lock(&self.noticed);
        let first = *noticed != until;
        *noticed = until;
        first
    }

    /// Each quota window's use at `now` (empty without quotas).
    pub fn windows(&self, now: i64) -> Vec<quota::WindowState> {
        self.quota
            .as_ref()
            .map(|q| lock(q).windows(now))
            .unwrap_or_default()
    }

    /// The end of the provider's pause in force at `now`, if any.
    pub fn paused_until(&self, now: i64) -> Option<i64> {
        lock(&self.pause)
            .as_ref()
            .filter(|p| p.until > now)
            .map(|p| p.until)
    }

    pub fn has_quota(&self) -> bool {
        self.quota.is_some()
    }
}

/// The hold for a full quota: until one more unit fits, with the window that stops it.
pub fn full(usage: &Usage, now: i64) -> Hold {
    let until = usage.free_at(now).unwrap_or(now);
    let reason = match usage.blocking(now) {
        Some(w) => format!(
            "{} limit reached ({} of {} {}); next at {}",
            w.window,
            w.used,
            w.limit,
            usage.count(),
            local(until)
        ),
        None => format!("limit reached; next at {}", local(until)),
    };
    Hold { until, reason }
}

/// Unix ms as local time, for admins.
pub fn local(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
