//! How fast one upstream may be used: its own [`Throttle`], or in a `[cluster]` the provider
//! account's limits shared in Redis (`crate::cluster`), with this relay's share of them as the
//! fallback while Redis cannot be reached. The units spent alone are written back when Redis
//! answers again. Same answers either way: a hold, a wait, or go. Names no other part of
//! delivery.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::SemaphorePermit;

use crate::cluster::shared::{LEASE_TTL, Take};
use crate::cluster::{self, Cluster, SharedLimits};
use crate::config::ProviderLimits;
use crate::throttle::quota::{Usage, WindowState};
use crate::throttle::signal::Signal;
use crate::throttle::{self, Hold, Pause, Throttle};

// One pacer per upstream, built once: the size of the common (local) case does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Pacer {
    Local(Throttle),
    Shared(Box<Shared>),
}

pub struct Shared {
    limits: Arc<SharedLimits>,
    cluster: Arc<Cluster>,
    /// Connections (and the lowering after a `432`) are still counted here, at the full limit.
    local: Throttle,
    /// This relay's share of every limit, built for `built_for` nodes.
    alone: RwLock<Arc<Throttle>>,
    built_for: AtomicUsize,
    /// What this relay spent in the longest window, to seed its share when Redis goes away.
    mine: Mutex<Vec<(i64, u32)>>,
    /// Spent while Redis was away: written back once it answers.
    pending: Mutex<Vec<(i64, u32)>>,
    written_epoch: AtomicU64,
}

/// A connection slot: the local one, and the shared lease (or the share's slot while alone).
pub struct Permit<'a> {
    local: SemaphorePermit<'a>,
    _alone: Option<tokio::sync::OwnedSemaphorePermit>,
    _lease: Option<Lease>,
}

/// A transaction allowed to go out; dropped when it ends.
// Held for what their drop does (the batch's end), never read.
#[allow(dead_code)]
pub enum Admitted {
    Local(throttle::Admitted),
    Shared(BatchTicket),
}

impl Pacer {
    pub fn new(limits: &ProviderLimits, account: &str, cluster: Option<&Arc<Cluster>>) -> Pacer {
        let Some(cluster) = cluster else {
            return Pacer::Local(Throttle::new(limits));
        };
        let nodes = cluster.nodes();
        let connections_only = ProviderLimits {
            rate: None,
            batch: None,
            quota: None,
            ..limits.clone()
        };
        Pacer::Shared(Box::new(Shared {
            limits: Arc::new(cluster.limits(account, limits.clone())),
            cluster: cluster.clone(),
            local: Throttle::new(&connections_only),
            alone: RwLock::new(Arc::new(Throttle::new(&cluster::share(limits, nodes)))),
            built_for: AtomicUsize::new(nodes),
            mine: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
            written_epoch: AtomicU64::new(0),
        }))
    }

    pub fn unlimited() -> Pacer {
        Pacer::Local(Throttle::unlimited())
    }

    /// Idle connections may stay open between messages (not when other relays count them).
    pub fn pools_connections(&self) -> bool {
        matches!(self, Pacer::Local(_))
    }

    /// The throttle that keeps connections and notices on this relay.
    pub fn local(&self) -> &Throttle {
        match self {
            Pacer::Local(t) => t,
            Pacer::Shared(s) => &s.local,
        }
    }

    /// A pause in force, or (alone) a full quota: mail waits until then.
    pub async fn hold(&self, now: i64) -> Option<Hold> {
        let s = match self {
            Pacer::Local(t) => return t.hold(now),
            Pacer::Shared(s) => s,
        };
        match s.limits.pause().await {
            Some(Some((until, reason))) if until > now => Some(Hold { until, reason }),
            Some(_) => None,
            None => s.alone().hold(now),
        }
    }

