//! Microsoft Graph as a way out for mail (`kind = "graph"`): the final MIME message, base64,
//! to `POST /v1.0/users/{mailbox}/sendMail` (documented answer: `202 Accepted`), or, above
//! Graph's 4 MB request limit, through a draft, its attachments (upload sessions for those over
//! 3 MB) and `send`. Owns the HTTP conversation and the app's tokens (`crate::oauth2`, the
//! client-credentials grant for `Mail.Send`); never decides retries or bounces: an error says
//! what Graph answered and [`error::Meaning`] what that means.

pub mod error;
mod large;
pub mod recipients;
mod state;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::{Method, StatusCode};

use crate::config::GraphUpstream;
use crate::oauth2::TokenSource;
pub use error::GraphError;

/// Graph refuses requests over 4 MB (`413`); a base64 MIME body up to this size goes in one
/// `sendMail`, a larger one through a draft. Kept under 4 MiB for the request's own framing.
pub const ONE_REQUEST: usize = 4_000_000;

/// One upstream's Graph conversation.
pub struct GraphClient {
    upstream: String,
    cfg: GraphUpstream,
    http: reqwest::Client,
    tokens: TokenSource,
    drafts: state::DraftBook,
}

/// What a request carries.
enum Body {
    Empty,
    /// Base64 MIME, as `sendMail` and "create message" take it.
    Mime(String),
    Json(serde_json::Value),
}

impl GraphClient {
    pub fn new(
        upstream: &str,
        cfg: &GraphUpstream,
        spool: &Path,
    ) -> Result<GraphClient, GraphError> {
        let tokens = TokenSource::new(upstream, &cfg.oauth2, spool)?;
        Ok(GraphClient {
            upstream: upstream.to_string(),
            http: http_client(cfg)?,
            tokens,
            drafts: state::DraftBook::new(spool, upstream),
            cfg: cfg.clone(),
        })
    }

    /// The app's tokens.
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// The mailbox mail from `sender` is sent as: the configured one, else the sender.
    pub fn mailbox<'a>(&'a self, sender: &'a str) -> &'a str {
        self.cfg.mailbox.as_deref().unwrap_or(sender)
    }

    /// Sends `mime` as `mailbox`. `key` names this transaction durably (queue id and part), so a
    /// draft begun in an earlier attempt is finished or cleaned up, never sent twice.
    pub async fn send(&self, mailbox: &str, mime: &[u8], key: &str) -> Result<(), GraphError> {
        check_mailbox(mailbox)?;
        if let Some(done) = large::resume(self, mailbox, key).await? {
            return done;
        }
        let b64 = B64.encode(mime);
        if b64.len() <= ONE_REQUEST {
            let url = self.user_url(mailbox, "/sendMail");
            self.call(Method::POST, &url, Body::Mime(b64)).await?;
            return Ok(());
        }
        drop(b64);
        large::send(self, mailbox, mime, key).await
    }

    /// `GET /v1.0/users/{mailbox}`: the mailbox exists and the app may see it (send-test).
    pub async fn lookup(&self, mailbox: &str) -> Result<(), GraphError> {
        check_mailbox(mailbox)?;
        self.call(Method::GET, &self.user_url(mailbox, ""), Body::Empty)
            .await
            .map(|_| ())
    }

    /// A token for Graph now (send-test shows the step).
    pub async fn token(&self) -> Result<(), GraphError> {
        self.tokens
            .token()
            .await
            .map(|_| ())
            .map_err(GraphError::from)
    }

    fn user_url(&self, mailbox: &str, rest: &str) -> String {
        format!("{}/v1.0/users/{mailbox}{rest}", self.cfg.graph_url)
    }

    /// One request with the app's token; a `401` drops the token and tries once more with a
    /// fresh one (the documented answer to an expired or revoked token).
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Body,
    ) -> Result<reqwest::Response, GraphError> {
        let mut fresh_tried = false;
        loop {
            let token = self.tokens.token().await?;
            let req = self.http.request(method.clone(), url).bearer_auth(&token);
            let req = match &body {
                Body::Empty => req,
                Body::Mime(b64) => req.header("Content-Type", "text/plain").body(b64.clone()),
                Body::Json(v) => req.json(v),
            };
            let resp = req.send().await.map_err(unreachable)?;
            if resp.status() == StatusCode::UNAUTHORIZED && !fresh_tried {
                fresh_tried = true;
                self.tokens.reject(&token).await;
                continue;
            }
            return answer(resp).await;
        }
    }

    /// A request to a pre-authenticated URL (an upload session): no `Authorization` header.
    async fn put_chunk(
        &self,
        url: &str,
        range: String,
        chunk: Vec<u8>,
    ) -> Result<reqwest::Response, GraphError> {
        let resp = self
            .http
            .put(url)
            .header("Content-Range", range)
            .header("Content-Type", "application/octet-stream")
            .body(chunk)
            .send()
            .await
            .map_err(unreachable)?;
        answer(resp).await
    }
}

/// A success, or Graph's error read from its body.
async fn answer(resp: reqwest::Response) -> Result<reqwest::Response, GraphError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let retry = error::retry_after(
        resp.headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok()),
    );
    let body = resp.bytes().await.unwrap_or_default();
    Err(error::from_body(
        status,
        &body[..body.len().min(64 * 1024)],
        retry,
    ))
}

fn unreachable(e: reqwest::Error) -> GraphError {
    GraphError::Unreachable(e.without_url().to_string())
}

/// The mailbox goes into a URL path: only what an address may hold there.
fn check_mailbox(mailbox: &str) -> Result<(), GraphError> {
    let ok = mailbox.contains('@')
        && !mailbox.is_empty()
        && mailbox
            .chars()
            .all(|c| c.is_ascii_graphic() && !"/\\?#%\"<>".contains(c));
    if ok {
        Ok(())
    } else {
        Err(GraphError::Local(format!(
            "`{}` cannot be sent as through Graph: not a plain mailbox address",
            mailbox.escape_debug()
        )))
    }
}

fn http_client(cfg: &GraphUpstream) -> Result<reqwest::Client, GraphError> {
    let mut b = reqwest::Client::builder()
        // Per read, not per request: a 25 MB upload may take longer than one read may.
        .connect_timeout(cfg.timeout)
        .read_timeout(cfg.timeout)
        .user_agent(concat!("smarthost/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            GraphError::Local(format!("cannot read ca_file {}: {e}", path.display()))
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            GraphError::Local(format!(
                "ca_file {} is not a PEM certificate: {e}",
                path.display()
            ))
        })?;
        b = b.tls_certs_merge([cert]);
    }
    b.build()
        .map_err(|e| GraphError::Local(format!("cannot set up HTTPS: {e}")))
}
