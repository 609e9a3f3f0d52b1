//! One upstream as delivery runs it: its transport, its throttle (the provider's limits) and
//! its pool of idle sessions, built once from the configuration. Also the view of their
//! limits for `/status`.

use std::collections::HashMap;
use std::sync::Arc;

use super::pacer::Pacer;
use super::pool::Pool;
use super::transport::Transport;
use crate::cluster::Cluster;
use crate::cluster::tokens::SharedTokens;
use crate::config::Config;
use crate::dkim::Signers;
use crate::spool::now_ms;
use crate::throttle;
use crate::upstream::error::UpstreamError;

pub struct Target {
    pub name: String,
    /// Whose provider limits it spends (shared with other upstreams and relays).
    pub account: String,
    pub transport: Transport,
    pub pacer: Pacer,
    pub pool: Pool,
}

/// Every configured upstream by name.
pub struct Targets(HashMap<String, Arc<Target>>);

/// One upstream's limits as they stand.
pub struct UpstreamLimits {
    pub name: String,
    pub connections: usize,
    pub paused_until: Option<i64>,
    pub windows: Vec<throttle::quota::WindowState>,
}

impl Targets {
    pub fn new(config: &Config, cluster: Option<&Arc<Cluster>>) -> Result<Targets, UpstreamError> {
        // A transport that changes a signed message (Graph) signs it again.
        let signers = Signers::load(config).map_err(|e| UpstreamError::Local(e.to_string()))?;
        let mut targets = HashMap::new();
        for up in &config.upstreams {
            let pacer = match up.transport.limits() {
                Some(limits) => Pacer::new(&limits, &up.account, cluster),
                None => Pacer::unlimited(),
            };
            let transport = Transport::new(up, config, signers.shared(&up.name))?;
            if let (Some(c), Some(tokens)) = (cluster, transport.tokens()) {
                let grant = format!("{}:{}", up.account, tokens.client_id());
                tokens.share(SharedTokens::new(c.store.clone(), &grant, &c.node));
            }
            let target = Target {
                name: up.name.clone(),
                account: up.account.clone(),
                transport,
                pacer,
                pool: Pool::default(),
            };
            targets.insert(up.name.clone(), Arc::new(target));
        }
        Ok(Targets(targets))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Target>> {
        self.0.get(name)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.0.values()
    }

    /// Those with provider limits (not the file target).
    pub fn limited(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.all().filter(|t| t.transport.is_limited())
    }

    /// Every limited upstream's connections, pause and quota windows now (the shared ones in
    /// a cluster), by name.
    pub async fn limits_now(&self) -> Vec<UpstreamLimits> {
        let now = now_ms();
        let mut out = Vec::new();
        for t in self.limited() {
            let (windows, paused_until) = t.pacer.windows(now).await;
            out.push(UpstreamLimits {
                name: t.name.clone(),
                connections: t.pacer.local().connection_limit(),
                paused_until,
                windows,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}
