//! The server list in the JSON API (`/api/v1/servers...`, `/api/v1/presets`): list, one server,
//! create, change, delete, set as default, export as CSV or JSON, and the Tester. Same logins as
//! the rest of the API (a session with its CSRF token for changes, or a Bearer token). Messages
//! are in the caller's language (`?lang=`, the `lang` cookie, or `Accept-Language`); an invalid
//! value answers 422 naming its field. No answer ever holds a password.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::guard::{Reader, Said, Writer};
use super::servers::{ServerError, ServerInput, presets_json, views};
use super::tester::{self, TestInput};
use super::{Shared, server_edits};
use crate::admin::Format;

pub fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/servers", get(list).post(create))
        .route("/servers/export.csv", get(export_csv))
        .route("/servers/export.json", get(export_json))
        .route("/servers/{name}", get(one).post(update).delete(delete))
        .route("/servers/{name}/delete", post(delete))
        .route("/servers/{name}/default", post(make_default))
        .route("/servers/{name}/test", post(test))
        .route("/presets", get(presets))
}

/// The answer to a refused change: its status, the message, and each field's own.
pub fn failure(e: &ServerError) -> Response {
    let status = match e {
        ServerError::Fields(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServerError::NotFound(_) => StatusCode::NOT_FOUND,
        ServerError::Refused(_) => StatusCode::CONFLICT,
        ServerError::Edit(super::edits::EditError::Config(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        ServerError::Edit(super::edits::EditError::Invalid(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        ServerError::Edit(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let fields = e.fields();
    let first = fields.first().map(|f| f.field.clone()).unwrap_or_default();
    let body = json!({ "error": e.to_string(), "field": first, "fields": fields });
    (status, Json(body)).into_response()
}

/// A body that is not the JSON expected: 422 with serde's words (they name the field).
fn bad_body(e: JsonRejection) -> Response {
    let body = json!({ "error": e.body_text(), "field": "", "fields": [] });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

fn done(c: &Shared, name: Option<&str>, notes: Vec<String>, status: StatusCode) -> Response {
    let server = name.and_then(|n| views(&c.live.config()).into_iter().find(|v| v.name == n));
    (status, Json(json!({ "server": server, "notes": notes }))).into_response()
}

async fn list(State(c): State<Shared>, _: Reader) -> Response {
    Json(views(&c.live.config())).into_response()
}

async fn one(
    State(c): State<Shared>,
    _: Reader,
    Path(name): Path<String>,
    Said(lang): Said,
) -> Response {
    match views(&c.live.config()).into_iter().find(|v| v.name == name) {
        Some(v) => Json(v).into_response(),
        None => failure(&ServerError::NotFound(crate::catalog::text(
            lang,
            "console-server-unknown",
            &[("name", &name)],
        ))),
    }
}

async fn create(
    State(c): State<Shared>,
    _: Writer,
    Said(lang): Said,
    body: Result<Json<ServerInput>, JsonRejection>,
) -> Response {
    let Json(input) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let name = input.name.clone().unwrap_or_default();
    match server_edits::create(&c, input, lang).await {
        Ok(notes) => done(&c, Some(name.trim()), notes, StatusCode::CREATED),
        Err(e) => failure(&e),
    }
}

async fn update(
    State(c): State<Shared>,
    _: Writer,
    Path(name): Path<String>,
    Said(lang): Said,
    body: Result<Json<ServerInput>, JsonRejection>,
) -> Response {
    let Json(input) = match body {
        Ok(b) => b,
        Err(e) => return bad_body(e),
    };
    let new_name = input
        .name
        .clone()
        .map(|n| n.trim().to_string())
        .unwrap_or(name.clone());
    match server_edits::update(&c, &name, input, lang).await {
        Ok(notes) => done(&c, Some(&new_name), notes, StatusCode::OK),
        Err(e) => failure(&e),
    }
}

async fn delete(
    State(c): State<Shared>,
    _: Writer,
    Path(name): Path<String>,
    Said(lang): Said,
) -> Response {
    match server_edits::delete(&c, &name, lang).await {
        Ok(notes) => done(&c, None, notes, StatusCode::OK),
        Err(e) => failure(&e),
    }
}

async fn make_default(
    State(c): State<Shared>,
    _: Writer,
    Path(name): Path<String>,
    Said(lang): Said,
) -> Response {
    match server_edits::make_default(&c, &name, lang).await {
        Ok(notes) => done(&c, Some(&name), notes, StatusCode::OK),
        Err(e) => failure(&e),
    }
}

/// The Tester: a state-changing request (it sends a message), so it carries the CSRF token.
async fn test(
    State(c): State<Shared>,
    _: Writer,
    Path(name): Path<String>,
    Said(lang): Said,
    body: Result<Json<TestInput>, JsonRejection>,
) -> Response {
    // No body at all: the defaults (connection and login only, the caller's language).
    let input = match body {
        Ok(Json(b)) => b,
        Err(JsonRejection::MissingJsonContentType(_)) => TestInput::default(),
        Err(e) => return bad_body(e),
    };
    match tester::run(&c, &name, input, lang).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => failure(&e),
    }
}

async fn presets(_: Reader, Said(lang): Said) -> Response {
    Json(presets_json(lang)).into_response()
}

/// The server list as a file to save (`smarthost upstreams --format csv|json`).
fn export(c: &Shared, format: Format) -> Response {
    let (kind, file) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "servers.csv"),
        _ => ("application/json", "servers.json"),
    };
    let body = crate::admin::upstreams(&c.live.config(), format);
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn export_csv(State(c): State<Shared>, _: Reader) -> Response {
    export(&c, Format::Csv)
}

async fn export_json(State(c): State<Shared>, _: Reader) -> Response {
    export(&c, Format::Json)
}