    pub async fn connection(&self) -> Permit<'_> {
        match self {
            Pacer::Local(t) => Permit {
                local: t.connection().await,
                _alone: None,
                _lease: None,
            },
            Pacer::Shared(s) => s.connection().await,
        }
    }

    /// Quota room for a transaction to `recipients` recipients: how many go, the units spent.
    pub async fn take(&self, now: i64, recipients: usize) -> Result<(usize, u32), Hold> {
        match self {
            Pacer::Local(t) => t.take(now, recipients),
            Pacer::Shared(s) => s.take(now, recipients).await,
        }
    }

    pub async fn admit(&self) -> Admitted {
        match self {
            Pacer::Local(t) => Admitted::Local(t.admit().await),
            Pacer::Shared(s) => s.admit().await,
        }
    }

    /// A provider's "slow down": the hold for this upstream's mail and the pause to persist.
    pub async fn back_off(
        &self,
        signal: Signal,
        reply: &str,
        now: i64,
        permit: Permit<'_>,
    ) -> (Hold, Option<Pause>) {
        match self {
            Pacer::Local(t) => t.back_off(signal, reply, now, permit.local),
            Pacer::Shared(s) => {
                if signal == Signal::Concurrency {
                    return s.local.back_off(signal, reply, now, permit.local);
                }
                let (hold, pause) = s.alone().back_off(signal, reply, now, permit.local);
                // Every node holds this account's mail: the provider counts the account.
                s.limits.set_pause(hold.until, &hold.reason).await;
                (hold, pause)
            }
        }
    }

    /// Catches up with the cluster: what was spent alone is written back once Redis answers.
    pub async fn sync(&self) {
        if let Pacer::Shared(s) = self {
            s.write_back().await;
        }
    }

    /// Usage and pause from the spool (at start, after a reset).
    pub fn load(&self, usage: Vec<(i64, u32)>, pause: Option<Pause>) {
        match self {
            Pacer::Local(t) => t.load(usage, pause),
            Pacer::Shared(s) => {
                s.local.load(Vec::new(), None);
                *lock(&s.mine) = usage.clone();
                s.alone().load(usage, pause);
            }
        }
    }

    /// The quota windows and pause now (shared ones in a cluster), for `/status`.
    pub async fn windows(&self, now: i64) -> (Vec<WindowState>, Option<i64>) {
        let s = match self {
            Pacer::Local(t) => return (t.windows(now), t.paused_until(now)),
            Pacer::Shared(s) => s,
        };
        let (Some(events), Some(pause)) = (s.limits.usage().await, s.limits.pause().await) else {
            let alone = s.alone();
            return (alone.windows(now), alone.paused_until(now));
        };
        let windows = match &s.limits.limits().quota {
            Some(q) => {
                let mut usage = Usage::new(q.clone());
                usage.load(events);
                usage.windows(now)
            }
            None => Vec::new(),
        };
        (windows, pause.map(|(until, _)| until).filter(|u| *u > now))
    }
}

impl Shared {
    /// The share for the nodes known now (rebuilt when that number changed).
    fn alone(&self) -> Arc<Throttle> {
        let nodes = self.cluster.nodes();
        if self.built_for.swap(nodes, Ordering::SeqCst) != nodes {
            let t = Throttle::new(&cluster::share(self.limits.limits(), nodes));
            t.load(lock(&self.mine).clone(), None);
            *self.alone.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
        }
        self.alone.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn connection(&self) -> Permit<'_> {
        let local = self.local.connection().await;
        loop {
            match self.limits.lease().await {
                Some(Ok(id)) => {
                    return Permit {
                        local,
                        _alone: None,
                        _lease: Some(Lease::hold(self.limits.clone(), id)),
                    };
                }
                Some(Err(wait)) => tokio::time::sleep(wait.min(Duration::from_millis(250))).await,
                None => {
                    let alone = self.alone().connection_owned().await;
                    return Permit {
                        local,
                        _alone: Some(alone),
                        _lease: None,
                    };
                }
            }
        }
    }

