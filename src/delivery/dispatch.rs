//! The dispatch loop: takes messages from the spool as they become durable (and, every second,
//! those whose retry time has come), starts one attempt per message on its own task, and keeps
//! the set in flight so a message is never attempted twice at once. Also the relay's handle on
//! delivery: status, drain and close at shutdown. Never sends, never decides an outcome.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::attempt::Attempts;
use super::limits::LimitBook;
use super::notices::Notices;
use super::target::{Targets, UpstreamLimits};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::spool::{Spool, StoredMessage, now_ms};
use crate::upstream::connect::Detected;
use crate::upstream::error::UpstreamError;

/// One node of a `[cluster]` as `/status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterState {
    pub node: String,
    /// The provider limits are shared through Redis now (false: this node keeps to its share).
    pub shared: bool,
    /// Nodes the limits are divided by while Redis is away.
    pub nodes: usize,
}

const SCAN_EVERY: Duration = Duration::from_secs(1);
const SCAN_BATCH: usize = 1000;

pub struct Delivery {
    /// `[cluster]`: the provider limits shared with other relays.
    cluster: Option<Arc<Cluster>>,
    /// Replaced whole on a reload; an attempt in flight keeps the one it started with.
    attempts: arc_swap::ArcSwap<Attempts>,
    inflight: Mutex<HashSet<String>>,
    /// When each recent attempt ended: a scan that read the spool before that moment holds a
    /// stale copy of the message and must not dispatch it again.
    finished: Mutex<HashMap<String, Instant>>,
}

