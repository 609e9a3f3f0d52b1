//! The JSON API (`/api/v1/`): every action the pages offer, for the pages' script and for
//! scripts with a Bearer token. Reads answer 200 with JSON; a state-changing request from a
//! browser session without its CSRF token answers 403; without a login, 401. Values a client
//! or an upstream chose are returned as data (JSON-escaped), never as markup.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::guard::{Reader, Writer};
use super::journal::{CHARTED, JOURNAL};
use super::queue::{
    QueueFilter, counts, default_upstream, entry_json, filtered, message_value, run_queue_action,
};
use super::{Caller, Shared, edits, fail};
use crate::spool::now_ms;

pub fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/status", get(status))
        .route("/upstreams", get(upstreams))
        .route("/queue", get(queue))
        .route("/queue/{id}", get(message))
        .route("/queue/{id}/{action}", post(queue_action))
        .route("/limits", get(limits))
        .route("/limits/reset", post(limits_reset))
        .route("/test-mode", get(test_mode).post(set_test_mode))
        .route("/blacklist", get(blacklist).post(blacklist_add))
        .route("/blacklist/remove", post(blacklist_remove))
        .route("/journal", get(journal))
        .route("/journal/stream", get(journal_stream))
        .route("/tokens", get(tokens).post(new_token))
}

