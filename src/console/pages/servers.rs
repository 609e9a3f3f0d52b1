//! The Servers pages: the list, the form that creates or edits a server, delete and set as
//! default, and the Tester. Plain forms posting the session's CSRF token, so they work without
//! script; a refused change shows the form again as typed (never the password) with each
//! error beside its field. The work is done by `server_edits` and `tester`, as for the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::server_views::{self as markup, FormValues};
use super::{Shared, page, urlencode};
use crate::console::guard::{Posted, Viewer, csrf_in_field};
use crate::console::server_edits;
use crate::console::servers::{ServerError, ServerInput, views};
use crate::console::tester::{self, TestInput};

pub fn routes() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/servers", get(list))
        .route("/servers/new", get(new_form).post(create))
        .route("/servers/{name}/edit", get(edit_form).post(update))
        .route("/servers/{name}/delete", post(delete))
        .route("/servers/{name}/default", post(make_default))
        .route("/servers/{name}/test", get(tester_form).post(test))
}

csrf_in_field!(ServerForm, CsrfForm, TestForm);

#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    saved: String,
    #[serde(default)]
    error: String,
}

async fn list(State(c): State<Shared>, Viewer(ctx): Viewer, Query(n): Query<Notice>) -> Response {
    page(markup::list(
        &ctx,
        &views(&c.live.config()),
        !n.saved.is_empty(),
        &n.error,
    ))
}

/// The form as posted; every field is sent, so none is "left as it is" except the password.
#[derive(Deserialize, Default)]
struct ServerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    preset: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    conn: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    ca_file: String,
    #[serde(default)]
    senders: String,
    #[serde(default)]
    default: Option<String>,
}

impl ServerForm {
    fn input(&self) -> ServerInput {
        ServerInput {
            name: Some(self.name.clone()),
            preset: Some(self.preset.clone()),
            host: Some(self.host.clone()),
            port: Some(Value::String(self.port.clone())),
            conn: Some(self.conn.clone()),
            auth: Some(self.auth.clone()),
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            ca_file: Some(self.ca_file.clone()),
            senders: Some(Value::String(self.senders.clone())),
            default: Some(self.default.is_some()),
        }
    }

    /// What the form shows again after a refusal: as typed, without the password.
    fn values(&self, password_set: bool) -> FormValues {
        FormValues {
            name: self.name.clone(),
            preset: self.preset.clone(),
            host: self.host.clone(),
            port: self.port.clone(),
            conn: self.conn.clone(),
            auth: self.auth.clone(),
            username: self.username.clone(),
            password_set,
            ca_file: self.ca_file.clone(),
            senders: self.senders.clone(),
            default: self.default.is_some(),
        }
    }
}

async fn new_form(Viewer(ctx): Viewer) -> Response {
    let values = FormValues {
        conn: "auto".into(),
        auth: "auto".into(),
        ..FormValues::default()
    };
    page(markup::form(&ctx, None, &values, &[]))
}

async fn create(State(c): State<Shared>, Posted(ctx, f): Posted<ServerForm>) -> Response {
    match server_edits::create(&c, f.input(), ctx.lang).await {
        Ok(_) => Redirect::to("/servers?saved=1").into_response(),
        Err(e) => refused_form(markup::form(&ctx, None, &f.values(false), &e.fields())),
    }
}

async fn edit_form(
    State(c): State<Shared>,
    Viewer(ctx): Viewer,
    Path(name): Path<String>,
) -> Response {
    match views(&c.live.config()).iter().find(|v| v.name == name) {
        Some(v) => page(markup::form(&ctx, Some(&name), &FormValues::from(v), &[])),
        None => Redirect::to("/servers").into_response(),
    }
}

async fn update(
    State(c): State<Shared>,
    Path(name): Path<String>,
    Posted(ctx, f): Posted<ServerForm>,
) -> Response {
    let password_set = views(&c.live.config())
        .iter()
        .any(|v| v.name == name && v.password.is_some());
    match server_edits::update(&c, &name, f.input(), ctx.lang).await {
        Ok(_) => Redirect::to("/servers?saved=1").into_response(),
        Err(e) => refused_form(markup::form(
            &ctx,
            Some(&name),
            &f.values(password_set),
            &e.fields(),
        )),
    }
}

fn refused_form(m: maud::Markup) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page(m)).into_response()
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Back to the list, saying what was done or why not.
fn back(result: Result<Vec<String>, ServerError>) -> Response {
    match result {
        Ok(_) => Redirect::to("/servers?saved=1").into_response(),
        Err(e) => {
            Redirect::to(&format!("/servers?error={}", urlencode(&e.to_string()))).into_response()
        }
    }
}

async fn delete(
    State(c): State<Shared>,
    Path(name): Path<String>,
    Posted(ctx, _): Posted<CsrfForm>,
) -> Response {
    back(server_edits::delete(&c, &name, ctx.lang).await)
}

async fn make_default(
    State(c): State<Shared>,
    Path(name): Path<String>,
    Posted(ctx, _): Posted<CsrfForm>,
) -> Response {
    back(server_edits::make_default(&c, &name, ctx.lang).await)
}

async fn tester_form(
    State(c): State<Shared>,
    Viewer(ctx): Viewer,
    Path(name): Path<String>,
) -> Response {
    if c.live.config().upstream(&name).is_none() {
        return Redirect::to("/servers").into_response();
    }
    page(markup::tester(&ctx, &name, "", None, &[]))
}

#[derive(Deserialize, Default)]
struct TestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

async fn test(
    State(c): State<Shared>,
    Path(name): Path<String>,
    Posted(ctx, f): Posted<TestForm>,
) -> Response {
    let input = TestInput {
        to: Some(f.to.clone()),
        ..TestInput::default()
    };
    match tester::run(&c, &name, input, ctx.lang).await {
        Ok(r) => page(markup::tester(&ctx, &name, &f.to, Some(&r), &[])),
        Err(e) => refused_form(markup::tester(&ctx, &name, &f.to, None, &e.fields())),
    }
}

#[cfg(test)]
mod tests {
    use super::markup::href;

    #[test]
    fn a_name_from_the_file_is_escaped_in_its_url() {
        assert_eq!(href("office365"), "office365");
        assert_eq!(href("a b/../c"), "a%20b%2F..%2Fc");
    }
}
