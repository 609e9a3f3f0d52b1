//! The cluster from any node's command line: `limits show` adds the shared use of each
//! account, `limits reset` clears it and tells every node to release its held mail, and
//! `cluster status` lists the nodes alive with their queues and the shared limits.

use std::fmt::Write;

use crate::cluster::{Cluster, members};
use crate::config::Config;
use crate::spool::now_ms;
use crate::throttle::local;
use crate::throttle::quota::Usage;

/// The shared use of every limited upstream's account (or only `name`'s).
pub async fn shared_limits(config: &Config, name: Option<&str>) -> Option<String> {
    let cfg = config.cluster.as_ref()?;
    let cluster = Cluster::new(cfg);
    let mut out = String::new();
    let _ = writeln!(out, "shared in the cluster (Redis {}):", cfg.redis);
    for u in &config.upstreams {
        let Some(limits) = u.transport.limits() else {
            continue;
        };
        if name.is_some_and(|n| n != u.name) {
            continue;
        }
        let shared = cluster.limits(&u.account, limits.clone());
        let (Some(events), Some(pause)) = (shared.usage().await, shared.pause().await) else {
            let _ = writeln!(
                out,
                "  Redis cannot be reached: each node keeps to its share"
            );
            return Some(out);
        };
        let _ = writeln!(out, "  {} (account {})", u.name, u.account);
        if let Some((until, reason)) = pause.filter(|(until, _)| *until > now_ms()) {
            let _ = writeln!(out, "    paused until {}: {reason}", local(until));
        }
        let Some(q) = limits.quota else {
            let _ = writeln!(out, "    no quota");
            continue;
        };
        let mut usage = Usage::new(q);
        usage.load(events);
        for w in usage.windows(now_ms()) {
            let left = u64::from(w.limit).saturating_sub(w.used);
            let _ = writeln!(
                out,
                "    {:<9} {} of {} {} used, {left} left",
                w.window,
                w.used,
                w.limit,
                usage.count()
            );
        }
    }
    Some(out)
}

/// Clears the shared use of `name`'s account (every account when `None`) and tells each node.
pub async fn reset(config: &Config, name: Option<&str>) -> Option<String> {
    let cfg = config.cluster.as_ref()?;
    let accounts: Vec<String> = match name {
        Some(n) => config
            .upstream(n)
            .map(|u| vec![u.account.clone()])
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let cluster = Cluster::new(cfg);
    Some(if cluster.reset(&accounts).await {
        "shared limits reset; every node releases its held mail within a few seconds\n".into()
    } else {
        format!(
            "the shared limits could not be reset: Redis at {} cannot be reached\n",
            cfg.redis
        )
    })
}

/// `smarthost cluster status`.
pub async fn status(config: &Config) -> String {
    let Some(cfg) = config.cluster.as_ref() else {
        return "no [cluster] in this configuration: this relay keeps its limits alone\n".into();
    };
    let cluster = Cluster::new(cfg);
    let mut out = String::new();
    match members::nodes(&cluster.store).await {
        None => {
            let _ = writeln!(out, "Redis at {} cannot be reached", cfg.redis);
            return out;
        }
        Some(nodes) => {
            let _ = writeln!(out, "nodes alive (Redis {}): {}", cfg.redis, nodes.len());
            for n in nodes {
                let _ = writeln!(
                    out,
                    "  {:<20} last heartbeat {}  {} queued{}",
                    printable(&n.node),
                    local(n.at),
                    n.queued,
                    if n.node == cfg.node {
                        "  (this node)"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    if let Some(limits) = shared_limits(config, None).await {
        out.push_str(&limits);
    }
    out
}

/// What another node wrote, made safe for a terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