pub async fn status_value(c: &Shared) -> serde_json::Value {
    let q = c.spool.list().await.unwrap_or_default();
    let upstreams: Vec<_> = c
        .live
        .delivery()
        .limits_now()
        .await
        .into_iter()
        .map(|u| {
            let h = c.metrics.health(&u.name);
            json!({
                "name": u.name,
                "health": h.state,
                "last_success": h.last_success,
                "last_error": h.last_error,
                "connections": u.connections,
                "paused_until": u.paused_until.map(crate::throttle::local),
                "quota": u.windows.iter().map(|w| json!({
                    "window": w.window, "used": w.used, "limit": w.limit,
                    "left": u64::from(w.limit).saturating_sub(w.used),
                    "next_at": w.free_at.map(crate::throttle::local),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let chart: Vec<_> = JOURNAL
        .last_day(now_ms())
        .into_iter()
        .map(|(hour, n)| {
            let mut o = json!({ "hour": hour });
            for (i, name) in CHARTED.iter().enumerate() {
                o[*name] = json!(n[i]);
            }
            o
        })
        .collect();
    json!({
        "test_mode": c.live.policy().test_mode(),
        "queue": counts(&q),
        "upstreams": upstreams,
        "last_day": chart,
    })
}

async fn status(State(c): State<Shared>, _: Reader) -> Response {
    Json(status_value(&c).await).into_response()
}

async fn upstreams(State(c): State<Shared>, _: Reader) -> Response {
    let text = crate::admin::upstreams(&c.live.config(), crate::admin::Format::Json);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Json(v).into_response()
}

async fn queue(State(c): State<Shared>, _: Reader, Query(f): Query<QueueFilter>) -> Response {
    match c.spool.list().await {
        Ok(q) => Json(
            filtered(q, &f, &default_upstream(&c))
                .iter()
                .map(entry_json)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn message(State(c): State<Shared>, _: Reader, Path(id): Path<String>) -> Response {
    match message_value(&c, &id).await {
        Some(v) => Json(v).into_response(),
        None => fail(
            StatusCode::NOT_FOUND,
            format!("no message {id} in the queue"),
        ),
    }
}

async fn queue_action(
    State(c): State<Shared>,
    _: Writer,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    match run_queue_action(&c, &id, &action).await {
        Ok(text) => Json(json!({ "done": text.trim() })).into_response(),
        Err(r) => r,
    }
}

async fn limits(State(c): State<Shared>, _: Reader) -> Response {
    Json(status_value(&c).await["upstreams"].clone()).into_response()
}

#[derive(Deserialize, Default)]
pub struct ResetBody {
    #[serde(default)]
    pub upstream: Option<String>,
}

pub async fn reset(c: &Shared, upstream: Option<String>) -> Result<String, Response> {
    let config = c.live.config();
    let cmd = crate::admin::LimitsCommand::Reset(upstream.filter(|u| !u.is_empty()));
    tokio::task::spawn_blocking(move || crate::admin::limits(&config, &cmd))
        .await
        .map_err(|e| fail(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .map_err(|e| fail(StatusCode::NOT_FOUND, e))
}

async fn limits_reset(
    State(c): State<Shared>,
    _: Writer,
    body: Option<Json<ResetBody>>,
) -> Response {
    let upstream = body.and_then(|b| b.0.upstream);
    match reset(&c, upstream).await {
        Ok(text) => Json(json!({ "done": text.trim() })).into_response(),
        Err(r) => r,
    }
}

pub fn test_mode_value(c: &Shared) -> serde_json::Value {
    let t = c.live.config().policy.test_mode.clone();
    json!({ "enabled": c.live.policy().test_mode(), "redirect_to": t.redirect_to })
}

async fn test_mode(State(c): State<Shared>, _: Reader) -> Response {
    Json(test_mode_value(&c)).into_response()
}

#[derive(Deserialize)]
pub struct TestModeBody {
    pub enabled: bool,
    #[serde(default)]
    pub redirect_to: String,
}

async fn set_test_mode(
    State(c): State<Shared>,
    _: Writer,
    Json(b): Json<TestModeBody>,
) -> Response {
    match edits::test_mode(&c, b.enabled, &b.redirect_to).await {
        Ok(notes) => {
            Json(json!({ "test_mode": test_mode_value(&c), "notes": notes })).into_response()
        }
        Err(e) => fail(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    pub q: String,
}

async fn blacklist(State(c): State<Shared>, _: Reader, Query(s): Query<Search>) -> Response {
    let q = s.q.to_lowercase();
    let list: Vec<String> = edits::blacklist_entries(&c)
        .await
        .into_iter()
        .filter(|e| q.is_empty() || e.to_lowercase().contains(&q))
        .collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
pub struct EntryBody {
    pub entry: String,
}

async fn blacklist_add(State(c): State<Shared>, _: Writer, Json(b): Json<EntryBody>) -> Response {
    blacklist_change(c, b.entry, true).await
}

async fn blacklist_remove(
    State(c): State<Shared>,
    _: Writer,
    Json(b): Json<EntryBody>,
) -> Response {
    blacklist_change(c, b.entry, false).await
}

async fn blacklist_change(c: Shared, entry: String, add: bool) -> Response {
    match edits::blacklist(&c, &entry, add).await {
        Ok(()) => Json(edits::blacklist_entries(&c).await).into_response(),
        Err(e) => fail(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize, Default)]
pub struct JournalQuery {
    #[serde(default)]
    pub filter: String,
    #[serde(default)]
    pub limit: Option<usize>,
}

async fn journal(_: Reader, Query(q): Query<JournalQuery>) -> Response {
    Json(JOURNAL.recent(&q.filter, q.limit.unwrap_or(200).min(2000))).into_response()
}

/// New mail-log events as they happen (server-sent events), filtered like the journal.
async fn journal_stream(_: Reader, Query(q): Query<JournalQuery>) -> Response {
    let rx = JOURNAL.subscribe();
    let filter = q.filter;
    let stream = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if filter.is_empty() || e.mentions(&filter) => {
                    let ev = SseEvent::default().json_data(&e).unwrap_or_default();
                    return Some((Ok::<_, std::convert::Infallible>(ev), (rx, filter)));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn tokens(State(c): State<Shared>, _: Reader) -> Response {
    Json(c.auth.api_tokens()).into_response()
}

#[derive(Deserialize)]
pub struct TokenBody {
    pub label: String,
}

async fn new_token(
    State(c): State<Shared>,
    Writer(who): Writer,
    Json(b): Json<TokenBody>,
) -> Response {
    // A token is made from a console session only, never from another token.
    if let Caller::Token = who {
        return fail(StatusCode::FORBIDDEN, "tokens are made in the console");
    }
    let label: String = b
        .label
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    Json(json!({ "label": label, "token": c.auth.new_api_token(&label) })).into_response()
}
