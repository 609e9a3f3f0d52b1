//! Two or more relays, one set of provider limits: the quotas, rate, connections, batches and
//! pauses of each provider account live in Redis (or Valkey), decided atomically there, while
//! each relay keeps its own durable spool. Owns the connection, the shared decisions, the
//! membership and the reset signal; never holds mail: when Redis cannot be reached each relay
//! keeps to its share (`1/nodes`) of every limit and writes its spending back later.
//! Without `[cluster]` none of this runs.

pub mod members;
mod scripts;
pub mod shared;
mod store;
pub mod tokens;

use std::sync::Arc;

use redis::AsyncCommands;

use crate::config::{ClusterConfig, ProviderLimits, Quota};
pub use members::Node;
pub use shared::SharedLimits;
pub use store::Store;

/// This relay's membership in a cluster.
pub struct Cluster {
    pub node: String,
    pub store: Arc<Store>,
    expected: usize,
    /// The most nodes seen alive, for the share to keep while Redis is away.
    seen: std::sync::atomic::AtomicUsize,
}

impl Cluster {
    pub fn new(cfg: &ClusterConfig) -> Cluster {
        let expected = cfg.expected_nodes.unwrap_or(1).max(1);
        Cluster {
            node: cfg.node.clone(),
            store: Arc::new(Store::new(cfg)),
            expected,
            seen: std::sync::atomic::AtomicUsize::new(expected),
        }
    }

    pub fn limits(&self, account: &str, limits: ProviderLimits) -> SharedLimits {
        SharedLimits::new(self.store.clone(), account, &self.node, limits)
    }

    /// How many nodes share the limits: the most seen alive, at least `expected_nodes`.
    pub fn nodes(&self) -> usize {
        self.seen
            .load(std::sync::atomic::Ordering::SeqCst)
            .max(self.expected)
    }

    /// Writes this node's heartbeat and counts the nodes alive.
    pub async fn heartbeat(&self, queued: usize, held: usize) {
        let me = Node {
            node: self.node.clone(),
            at: crate::spool::now_ms(),
            queued,
            held,
        };
        if members::heartbeat(&self.store, &me).await
            && let Some(alive) = members::nodes(&self.store).await
        {
            self.seen
                .store(alive.len().max(1), std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Forgets the shared use and pauses of `accounts` (all when empty) and tells every node.
    pub async fn reset(&self, accounts: &[String]) -> bool {
        let pattern_keys: Vec<String> = if accounts.is_empty() {
            let found: Option<Vec<String>> = self
                .store
                .call("reset", |mut c| async move {
                    let mut keys = Vec::new();
                    let mut it = c.scan_match::<_, String>("smarthost:{*}:*").await?;
                    while let Some(k) = it.next_item().await {
                        keys.push(k?);
                    }
                    Ok(keys)
                })
                .await;
            match found {
                Some(k) => k.into_iter().filter(|k| !k.ends_with(":leases")).collect(),
                None => return false,
            }
        } else {
            accounts
                .iter()
                .flat_map(|a| {
                    ["usage", "gcra", "batch", "batch-open", "pause"].map(|w| shared::key(a, w))
                })
                .collect()
        };
        if !pattern_keys.is_empty() {
            let done: Option<i64> = self
                .store
                .call("reset", |mut c| async move { c.del(pattern_keys).await })
                .await;
            if done.is_none() {
                return false;
            }
        }
        members::announce_reset(&self.store, accounts).await
    }
}

/// `limits` at `1/nodes`: what one relay may spend alone. Each figure keeps at least 1.
pub fn share(limits: &ProviderLimits, nodes: usize) -> ProviderLimits {
    let n = nodes.max(1) as u32;
    let part = |v: u32| (v / n).max(1);
    ProviderLimits {
        max_connections: (limits.max_connections / nodes.max(1)).max(1),
        max_recipients_per_message: limits.max_recipients_per_message,
        rate: limits.rate.map(|mut r| {
            r.count = part(r.count);
            r
        }),
        batch: limits.batch.map(|mut b| {
            b.size = part(b.size);
            b
        }),
        quota: limits.quota.as_ref().map(|q| Quota {
            count: q.count,
            windows: q
                .windows
                .iter()
                .map(|w| {
                    let mut w = *w;
                    w.limit = part(w.limit);
                    w
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Count, QuotaWindow, Rate};
    use std::time::Duration;

    #[test]
    fn alone_a_node_keeps_to_its_share_of_every_limit() {
        let full = ProviderLimits {
            max_connections: 3,
            max_recipients_per_message: Some(500),
            rate: Some(Rate {
                count: 30,
                per: Duration::from_secs(60),
            }),
            batch: None,
            quota: Some(Quota {
                count: Count::Recipients,
                windows: vec![QuotaWindow {
                    name: "per_day",
                    span: Duration::from_secs(86400),
                    limit: 10_000,
                }],
            }),
        };
        let half = share(&full, 2);
        assert_eq!(half.max_connections, 1);
        assert_eq!(half.rate.unwrap().count, 15);
        assert_eq!(half.quota.unwrap().windows[0].limit, 5_000);
        assert_eq!(half.max_recipients_per_message, Some(500));
        assert_eq!(share(&full, 1), full);
    }
}
