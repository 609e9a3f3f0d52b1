//! The HTML pages: the programs' mail dialogs (overview, servers, queue, limits, test mode,
//! liste noire, journal) as plain forms that post with the session's CSRF token, so they work
//! without any script; texts from the message catalog in the browser's language (or the one
//! chosen). Every value is escaped by the templates (maud). Handlers here; markup in `views`.

mod server_views;
mod servers;
mod views;

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::api;
use super::auth::{COOKIE, Refused};
pub use super::guard::Ctx;
use super::guard::{Posted, Viewer, csrf_in_field, lang};
use super::queue::{self, QueueFilter};
use super::{Console, Shared, cookie, edits, peer};
use crate::catalog::Lang;

pub fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/", get(overview))
        .route("/login", get(login_page).post(login))
        .route("/login/once", get(login_once))
        .route("/logout", post(logout))
        .route("/queue", get(queue))
        .route("/queue/{id}", get(message))
        .route("/queue/{id}/{action}", post(queue_action))
        .route("/limits", get(limits))
        .route("/limits/reset", post(limits_reset))
        .route("/test-mode", get(test_mode).post(set_test_mode))
        .route("/blacklist", get(blacklist))
        .route("/blacklist/{change}", post(blacklist_change))
        .route("/journal", get(journal))
        .route("/lang/{code}", get(set_lang))
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .merge(servers::routes())
}

fn page(markup: maud::Markup) -> Response {
    Html(markup.into_string()).into_response()
}

async fn overview(State(c): State<Shared>, Viewer(ctx): Viewer) -> Response {
    page(views::overview(&ctx, &api::status_value(&c).await))
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    error: String,
    #[serde(default)]
    seconds: String,
}

async fn login_page(
    State(c): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let has_password = c
        .live
        .config()
        .console
        .as_ref()
        .is_some_and(|k| k.password_hash.is_some());
    page(views::login(
        lang(&headers),
        &q.error,
        &q.seconds,
        has_password,
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    password: String,
}

async fn login(
    State(c): State<Shared>,
    addr: ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    opened(&c, c.auth.login(peer(&addr), &f.password))
}

#[derive(Deserialize)]
struct Once {
    #[serde(default)]
    token: String,
}

async fn login_once(
    State(c): State<Shared>,
    addr: ConnectInfo<SocketAddr>,
    Query(q): Query<Once>,
) -> Response {
    opened(&c, c.auth.login_once(peer(&addr), &q.token))
}

/// A session cookie and the overview, or back to the login page saying why.
fn opened(c: &Console, result: Result<String, Refused>) -> Response {
    match result {
        Ok(id) => {
            let mut r = Redirect::to("/").into_response();
            let secure = if c.secure { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(Refused::Wrong) => Redirect::to("/login?error=wrong").into_response(),
        Err(Refused::Banned { seconds }) => {
            Redirect::to(&format!("/login?error=banned&seconds={seconds}")).into_response()
        }
    }
}

csrf_in_field!(CsrfForm, ResetForm, TestModeForm, EntryForm);

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(c): State<Shared>,
    headers: HeaderMap,
    Posted(_, _): Posted<CsrfForm>,
) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        c.auth.logout(&id);
    }
    Redirect::to("/login").into_response()
}

async fn queue(
    State(c): State<Shared>,
    Viewer(ctx): Viewer,
    Query(f): Query<QueueFilter>,
) -> Response {
    let q = c.spool.list().await.unwrap_or_default();
    let rows: Vec<serde_json::Value> = queue::filtered(q, &f, &queue::default_upstream(&c))
        .iter()
        .map(queue::entry_json)
        .collect();
    let names: Vec<String> = c
        .live
        .config()
        .upstreams
        .iter()
        .map(|u| u.name.clone())
        .collect();
    page(views::queue(&ctx, &f, &names, &rows))
}

async fn message(State(c): State<Shared>, Viewer(ctx): Viewer, Path(id): Path<String>) -> Response {
    match queue::message_value(&c, &id).await {
        Some(m) => page(views::message(&ctx, &m)),
        None => Redirect::to("/queue").into_response(),
    }
}

async fn queue_action(
    State(c): State<Shared>,
    Path((id, action)): Path<(String, String)>,
    Posted(_, _): Posted<CsrfForm>,
) -> Response {
    let _ = queue::run_queue_action(&c, &id, &action).await;
    let back = if action.starts_with("delete") {
        "/queue".to_string()
    } else {
        format!("/queue/{id}")
    };
    Redirect::to(&back).into_response()
}

async fn limits(State(c): State<Shared>, Viewer(ctx): Viewer) -> Response {
    page(views::limits(&ctx, &api::status_value(&c).await))
}

#[derive(Deserialize, Default)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    upstream: String,
}

