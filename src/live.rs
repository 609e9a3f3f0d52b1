//! The configuration in force and what a reload replaces: the policy every new message is
//! checked against and the upstreams every new attempt goes through. Shared by the relay
//! (SIGHUP) and the console (edits). A configuration that fails to build changes nothing.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::delivery::Delivery;
use crate::policy::{self, Policy};

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Blacklist(#[from] policy::blacklist::BlacklistError),
    #[error("upstream: {0}")]
    Upstream(#[from] crate::upstream::error::UpstreamError),
}

pub struct Live {
    config: ArcSwap<Config>,
    policy: Arc<Policy>,
    delivery: Arc<Delivery>,
    /// One reload at a time: two console edits never interleave.
    reloading: tokio::sync::Mutex<()>,
}

impl Live {
    pub fn new(config: Arc<Config>, policy: Arc<Policy>, delivery: Arc<Delivery>) -> Live {
        Live {
            config: ArcSwap::new(config),
            policy,
            delivery,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn delivery(&self) -> &Arc<Delivery> {
        &self.delivery
    }

    /// Applies `config`; returns what only a restart applies (when it changed).
    pub async fn reload(&self, config: Config) -> Result<Vec<String>, ReloadError> {
        let _one = self.reloading.lock().await;
        let old = self.config();
        let notes = restart_needed(&old, &config);
        let config = Arc::new(config);
        // Both are built before either is swapped in, so a bad file changes nothing.
        let rules = policy::PolicySet::new(&config)?;
        self.delivery.reload(config.clone()).await?;
        self.policy.install(rules);
        self.config.store(config);
        Ok(notes)
    }
}

/// The sections a reload cannot apply to a running relay, when they changed.
fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    let (a, b) = (&old.server, &new.server);
    if a.listen != b.listen || a.listen_tls != b.listen_tls || a.hostname != b.hostname {
        notes.push("[server] listen, listen_tls and hostname take effect at the next start".into());
    }
    if old.spool.dir != new.spool.dir {
        notes.push("[spool] dir takes effect at the next start".into());
    }
    if old.cluster != new.cluster {
        notes.push("[cluster] takes effect at the next start".into());
    }
    if old.console != new.console {
        notes.push("[console] takes effect at the next start".into());
    }
    notes
}
