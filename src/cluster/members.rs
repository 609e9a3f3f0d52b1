//! Who is in the cluster: each node writes a heartbeat key that expires (its queue figures with
//! it), and the nodes alive are those whose key is still there. Also the reset signal a
//! `limits reset` on any node leaves for the others.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::store::Store;

/// A heartbeat is written this often and lives three times as long.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const HEARTBEAT_TTL: Duration = Duration::from_secs(15);
const RESET_SEQ: &str = "smarthost:reset:seq";
const RESET_WHICH: &str = "smarthost:reset:which";

/// One node as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub node: String,
    /// Unix ms of the heartbeat.
    pub at: i64,
    pub queued: usize,
    pub held: usize,
}

pub async fn heartbeat(store: &Store, node: &Node) -> bool {
    let key = format!("smarthost:node:{}", node.node);
    let Ok(value) = serde_json::to_string(node) else {
        return false;
    };
    store
        .call("heartbeat", |mut c| async move {
            c.pset_ex::<_, _, ()>(key, value, HEARTBEAT_TTL.as_millis() as u64)
                .await
        })
        .await
        .is_some()
}

/// The nodes whose heartbeat has not expired, by name.
pub async fn nodes(store: &Store) -> Option<Vec<Node>> {
    let keys: Vec<String> = store
        .call("members", |mut c| async move {
            let mut keys = Vec::new();
            let mut it = c.scan_match::<_, String>("smarthost:node:*").await?;
            while let Some(k) = it.next_item().await {
                keys.push(k?);
            }
            Ok(keys)
        })
        .await?;
    let mut out = Vec::new();
    for k in keys {
        let v: Option<String> = store
            .call("members", |mut c| async move { c.get(k).await })
            .await?;
        if let Some(n) = v.and_then(|v| serde_json::from_str::<Node>(&v).ok()) {
            out.push(n);
        }
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Some(out)
}

/// Leaves a reset of `accounts` (empty: every account) for every node to follow.
pub async fn announce_reset(store: &Store, accounts: &[String]) -> bool {
    let which = if accounts.is_empty() {
        "*".to_string()
    } else {
        accounts.join(",")
    };
    store
        .call("reset", |mut c| async move {
            redis::pipe()
                .atomic()
                .set(RESET_WHICH, which)
                .ignore()
                .incr(RESET_SEQ, 1)
                .query_async::<(i64,)>(&mut c)
                .await
        })
        .await
        .is_some()
}

/// The latest reset: its sequence number and the accounts it named (`None`: all).
pub async fn last_reset(store: &Store) -> Option<(i64, Option<Vec<String>>)> {
    let (seq, which): (Option<i64>, Option<String>) = store
        .call("reset", |mut c| async move {
            redis::pipe()
                .get(RESET_SEQ)
                .get(RESET_WHICH)
                .query_async(&mut c)
                .await
        })
        .await?;
    let which = which
        .filter(|w| w != "*")
        .map(|w| w.split(',').map(str::to_string).collect());
    Some((seq.unwrap_or(0), which))
}