async fn limits_reset(State(c): State<Shared>, Posted(_, f): Posted<ResetForm>) -> Response {
    let _ = api::reset(&c, Some(f.upstream)).await;
    Redirect::to("/limits").into_response()
}

#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    error: String,
    #[serde(default)]
    saved: String,
}

async fn test_mode(
    State(c): State<Shared>,
    Viewer(ctx): Viewer,
    Query(n): Query<Notice>,
) -> Response {
    page(views::test_mode(
        &ctx,
        &api::test_mode_value(&c),
        &n.error,
        !n.saved.is_empty(),
    ))
}

#[derive(Deserialize, Default)]
struct TestModeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    redirect_to: String,
}

async fn set_test_mode(State(c): State<Shared>, Posted(_, f): Posted<TestModeForm>) -> Response {
    match edits::test_mode(&c, f.enabled.is_some(), &f.redirect_to).await {
        Ok(_) => Redirect::to("/test-mode?saved=1").into_response(),
        Err(e) => {
            Redirect::to(&format!("/test-mode?error={}", urlencode(&e.to_string()))).into_response()
        }
    }
}

#[derive(Deserialize, Default)]
struct BlacklistQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    error: String,
}

async fn blacklist(
    State(c): State<Shared>,
    Viewer(ctx): Viewer,
    Query(q): Query<BlacklistQuery>,
) -> Response {
    let needle = q.q.to_lowercase();
    let list: Vec<String> = edits::blacklist_entries(&c)
        .await
        .into_iter()
        .filter(|e| needle.is_empty() || e.contains(&needle))
        .collect();
    page(views::blacklist(&ctx, &q.q, &list, &q.error))
}

#[derive(Deserialize, Default)]
struct EntryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    entry: String,
}

async fn blacklist_change(
    State(c): State<Shared>,
    Path(change): Path<String>,
    Posted(_, f): Posted<EntryForm>,
) -> Response {
    let add = match change.as_str() {
        "add" => true,
        "remove" => false,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match edits::blacklist(&c, &f.entry, add).await {
        Ok(()) => Redirect::to("/blacklist").into_response(),
        Err(e) => {
            Redirect::to(&format!("/blacklist?error={}", urlencode(&e.to_string()))).into_response()
        }
    }
}

#[derive(Deserialize, Default)]
struct JournalQuery {
    #[serde(default)]
    filter: String,
}

async fn journal(Viewer(ctx): Viewer, Query(q): Query<JournalQuery>) -> Response {
    page(views::journal(
        &ctx,
        &q.filter,
        &super::journal::JOURNAL.recent(&q.filter, 300),
    ))
}

async fn set_lang(Path(code): Path<String>, headers: HeaderMap) -> Response {
    let lang: Lang = code.parse().unwrap_or_default();
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        })
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\"))
        .unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&back).into_response();
    let cookie = format!("lang={}; SameSite=Strict; Path=/", lang.code());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css")],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        include_str!("../../static/console.js"),
    )
        .into_response()
}

/// For a reason carried back in a redirect's query.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
