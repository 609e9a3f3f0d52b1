//! The connection to Redis and whether it answers. Every call is bounded in time; a call that
//! fails marks the store down (logged once, with what that means for mail), and the first call
//! that succeeds afterwards marks it up again (logged once). Never panics and never blocks mail:
//! a caller that gets `None` falls back to its local limits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use crate::config::ClusterConfig;

/// One answer from Redis takes at most this long; past it the store counts as down.
const CALL_TIMEOUT: Duration = Duration::from_millis(1500);
/// While down, a new connection is tried at most this often.
const RECONNECT_EVERY: Duration = Duration::from_secs(2);

pub struct Store {
    url: String,
    client: Option<redis::Client>,
    conn: Mutex<Option<ConnectionManager>>,
    last_try: std::sync::Mutex<Option<Instant>>,
    up: AtomicBool,
    /// Bumped each time the store comes back: callers write back what they spent alone.
    epoch: AtomicU64,
}

impl Store {
    pub fn new(cfg: &ClusterConfig) -> Store {
        let client = redis_info(cfg).and_then(|info| match open(info, cfg) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(
                    "[cluster] redis = \"{}\": {e}; limits stay local",
                    cfg.redis
                );
                None
            }
        });
        Store {
            url: cfg.redis.clone(),
            client,
            conn: Mutex::new(None),
            last_try: std::sync::Mutex::new(None),
            // Optimistic until the first call says otherwise, so the start logs nothing.
            up: AtomicBool::new(true),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// How many times the store came back since start.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Runs `f` on the connection; `None` when Redis cannot be reached or answered an error.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.may_try() {
            return None;
        }
        let conn = self.connection().await?;
        match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => {
                self.mark_up();
                Some(v)
            }
            Ok(Err(e)) => {
                self.mark_down(&format!("{what}: {e}"));
                None
            }
            Err(_) => {
                self.mark_down(&format!("{what}: no answer within {CALL_TIMEOUT:?}"));
                None
            }
        }
    }

    /// While the store is down, one call in `RECONNECT_EVERY` probes it and the others answer
    /// `None` at once: a dead Redis must not cost each message a timeout.
    fn may_try(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let mut last = self.last_try.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        let client = self.client.clone()?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                None
            }
            Err(_) => {
                self.mark_down("no connection within the timeout");
                None
            }
        }
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(
                "[cluster] Redis at {} answers again: provider limits are shared again",
                self.url
            );
        }
    }

    fn mark_down(&self, why: &str) {
        *self.last_try.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if self.up.swap(false, Ordering::SeqCst) {
            tracing::error!(
                "[cluster] Redis at {} cannot be reached ({why}): each relay keeps to its share of \
                 the provider limits until it answers again; no mail is refused or lost",
                self.url
            );
        }
    }
}

/// A client for the URL, trusting `ca_file`'s CA for `rediss://` when one is given.
fn open(info: redis::ConnectionInfo, cfg: &ClusterConfig) -> redis::RedisResult<redis::Client> {
    match &cfg.ca_pem {
        Some(ca) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.clone()),
            },
        ),
        None => redis::Client::open(info),
    }
}

/// The URL with the password from its source (never from the URL itself).
fn redis_info(cfg: &ClusterConfig) -> Option<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo;
    let mut info = match cfg.redis.as_str().into_connection_info() {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("[cluster] redis = \"{}\": {e}", cfg.redis);
            return None;
        }
    };
    if let Some(secret) = &cfg.password {
        match secret.reveal() {
            Ok(p) => {
                let settings = info.redis_settings().clone().set_password(p);
                info = info.set_redis_settings(settings);
            }
            Err(e) => tracing::error!("[cluster] Redis password: {e}"),
        }
    }
    Some(info)
}