    async fn take(&self, now: i64, recipients: usize) -> Result<(usize, u32), Hold> {
        let alone = std::mem::take(&mut *lock(&self.pending));
        let taken = self.limits.take(recipients, &alone).await;
        if taken.is_none() {
            // Not counted there: still owed.
            lock(&self.pending).splice(0..0, alone);
        }
        match taken {
            Some(Take::Granted(n, units)) => {
                self.remember(now, units);
                Ok((n, units))
            }
            Some(Take::Full(events)) => {
                let q = self
                    .limits
                    .limits()
                    .quota
                    .clone()
                    .unwrap_or_else(unreachable_quota);
                let mut usage = Usage::new(q);
                usage.load(events);
                Err(throttle::full(&usage, now))
            }
            None => {
                let (n, units) = self.alone().take(now, recipients)?;
                self.remember(now, units);
                if units > 0 {
                    lock(&self.pending).push((now, units));
                }
                Ok((n, units))
            }
        }
    }

    fn remember(&self, now: i64, units: u32) {
        if units == 0 {
            return;
        }
        let longest = self
            .limits
            .limits()
            .quota
            .as_ref()
            .and_then(|q| q.windows.iter().map(|w| w.span).max())
            .unwrap_or_default()
            .as_millis() as i64;
        let mut mine = lock(&self.mine);
        mine.retain(|(t, _)| *t > now - longest);
        mine.push((now, units));
        // The share counts this spending too, should Redis go away next.
        drop(mine);
        self.alone().load(lock(&self.mine).clone(), None);
    }

    /// Once Redis is back, the units spent alone are counted there (once).
    async fn write_back(&self) {
        let epoch = self.limits.store().epoch();
        if self.written_epoch.load(Ordering::SeqCst) == epoch || !self.limits.store().is_up() {
            return;
        }
        let events = std::mem::take(&mut *lock(&self.pending));
        if self.limits.write_back(&events).await {
            self.written_epoch.store(epoch, Ordering::SeqCst);
        } else {
            lock(&self.pending).extend(events);
        }
    }

    async fn admit(&self) -> Admitted {
        let ticket = loop {
            match self.limits.batch_admit().await {
                Some(Ok(id)) => break id,
                Some(Err(wait)) => tokio::time::sleep(wait.min(Duration::from_secs(1))).await,
                None => return Admitted::Local(self.alone().admit().await),
            }
        };
        let ticket = BatchTicket {
            limits: self.limits.clone(),
            id: ticket,
        };
        loop {
            match self.limits.rate_wait().await {
                Some(w) if w.is_zero() => return Admitted::Shared(ticket),
                Some(w) => tokio::time::sleep(w).await,
                None => {
                    drop(self.alone().admit().await);
                    return Admitted::Shared(ticket);
                }
            }
        }
    }
}

/// A quota check is only asked for when a quota is configured.
fn unreachable_quota() -> crate::config::Quota {
    crate::config::Quota {
        count: crate::config::Count::Messages,
        windows: Vec::new(),
    }
}

/// A shared connection lease, renewed while held and released when dropped.
struct Lease {
    limits: Arc<SharedLimits>,
    id: String,
    renew: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn hold(limits: Arc<SharedLimits>, id: String) -> Lease {
        let (l, i) = (limits.clone(), id.clone());
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_TTL / 3).await;
                l.renew(&i).await;
            }
        });
        Lease { limits, id, renew }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (limits, id) = (self.limits.clone(), std::mem::take(&mut self.id));
        tokio::spawn(async move { limits.release(&id).await });
    }
}

/// An open shared batch ticket; its end is written when dropped.
pub struct BatchTicket {
    limits: Arc<SharedLimits>,
    id: String,
}

impl Drop for BatchTicket {
    fn drop(&mut self) {
        if self.id.is_empty() {
            return;
        }
        let (limits, id) = (self.limits.clone(), std::mem::take(&mut self.id));
        tokio::spawn(async move { limits.batch_end(&id).await });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
