//! What the relay counts for operators: messages by outcome and upstream, upstream failures by
//! kind (TLS, AUTH, connect), delivery latency, queue size and age, quota use, and each
//! upstream's last result for `/status`. Counting only; served over HTTP by [`http`] when
//! `[admin] listen` is set. Never holds addresses, bodies or secrets.

pub mod http;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    upstream: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WindowLabels {
    upstream: String,
    window: &'static str,
}

/// An upstream's last attempt, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Health {
    /// `ok`, `failing` or `unknown` (not tried since start).
    pub state: &'static str,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
}

fn latency_histogram() -> Histogram {
    // 10 ms to about 3 hours.
    Histogram::new(exponential_buckets(0.01, 2.5, 14))
}

pub struct Metrics {
    registry: Registry,
    messages: Family<OutcomeLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    latency: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    queue_messages: Gauge,
    queue_oldest: Gauge<f64, AtomicU64>,
    limit_used: Family<WindowLabels, Gauge>,
    limit_max: Family<WindowLabels, Gauge>,
    connections: Family<UpstreamLabels, Gauge>,
    /// 1 while the provider limits are shared through Redis, 0 while this relay keeps to its
    /// share alone; absent without `[cluster]`.
    cluster_shared: Gauge,
    health: Mutex<BTreeMap<String, Health>>,
    pub started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let messages = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "smarthost_messages",
            "Messages (received, queued, rejected) and recipients (delivered, deferred, bounced, held) by outcome and upstream",
            messages.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "smarthost_upstream_failures",
            "Failed upstream connections by kind: tls, auth, connect, other",
            failures.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "smarthost_delivery_latency_seconds",
            "From acceptance to delivery, per recipient",
            latency.clone(),
        );
        let queue_messages = Gauge::default();
        registry.register(
            "smarthost_queue_messages",
            "Messages in the queue",
            queue_messages.clone(),
        );
        let queue_oldest = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "smarthost_queue_oldest_age_seconds",
            "Age of the oldest queued message",
            queue_oldest.clone(),
        );
        let limit_used = Family::<WindowLabels, Gauge>::default();
        registry.register(
            "smarthost_limit_used",
            "Quota used in the rolling window",
            limit_used.clone(),
        );
        let limit_max = Family::<WindowLabels, Gauge>::default();
        registry.register(
            "smarthost_limit",
            "Quota of the rolling window",
            limit_max.clone(),
        );
        let connections = Family::<UpstreamLabels, Gauge>::default();
        registry.register(
            "smarthost_upstream_connection_limit",
            "Connections allowed now (lower after a 432 4.3.2)",
            connections.clone(),
        );
        let cluster_shared = Gauge::default();
        registry.register(
            "smarthost_cluster_shared",
            "1 while provider limits are shared through Redis, 0 while each relay keeps its share",
            cluster_shared.clone(),
        );
        Metrics {
            cluster_shared,
            registry,
            messages,
            failures,
            latency,
            queue_messages,
            queue_oldest,
            limit_used,
            limit_max,
            connections,
            health: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }

    /// `n` more of `outcome` (an event of the mail log) through `upstream` ("" for intake).
    pub fn count(&self, outcome: &'static str, upstream: &str, n: u64) {
        self.messages
            .get_or_create(&OutcomeLabels {
                outcome,
                upstream: upstream.to_string(),
            })
            .inc_by(n);
    }

    pub fn delivered_after(&self, upstream: &str, seconds: f64) {
        self.latency
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_string(),
            })
            .observe(seconds);
    }

    /// Records the outcome of a connection to `upstream`: `Err` with the failure kind and text.
    pub fn upstream_result(&self, upstream: &str, result: Result<(), (&'static str, String)>) {
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string();
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let h = health.entry(upstream.to_string()).or_default();
        match result {
            Ok(()) => {
                h.state = "ok";
                h.last_success = Some(now);
            }
            Err((kind, text)) => {
                self.failures
                    .get_or_create(&FailureLabels {
                        upstream: upstream.to_string(),
                        kind,
                    })
                    .inc();
                h.state = "failing";
                h.last_error = Some(format!("{now}: {text}"));
            }
        }
    }

    pub fn health(&self, upstream: &str) -> Health {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.get(upstream).cloned().unwrap_or(Health {
            state: "unknown",
            ..Health::default()
        })
    }

    /// Sets the gauges read at scrape time.
    pub fn set_cluster_shared(&self, shared: bool) {
        self.cluster_shared.set(i64::from(shared));
    }

    pub fn set_queue(&self, messages: usize, oldest_age_seconds: f64) {
        self.queue_messages.set(messages as i64);
        self.queue_oldest.set(oldest_age_seconds);
    }

    pub fn set_limit(&self, upstream: &str, window: &'static str, used: u64, limit: u32) {
        let labels = WindowLabels {
            upstream: upstream.to_string(),
            window,
        };
        self.limit_used.get_or_create(&labels).set(used as i64);
        self.limit_max.get_or_create(&labels).set(i64::from(limit));
    }

    pub fn set_connections(&self, upstream: &str, allowed: usize) {
        self.connections
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_string(),
            })
            .set(allowed as i64);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The kind of a failed connection, for `smarthost_upstream_failures_total`.
pub fn failure_kind(e: &crate::upstream::error::UpstreamError) -> &'static str {
    use crate::upstream::error::UpstreamError as E;
    match e {
        E::Tls(_) | E::TlsConfig(_) | E::StartTlsNotOffered => "tls",
        E::AuthFailed(_)
        | E::MechanismNotOffered(_)
        | E::NoCredentials(_)
        | E::CredentialsInClear
        | E::Secret(_) => "auth",
        E::Resolve { .. } | E::Connect { .. } => "connect",
        E::Timeout { stage } if matches!(*stage, "DNS" | "connect") => "connect",
        _ => "other",
    }
}
