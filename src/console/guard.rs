//! Who may run a handler, decided before it runs: axum extractors, so each handler names its
//! guard in its signature (`Reader`, `Writer`, `Viewer`, `Posted`) instead of repeating the
//! checks in its body. Owns the answers to a missing login (401 for the API, the login page for
//! pages) and to a missing CSRF token (403), and what a page knows of its session (language,
//! CSRF token, test mode); never looks at what the request asks for.

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::{Caller, Shared, caller, cookie, csrf_ok, refused};
use crate::catalog::Lang;

/// An API read: a console session or a Bearer token.
pub struct Reader;

/// An API change: a Bearer token, or a session whose request carries `X-CSRF-Token`.
pub struct Writer(pub Caller);

/// A page: a console session, with what the page needs to know about it.
pub struct Viewer(pub Ctx);

/// A form post: the session, and the form whose `csrf` field matches the session's token.
pub struct Posted<F>(pub Ctx, pub F);

/// A form with the session's CSRF token in a field.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// The language an API caller asked for: `?lang=`, else the page's (cookie, then
/// `Accept-Language`).
pub struct Said(pub Lang);

impl FromRequestParts<Shared> for Said {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Shared) -> Result<Self, Self::Rejection> {
        let asked = parts.uri.query().unwrap_or("").split('&').find_map(|kv| {
            kv.strip_prefix("lang=")
                .and_then(|l| l.parse::<Lang>().ok())
        });
        Ok(Said(asked.unwrap_or_else(|| lang(&parts.headers))))
    }
}

/// `CsrfField` for forms whose token is their `csrf` field.
macro_rules! csrf_in_field {
    ($($form:ty),* $(,)?) => {
        $(impl $crate::console::guard::CsrfField for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(super) use csrf_in_field;

fn log_in_first() -> Response {
    refused(StatusCode::UNAUTHORIZED, "log in first")
}

fn forged() -> Response {
    refused(StatusCode::FORBIDDEN, "missing or wrong CSRF token")
}

impl FromRequestParts<Shared> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Shared) -> Result<Self, Response> {
        caller(c, &parts.headers)
            .map(|_| Reader)
            .ok_or_else(log_in_first)
    }
}

impl FromRequestParts<Shared> for Writer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Shared) -> Result<Self, Response> {
        let who = caller(c, &parts.headers).ok_or_else(log_in_first)?;
        if csrf_ok(&who, &parts.headers, None) {
            Ok(Writer(who))
        } else {
            Err(forged())
        }
    }
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Shared) -> Result<Self, Response> {
        session_ctx(c, &parts.headers)
            .map(Viewer)
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

fn session_ctx(c: &Shared, headers: &HeaderMap) -> Option<Ctx> {
    match caller(c, headers)? {
        Caller::Session { csrf, .. } => Some(page_context(c, headers, csrf)),
        Caller::Token => None,
    }
}

impl<F> FromRequest<Shared> for Posted<F>
where
    F: DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, c: &Shared) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Some(ctx) = session_ctx(c, &headers) else {
            return Err(Redirect::to("/login").into_response());
        };
        let Form(form) = Form::<F>::from_request(req, c)
            .await
            .map_err(IntoResponse::into_response)?;
        let session = Caller::Session {
            id: String::new(),
            csrf: ctx.csrf.clone(),
        };
        if csrf_ok(&session, &headers, Some(form.csrf())) {
            Ok(Posted(ctx, form))
        } else {
            Err(forged())
        }
    }
}

/// The page's language: the one chosen, else the browser's.
pub fn lang(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, "lang").and_then(|l| l.parse().ok()) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::negotiate)
        .unwrap_or_default()
}

/// What a page needs to know about its request.
pub struct Ctx {
    pub lang: Lang,
    pub csrf: String,
    pub test_mode: Option<String>,
}

/// The page context of a logged-in session (its CSRF token goes into the page's forms).
fn page_context(c: &Shared, headers: &HeaderMap, csrf: String) -> Ctx {
    Ctx {
        lang: lang(headers),
        csrf,
        test_mode: c.live.policy().test_mode().then(|| {
            c.live
                .config()
                .policy
                .test_mode
                .redirect_to
                .clone()
                .unwrap_or_default()
        }),
    }
}
