//! The operator console: the programs' mail dialogs in a browser (en/fr/de), and the JSON API
//! under `/api/v1/` that the pages and scripts use. Owns the HTTP side (axum), logins, CSRF and
//! the security headers; the work is done by the relay's own parts (spool, delivery, live
//! configuration). Never shows a password or a token, and escapes every value a client or an
//! upstream chose.
//!
//! | file | owns |
//! |---|---|
//! | `auth` | password and one-time logins, sessions and CSRF, API tokens, the login ban |
//! | `guard` | the extractors each handler names: API reader or writer, page viewer, form post |
//! | `api` | the JSON API: status, queue, limits, test mode, blacklist, journal |
//! | `edits` | changes written to the configuration (toml_edit, backup, atomic) and applied live |
//! | `servers` | the server list as shown and typed: views, presets, the check of each field |
//! | `server_edits` | create, change, delete and set the default server, as edits of the file |
//! | `servers_api` | the server list in the JSON API, its export, and the Tester |
//! | `secrets` | passwords typed in the console, each in its own private file |
//! | `tester` | the Tester button: send-test for one server, its steps and verdict kept |
//! | `pages` | the HTML pages (maud), their texts from the message catalog |
//! | `queue` | the queue by state and filter, one message, the actions on it |
//! | `journal` | the last mail-log events and the hourly counts of the last day |
//! | `tls` | HTTPS beyond loopback: the handshakes, bounded in time and number |

mod api;
pub mod auth;
mod edits;
mod guard;
pub mod journal;
mod pages;
mod queue;
mod secrets;
mod server_edits;
mod servers;
mod servers_api;
mod tester;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::live::Live;
use crate::metrics::Metrics;
use crate::spool::Spool;

/// What every handler reaches.
pub struct Console {
    pub live: Arc<Live>,
    pub spool: Spool,
    pub metrics: Arc<Metrics>,
    pub auth: auth::Auth,
    /// Served over TLS: the session cookie is marked `Secure`.
    pub secure: bool,
    /// The embedded default's text after console edits (it has no file).
    pub embedded: std::sync::Mutex<Option<String>>,
}

pub type Shared = Arc<Console>;

/// A request's identity: a console session (with its CSRF token) or an API token.
#[derive(Clone)]
pub enum Caller {
    Session { id: String, csrf: String },
    Token,
}

/// Where the console listens: plain HTTP on loopback, or HTTPS.
pub enum Listening {
    Plain(tokio::net::TcpListener),
    Tls(tls::TlsListener),
}

/// Serves until `shutdown` flips.
pub async fn serve(listening: Listening, console: Shared, mut shutdown: watch::Receiver<bool>) {
    use axum::serve::ListenerExt;
    let app = router(console).into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    let served = match listening {
        Listening::Plain(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
        // `tap_io` gives the TLS listener the peer address (ConnectInfo) the login ban needs.
        Listening::Tls(l) => {
            axum::serve(l.tap_io(|_| ()), app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!("console: {e}");
    }
}

pub fn router(console: Shared) -> Router {
    Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes().merge(servers_api::routes()))
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// The headers every answer carries: no inline script or style, no framing, no sniffing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
               connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The caller of a request: its session cookie, or `Authorization: Bearer`.
pub fn caller(console: &Console, headers: &axum::http::HeaderMap) -> Option<Caller> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return console
            .auth
            .api_token_ok(token.trim())
            .then_some(Caller::Token);
    }
    let id = cookie(headers, auth::COOKIE)?;
    let s = console.auth.session(&id)?;
    Some(Caller::Session { id, csrf: s.csrf })
}

pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A state-changing request from a browser session must carry its CSRF token (form field or
/// `X-CSRF-Token`); API tokens need none (no cookie is involved).
pub fn csrf_ok(caller: &Caller, headers: &axum::http::HeaderMap, form_token: Option<&str>) -> bool {
    match caller {
        Caller::Token => true,
        Caller::Session { csrf, .. } => {
            let sent = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .or(form_token)
                .unwrap_or("");
            auth::constant_eq(sent.as_bytes(), csrf.as_bytes())
        }
    }
}

/// The answer to a request without a valid login or CSRF token.
pub fn refused(status: StatusCode, why: &str) -> Response {
    (status, why.to_string()).into_response()
}

/// An API error: its status and `{"error": "..."}`.
pub fn fail(status: StatusCode, e: impl std::fmt::Display) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// The peer's address, for the login ban.
pub fn peer(ConnectInfo(addr): &ConnectInfo<SocketAddr>) -> std::net::IpAddr {
    addr.ip()
}

/// The console's state, for handlers that need only a reference.
pub type St = State<Shared>;