impl Delivery {
    pub fn new(
        config: Arc<Config>,
        spool: Spool,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Delivery>, UpstreamError> {
        let cluster = config.cluster.as_ref().map(|c| Arc::new(Cluster::new(c)));
        let targets = Arc::new(Targets::new(&config, cluster.as_ref())?);
        let notices = Notices::new(
            spool.clone(),
            config.server.hostname.clone(),
            config.retry.delay_warning,
        );
        let attempts = Attempts {
            book: LimitBook::new(spool.clone()),
            notices,
            config,
            spool,
            metrics,
            targets,
        };
        Ok(Arc::new(Delivery {
            cluster,
            attempts: arc_swap::ArcSwap::from_pointee(attempts),
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
        let attempts = self.attempts.load_full();
        let book = &attempts.book;
        book.prune().await;
        let mut reset_mark = book.reset_mark().await.unwrap_or(0);
        self.load_limits().await;
        let mut cluster_reset = None;
        let mut heartbeat = tokio::time::interval(crate::cluster::members::HEARTBEAT_EVERY);
        loop {
            tokio::select! {
                Some(msg) = fresh.recv() => self.dispatch(msg, None),
                _ = tick.tick() => {
                    // The first scan after start also picks up messages that were accepted but
                    // never attempted (the previous process died in between).
                    let unattempted = std::mem::replace(&mut first_scan, false);
                    self.scan(unattempted, &mut reset_mark).await;
                }
                _ = heartbeat.tick(), if self.cluster.is_some() => {
                    self.beat().await;
                    self.follow_cluster_resets(&mut cluster_reset).await;
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// This node's heartbeat, with its queue.
    async fn beat(&self) {
        let Some(cluster) = &self.cluster else { return };
        let queued = self
            .attempts
            .load()
            .spool
            .queue_stats()
            .await
            .map(|(n, _)| n)
            .unwrap_or(0);
        cluster.heartbeat(queued, 0).await;
        for t in self.attempts.load().targets.limited() {
            t.pacer.sync().await;
        }
    }

    /// A `limits reset` on any node: release this node's mail held for those accounts (as a
    /// local `limits reset` does; the reset mark then reloads the counters).
    async fn follow_cluster_resets(&self, seen: &mut Option<i64>) {
        let Some(cluster) = &self.cluster else { return };
        let Some((seq, which)) = crate::cluster::members::last_reset(&cluster.store).await else {
            return;
        };
        if seen.replace(seq).is_none_or(|s| s == seq) {
            return;
        }
        let names: Vec<String> = self
            .attempts
            .load()
            .targets
            .limited()
            .filter(|t| which.as_ref().is_none_or(|w| w.contains(&t.account)))
            .map(|t| t.name.clone())
            .collect();
        tracing::info!(
            "limits reset on another node; held mail of {} goes out now",
            names.join(", ")
        );
        let dir = self.attempts.load().spool.dir().to_path_buf();
        let released = tokio::task::spawn_blocking(move || {
            let mut admin = crate::spool::Admin::open(&dir)?;
            names.iter().try_fold(0, |n, name| {
                Ok::<_, crate::spool::SpoolError>(n + admin.reset_limits(Some(name))?)
            })
        })
        .await;
        if let Ok(Err(e)) = released {
            tracing::error!("cannot release held mail after a cluster reset: {e}");
        }
    }

    /// Dispatches what is due, follows a manual limits reset, sweeps idle sessions.
    async fn scan(self: &Arc<Self>, unattempted: bool, reset_mark: &mut i64) {
        let read_at = Instant::now();
        let due = self
            .attempts
            .load()
            .spool
            .due(now_ms(), SCAN_BATCH, unattempted)
            .await;
        // After reading what is due: mail a reset released is then dispatched only once the
        // counters are reloaded, so it is not held again by stale ones.
        self.follow_resets(reset_mark).await;
        match due {
            Ok(msgs) => msgs
                .into_iter()
                .for_each(|m| self.dispatch(m, Some(read_at))),
            Err(e) => tracing::error!("cannot read the spool: {e}"),
        }
        // Every end recorded so far is older than the next scan's read: forget them.
        lock(&self.finished).clear();
        for t in self.attempts.load().targets.all() {
            t.pool.close_idle().await;
            // Connections lowered after a `432` come back one at a time.
            t.pacer.local().restore_connections();
        }
    }

    /// Starts an attempt unless one is running; `read_at`: when a scan read this copy.
    fn dispatch(self: &Arc<Self>, msg: StoredMessage, read_at: Option<Instant>) {
        if msg.is_finished() {
            return;
        }
        {
            let mut inflight = lock(&self.inflight);
            let finished = lock(&self.finished);
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
            let attempts = this.attempts.load_full();
            attempts.run(msg).await;
            let mut inflight = lock(&this.inflight);
            lock(&this.finished).insert(id.clone(), Instant::now());
            inflight.remove(&id);
        });
    }

    /// Loads every upstream's usage and pauses from the spool (at start and after a manual
    /// reset).
    async fn load_limits(&self) {
        for t in self.attempts.load().targets.limited() {
            self.attempts.load().book.load(&t.name, &t.pacer).await;
        }
    }

    /// Reloads the limits when `smarthost limits reset` left a new mark.
    async fn follow_resets(&self, seen: &mut i64) {
        match self.attempts.load().book.reset_mark().await {
            Some(mark) if mark != *seen => {
                *seen = mark;
                tracing::info!("limits reset by the administrator; held mail goes out now");
                self.load_limits().await;
            }
            _ => {}
        }
    }

    /// Every limited upstream's connections, pause and quota windows now (for `/status`).
    pub async fn limits_now(&self) -> Vec<UpstreamLimits> {
        self.attempts.load().targets.limits_now().await
    }

    /// Applies a reloaded configuration: new and changed upstreams, limits and notices. Idle
    /// connections of the old upstreams are closed; their quota use is read again from the
    /// spool, so counters survive; attempts in flight finish with what they started with.
    pub async fn reload(&self, config: Arc<Config>) -> Result<(), UpstreamError> {
        let old = self.attempts.load_full();
        let targets = Arc::new(Targets::new(&config, self.cluster.as_ref())?);
        let notices = Notices::new(
            old.spool.clone(),
            config.server.hostname.clone(),
            config.retry.delay_warning,
        );
        self.attempts.store(Arc::new(Attempts {
            book: old.book.clone(),
            notices,
            config,
            spool: old.spool.clone(),
            metrics: old.metrics.clone(),
            targets,
        }));
        self.load_limits().await;
        for t in old.targets.all() {
            t.pool.close_all().await;
        }
        Ok(())
    }

    /// This node in its cluster, for `/status` and the metrics.
    pub fn cluster_state(&self) -> Option<ClusterState> {
        let c = self.cluster.as_ref()?;
        Some(ClusterState {
            node: c.node.clone(),
            shared: c.store.is_up(),
            nodes: c.nodes(),
        })
    }

    /// Connections allowed to `upstream` now (for status and tests).
    pub fn connection_limit(&self, upstream: &str) -> Option<usize> {
        let attempts = self.attempts.load();
        let t = attempts.targets.get(upstream)?;
        t.transport
            .is_limited()
            .then(|| t.pacer.local().connection_limit())
    }

    /// What AUTO detection found for an upstream (for logs, tests and `send-test`).
    pub fn detected(&self, upstream: &str) -> Option<Detected> {
        self.attempts
            .load()
            .targets
            .get(upstream)?
            .transport
            .detected()
    }

    /// Waits until no delivery is in flight, at most `grace`; returns how many still were. Those
    /// stay in the spool and are tried again at the next start.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        loop {
            let n = lock(&self.inflight).len();
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes every pooled connection politely (QUIT).
    pub async fn close_all(&self) {
        for t in self.attempts.load().targets.all() {
            t.pool.close_all().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
