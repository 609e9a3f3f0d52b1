//! One provider account's limits as every relay of the cluster sees them: quota use over
//! rolling windows, the GCRA rate, connection leases that expire when a node dies, batches, and
//! a provider pause one node saw. Each decision is one atomic script in Redis (`scripts`).
//! Every method answers `None` when Redis cannot: the caller then keeps to its local share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;

use super::scripts;
use super::store::Store;
use crate::config::{Count, ProviderLimits};

/// A connection lease lives this long unless renewed; a killed node's leases free by then.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// An open batch ticket of a node that died is forgotten after this long.
const TICKET_TTL: Duration = Duration::from_secs(15 * 60);

pub struct SharedLimits {
    store: Arc<Store>,
    account: String,
    node: String,
    limits: ProviderLimits,
    seq: AtomicU64,
}

/// What a quota decision came to.
pub enum Take {
    /// `(recipients that may go, units spent)`.
    Granted(usize, u32),
    /// Every unit of a window is spent: the events, for when one frees.
    Full(Vec<(i64, u32)>),
}

impl SharedLimits {
    pub fn new(store: Arc<Store>, account: &str, node: &str, limits: ProviderLimits) -> Self {
        SharedLimits {
            store,
            account: account.to_string(),
            node: node.to_string(),
            limits,
            seq: AtomicU64::new(rand::random::<u32>() as u64),
        }
    }

