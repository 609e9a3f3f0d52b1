//! One OAuth2 grant used by several relays: the access token, its expiry and the newest
//! rotated refresh token live in Redis, a lock with an expiry lets one node at a time refresh,
//! and each write names the version it replaces, so a node never writes an older rotation over
//! a newer one. `None` from any method means Redis cannot answer: the caller refreshes alone.

use std::sync::Arc;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::store::Store;

/// A refresh takes at most this long; a node that died holding the lock frees it by then.
const LOCK_TTL: Duration = Duration::from_secs(30);
/// The shared state outlives any access token; a refresh token lives for months.
const STATE_TTL: Duration = Duration::from_secs(90 * 86400);

/// KEYS[1] state hash. ARGV: expected version, access token, expiry ms, refresh token ("" for
/// none), ttl ms. 1 when written (version + 1), 0 when another node wrote first.
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', v + 1, 'access', ARGV[2], 'expires', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'refresh', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"#,
    )
});

/// KEYS[1] lock. ARGV[1] holder. Deletes the lock only if this holder still has it.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

/// The grant's state as the cluster knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    pub version: u64,
    pub access: Option<String>,
    /// Unix ms.
    pub expires: i64,
    pub refresh: Option<String>,
}

pub struct SharedTokens {
    store: Arc<Store>,
    key: String,
    holder: String,
}

impl SharedTokens {
    /// `grant` names the grant the same way on every node (account and client id).
    pub fn new(store: Arc<Store>, grant: &str, node: &str) -> SharedTokens {
        SharedTokens {
            store,
            key: format!("smarthost:oauth:{{{grant}}}"),
            holder: format!("{node}:{}", rand::random::<u32>()),
        }
    }

    pub async fn get(&self) -> Option<Shared> {
        let key = self.key.clone();
        let map: std::collections::HashMap<String, String> = self
            .store
            .call("oauth2", |mut c| async move { c.hgetall(key).await })
            .await?;
        let field = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        Some(Shared {
            version: field("version").and_then(|v| v.parse().ok()).unwrap_or(0),
            access: field("access"),
            expires: field("expires").and_then(|v| v.parse().ok()).unwrap_or(0),
            refresh: field("refresh"),
        })
    }

    /// `Some(true)` when this node may refresh now.
    pub async fn lock(&self) -> Option<bool> {
        let (key, holder) = (format!("{}:lock", self.key), self.holder.clone());
        let set: Option<String> = self
            .store
            .call("oauth2", |mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_TTL.as_millis() as u64)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Some(set.is_some())
    }

    pub async fn unlock(&self) {
        let mut inv = UNLOCK.key(format!("{}:lock", self.key));
        inv.arg(&self.holder);
        let _: Option<i64> = self
            .store
            .call(
                "oauth2",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await;
    }

    /// Writes a fresh token over version `expected`; `Some(false)` when a newer one is there.
    pub async fn put(
        &self,
        expected: u64,
        access: &str,
        expires: i64,
        refresh: Option<&str>,
    ) -> Option<bool> {
        let mut inv = PUT.key(&self.key);
        inv.arg(expected)
            .arg(access)
            .arg(expires)
            .arg(refresh.unwrap_or(""))
            .arg(STATE_TTL.as_millis() as u64);
        let written: i64 = self
            .store
            .call(
                "oauth2",
                |mut c| async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        Some(written == 1)
    }
}
