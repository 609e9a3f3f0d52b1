//! The admin HTTP listener (`[admin] listen`, off by default): `GET /metrics` (Prometheus text)
//! and `GET /status` (JSON: version, uptime, test mode, per-upstream health, connections and
//! quota left). Read-only: it never changes the queue or the configuration. Bind it to loopback
//! or a management network; it has no authentication.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Metrics;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::spool::{Spool, now_ms};

/// What the handlers read.
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub delivery: Arc<Delivery>,
    pub spool: Spool,
    pub config: Arc<Config>,
}

/// Connections served at once; more are closed at accept. An idle client must not be able to
/// hold the file descriptors the SMTP listener needs.
const MAX_CONNECTIONS: usize = 32;
/// A client gets this long to send its request headers (and between keep-alive requests).
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// No connection lives longer than this, whatever it does.
const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn serve(listener: TcpListener, state: Arc<AdminState>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "admin connection refused: {MAX_CONNECTIONS} already open");
                    drop(stream);
                    continue;
                };
                tokio::spawn(serve_one(stream, state.clone(), slot));
            }
            _ = stop.changed() => return,
        }
    }
}

/// One HTTP connection, within the header timeout and the lifetime; frees its slot at the end.
async fn serve_one(
    stream: tokio::net::TcpStream,
    state: Arc<AdminState>,
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), svc);
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
}

async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            refresh(state).await;
            respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                state.metrics.encode(),
            )
        }
        "/status" => {
            let body = serde_json::to_string_pretty(&status(state).await).unwrap_or_default();
            respond(StatusCode::OK, "application/json", body + "\n")
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics or /status\n".into(),
        ),
    }
}

fn respond(code: StatusCode, kind: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = kind.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Gauges that are read, not counted: the queue and the limits.
async fn refresh(state: &AdminState) {
    if let Ok((n, oldest)) = state.spool.queue_stats().await {
        let age = oldest
            .map(|created| (now_ms() / 1000 - created).max(0) as f64)
            .unwrap_or(0.0);
        state.metrics.set_queue(n, age);
    }
    if let Some(c) = state.delivery.cluster_state() {
        state.metrics.set_cluster_shared(c.shared);
    }
    for u in state.delivery.limits_now().await {
        state.metrics.set_connections(&u.name, u.connections);
        for w in &u.windows {
            state.metrics.set_limit(&u.name, w.window, w.used, w.limit);
        }
    }
}

#[derive(Serialize)]
struct Status {
    version: &'static str,
    uptime_seconds: u64,
    test_mode: bool,
    queue: QueueStatus,
    upstreams: Vec<UpstreamStatus>,
    /// `[cluster]`: this node, whether the limits are shared now, and the nodes counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<crate::delivery::ClusterState>,
}

#[derive(Serialize)]
struct QueueStatus {
    messages: usize,
    oldest_age_seconds: i64,
}

#[derive(Serialize)]
struct UpstreamStatus {
    name: String,
    health: super::Health,
    connections: usize,
    paused_until: Option<String>,
    quota: Vec<QuotaStatus>,
}

#[derive(Serialize)]
struct QuotaStatus {
    window: &'static str,
    used: u64,
    limit: u32,
    remaining: u64,
    next_at: Option<String>,
}

async fn status(state: &AdminState) -> Status {
    let (messages, oldest) = state.spool.queue_stats().await.unwrap_or((0, None));
    let upstreams = state
        .delivery
        .limits_now()
        .await
        .into_iter()
        .map(|u| UpstreamStatus {
            health: state.metrics.health(&u.name),
            connections: u.connections,
            paused_until: u.paused_until.map(crate::throttle::local),
            quota: u
                .windows
                .iter()
                .map(|w| QuotaStatus {
                    window: w.window,
                    used: w.used,
                    limit: w.limit,
                    remaining: u64::from(w.limit).saturating_sub(w.used),
                    next_at: w.free_at.map(crate::throttle::local),
                })
                .collect(),
            name: u.name,
        })
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.metrics.started.elapsed().as_secs(),
        test_mode: state.config.policy.test_mode.enabled
            || state
                .config
                .upstreams
                .iter()
                .any(|u| u.policy.test_mode.as_ref().is_some_and(|t| t.enabled)),
        queue: QueueStatus {
            messages,
            oldest_age_seconds: oldest.map(|c| (now_ms() / 1000 - c).max(0)).unwrap_or(0),
        },
        upstreams,
        cluster: state.delivery.cluster_state(),
    }
}