    pub fn limits(&self) -> &ProviderLimits {
        &self.limits
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn key(&self, what: &str) -> String {
        key(&self.account, what)
    }

    fn tag(&self) -> String {
        format!("{}:{}", self.node, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Takes quota room for a transaction to `recipients` recipients, after counting `alone`
    /// (what this node spent while Redis was away) in the same atomic step.
    pub async fn take(&self, recipients: usize, alone: &[(i64, u32)]) -> Option<Take> {
        let Some(q) = &self.limits.quota else {
            return Some(Take::Granted(recipients, 0));
        };
        let mut inv = scripts::QUOTA_TAKE.key(self.key("usage"));
        let mode = match q.count {
            Count::Messages => "m",
            Count::Recipients => "r",
        };
        inv.arg(recipients)
            .arg(mode)
            .arg(self.tag())
            .arg(q.windows.len());
        for w in &q.windows {
            inv.arg(w.span.as_millis() as u64).arg(w.limit);
        }
        for (at, units) in alone {
            inv.arg(*at).arg(format!("{}:{units}", self.tag()));
        }
        let (granted, units, _now): (usize, u32, i64) = self
            .store
            .call(
                "quota",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        if granted > 0 {
            return Some(Take::Granted(granted, units));
        }
        Some(Take::Full(self.usage().await?))
    }

    /// Every unit counted in the longest window, `(ms, units)`, oldest first.
    pub async fn usage(&self) -> Option<Vec<(i64, u32)>> {
        let key = self.key("usage");
        let members: Vec<String> = self
            .store
            .call("quota", |mut c| async move { c.zrange(key, 0, -1).await })
            .await?;
        Some(members.iter().filter_map(|m| parse_event(m)).collect())
    }

    /// Units spent while Redis was away, with their own times: counted once they are back.
    pub async fn write_back(&self, events: &[(i64, u32)]) -> bool {
        let Some(q) = &self.limits.quota else {
            return true;
        };
        if events.is_empty() {
            return true;
        }
        let longest = q.windows.iter().map(|w| w.span).max().unwrap_or_default();
        let mut inv = scripts::QUOTA_WRITE_BACK.key(self.key("usage"));
        inv.arg(longest.as_millis() as u64);
        for (at, units) in events {
            inv.arg(*at).arg(format!("{}:{units}", self.tag()));
        }
        self.store
            .call("write back", |mut c| async move {
                inv.invoke_async::<i64>(&mut c).await
            })
            .await
            .is_some()
    }

    /// The rate: `Some(Duration::ZERO)` when this transaction may go now, else how long to wait.
    pub async fn rate_wait(&self) -> Option<Duration> {
        let Some(r) = self.limits.rate else {
            return Some(Duration::ZERO);
        };
        let interval = (r.per / r.count.max(1)).as_millis().max(1) as u64;
        let mut inv = scripts::GCRA.key(self.key("gcra"));
        inv.arg(interval);
        let wait: u64 = self
            .store
            .call(
                "rate",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        Some(Duration::from_millis(wait))
    }

    /// A connection lease: `Ok(id)` when one is free, `Err(wait)` when every one is taken.
    pub async fn lease(&self) -> Option<Result<String, Duration>> {
        let id = self.tag();
        let mut inv = scripts::LEASE_ACQUIRE.key(self.key("leases"));
        inv.arg(self.limits.max_connections)
            .arg(LEASE_TTL.as_millis() as u64)
            .arg(&id);
        let wait: u64 = self
            .store
            .call(
                "lease",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        Some(if wait == 0 {
            Ok(id)
        } else {
            Err(Duration::from_millis(wait))
        })
    }

    pub async fn renew(&self, id: &str) -> bool {
        let mut inv = scripts::LEASE_RENEW.key(self.key("leases"));
        inv.arg(LEASE_TTL.as_millis() as u64).arg(id);
        self.store
            .call("lease", |mut c| async move {
                inv.invoke_async::<i64>(&mut c).await
            })
            .await
            .is_some_and(|v| v == 1)
    }

    pub async fn release(&self, id: &str) {
        let (key, id) = (self.key("leases"), id.to_string());
        let _: Option<i64> = self
            .store
            .call("lease", |mut c| async move { c.zrem(key, id).await })
            .await;
    }

    /// A batch ticket: `Ok(id)` when this transaction may go, `Err(wait)` otherwise.
    pub async fn batch_admit(&self) -> Option<Result<String, Duration>> {
        let Some(b) = self.limits.batch else {
            return Some(Ok(String::new()));
        };
        let id = self.tag();
        let mut inv = scripts::BATCH_ADMIT.key(self.key("batch"));
        inv.key(self.key("batch-open"))
            .arg(b.size)
            .arg(b.wait.as_millis() as u64)
            .arg(&id)
            .arg(TICKET_TTL.as_millis() as u64);
        let wait: u64 = self
            .store
            .call(
                "batch",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        Some(if wait == 0 {
            Ok(id)
        } else {
            Err(Duration::from_millis(wait))
        })
    }

    pub async fn batch_end(&self, id: &str) {
        if id.is_empty() {
            return;
        }
        let mut inv = scripts::BATCH_END.key(self.key("batch"));
        inv.key(self.key("batch-open")).arg(id);
        let _: Option<i64> = self
            .store
            .call(
                "batch",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await;
    }

    /// The pause a provider asked for, seen by any node: `(until ms, reason)`.
    pub async fn pause(&self) -> Option<Option<(i64, String)>> {
        let key = self.key("pause");
        let v: Option<String> = self
            .store
            .call("pause", |mut c| async move { c.get(key).await })
            .await?;
        Some(v.and_then(|s| {
            let (until, reason) = s.split_once('|')?;
            Some((until.parse().ok()?, reason.to_string()))
        }))
    }

    /// Every node holds this upstream's mail until `until` (unix ms).
    pub async fn set_pause(&self, until: i64, reason: &str) {
        let (key, value) = (self.key("pause"), format!("{until}|{reason}"));
        let _: Option<()> = self
            .store
            .call("pause", |mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PXAT")
                    .arg(until.max(1))
                    .query_async(&mut c)
                    .await
            })
            .await;
    }
}

pub(super) fn key(account: &str, what: &str) -> String {
    format!("smarthost:{{{account}}}:{what}")
}

/// `ms:node:seq:units` -> `(ms, units)`.
fn parse_event(member: &str) -> Option<(i64, u32)> {
    let at = member.split(':').next()?.parse().ok()?;
    let units = member.rsplit(':').next()?.parse().ok()?;
    Some((at, units))
}
