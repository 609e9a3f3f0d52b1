//! A stand-in for Microsoft Graph's mail-sending endpoints, for the Graph transport's tests: HTTPS
//! on 127.0.0.1 with an ephemeral port and a certificate from a test CA written to
//! [`GraphServer::ca_file`], bearer tokens checked against the test token service
//! ([`TokenServer::token_client`]), and everything it accepted kept for inspection. Each
//! [`GraphServer::start`] is a new, independent server on its own thread and tokio runtime, so
//! it outlives the runtime of the `#[tokio::test]` that started it; it stops when dropped.
//!
//! What it follows, by Microsoft Graph document (learn.microsoft.com/graph):
//! - "user: sendMail": `POST /v1.0/users/{id | userPrincipalName}/sendMail` with
//!   `Content-Type: text/plain` and the MIME message base64-encoded (line breaks allowed, as in
//!   the page's example) -> `202 Accepted`, empty body; malformed base64 -> `400`
//!   `ErrorMimeContentInvalidBase64String` "Invalid base64 string for MIME content.".
//! - "Send messages with MIME content" / "Create message" (user-post-messages): the same MIME
//!   body on `POST .../messages` creates a draft -> `201` with the message (`isDraft: true`);
//!   "message: send" -> `202`; "Delete message" -> `204`; a sent or deleted draft is gone (`404`
//!   `ErrorItemNotFound`, the code Exchange gives for a missing item).
//! - "Add attachment" (message-post-attachments) and "Attach large files to Outlook messages or
//!   events": a `#microsoft.graph.fileAttachment` of under 3 MB in one POST -> `201`; larger files
//!   through "attachment: createUploadSession" -> `201` uploadSession (`nextExpectedRanges:
//!   ["0-"]`), smaller ones refused with `ErrorAttachmentSizeShouldNotBeLessThanMinimumSize`;
//!   the opaque `uploadUrl` is pre-authenticated (its `authtoken` query) and must be used
//!   unchanged and without an `Authorization` header; each PUT carries `Content-Length` and
//!   `Content-Range: bytes {start}-{end}/{total}`, in order; an intermediate PUT -> `200` with
//!   `ExpirationDateTime` and `nextExpectedRanges: ["{next start}"]` (the page's example,
//!   a bare start for Outlook, per the "uploadSession resource type" page too); the last ->
//!   `201`, `Location` header, empty body; `DELETE` on the URL cancels (`204`).
//! - "Microsoft Graph error responses and resource types": errors are
//!   `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`; 413
//!   "Request Entity Too Large", 416 "Requested Range Not Satisfiable" (code `invalidRange`).
//! - "Microsoft Graph throttling guidance": 429 with a `Retry-After` header in seconds.
//!
//! Stricter than, or not covered by, those pages (chosen for the tests, see each constant): the 4
//! MiB request limit ([`REQUEST_LIMIT`], widely reported, not on the sendMail page); chunks other
//! than the last a multiple of 320 KiB ([`CHUNK_ALIGN`], OneDrive's upload-session rule; the
//! Outlook page's own example uses 2 MiB chunks, which are not); the error codes for 413
//! (`RequestEntityTooLarge`), a misshapen chunk (400 `invalidRange`), an Authorization header
//! on the upload URL (401), an unknown user (404 `Request_ResourceNotFound` on GET users,
//! `ErrorInvalidUser` on mail calls, as Graph answers in practice). Only the MIME form is
//! implemented: a JSON sendMail or draft answers 415.
//!
//! Order of checks on a Graph call: bearer token (401 `InvalidAuthenticationToken`), request size
//! (413), an injected failure ([`GraphServer::fail_next`], POSTs only), a denied app (403
//! `ErrorAccessDenied`), the mailbox (404), then the endpoint's own checks, where
//! [`GraphServer::fail_step`] and [`GraphServer::deny_send_as`] apply.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

use super::token_server::TokenServer;

#[path = "graph_server/endpoints.rs"]
mod endpoints;

/// Largest request body Graph takes (sendMail, create message, add attachment): 4 MiB.
pub const REQUEST_LIMIT: usize = 4 * 1024 * 1024;
/// Largest file for a single attachment POST; larger ones need an upload session, and an
/// upload session refuses smaller ones ("Attach large files to Outlook messages or events").
pub const ATTACHMENT_LIMIT: usize = 3 * 1024 * 1024;
/// Largest chunk in one upload PUT ("up to 4 MB each time", attachment: createUploadSession).
pub const CHUNK_LIMIT: usize = 4 * 1024 * 1024;
/// Every chunk but the last must be a multiple of this (320 KiB = 327,680 bytes).
pub const CHUNK_ALIGN: usize = 320 * 1024;
/// Largest file an upload session takes (150 MB).
pub const UPLOAD_LIMIT: u64 = 150 * 1024 * 1024;
/// Bodies beyond this are not even read (the connection is dropped after a 413).
const READ_CAP: usize = 64 * 1024 * 1024;

/// A step of the large-message path, for [`GraphServer::fail_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// `POST .../messages` (the draft).
    CreateDraft,
    /// `POST .../messages/{id}/attachments` or `.../attachments/createUploadSession`.
    AddAttachment,
    /// A `PUT` to an upload URL.
    UploadChunk,
    /// `POST .../messages/{id}/send`.
    Send,
}

/// A message Graph accepted for sending.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The mailbox's address, as given to [`GraphServer::add_mailbox`].
    pub mailbox: String,
    /// The client_id of the token that sent it.
    pub client_id: String,
    /// The decoded MIME message (for a draft, the MIME it was created from).
    pub mime: Vec<u8>,
    /// Attachments added to the draft: (name, content type, bytes). Empty for sendMail.
    pub attachments: Vec<(String, String, Vec<u8>)>,
    /// Sent through create draft + send rather than sendMail.
    pub via_draft: bool,
}

/// One request the stand-in answered.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub status: u16,
    pub body_len: usize,
    pub had_authorization: bool,
}

struct Injected {
    status: u16,
    code: String,
    retry_after: Option<u64>,
    times: usize,
}

struct Mailbox {
    id: String,
    mail: String,
}

struct Draft {
    mailbox: String,
    mime: Vec<u8>,
    attachments: Vec<(String, String, Vec<u8>)>,
}

struct Session {
    token: String,
    mailbox: String,
    draft: String,
    name: String,
    content_type: String,
    size: u64,
    data: Vec<u8>,
}

#[derive(Default)]
struct State {
    mailboxes: Vec<Mailbox>,
    drafts: HashMap<String, Draft>,
    sessions: HashMap<String, Session>,
    sent: Vec<Sent>,
    requests: Vec<Req>,
    inject: Option<Injected>,
    steps: HashSet<Step>,
    denied_send_as: HashSet<String>,
    denied_clients: HashSet<String>,
}

/// What the request handlers share: the state and the server's own base URL.
struct Ctx {
    state: Mutex<State>,
    base: String,
}

pub struct GraphServer {
    ctx: Arc<Ctx>,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl GraphServer {
    /// A new server on 127.0.0.1:0 with no mailboxes (see [`GraphServer::add_mailbox`]); also
    /// starts the shared [`TokenServer`] if it is not running yet.
    pub fn start() -> GraphServer {
        TokenServer::get();
        let dir = tempfile::Builder::new()
            .prefix("smarthost-graph-")
            .tempdir()
            .unwrap();
        let (ca_pem, tls) = tls_config();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = Arc::new(Ctx {
            state: Mutex::new(State::default()),
            base: format!("https://127.0.0.1:{}", addr.port()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let c = ctx.clone();
        std::thread::spawn(move || run(listener, tls, c, stopped));
        GraphServer {
            ctx,
            dir,
            stop: Some(stop),
        }
    }

    /// `https://127.0.0.1:PORT`, the Graph base URL (requests go to `{url}/v1.0/...`).
    pub fn url(&self) -> String {
        self.ctx.base.clone()
    }

    /// The PEM file of the CA that signed the server's certificate (for `ca_file`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Makes `mailbox` (an address, matched case-insensitively) a licensed user mailbox.
    pub fn add_mailbox(&self, mailbox: &str) {
        let mut st = self.state();
        let id = format!("{:08x}-0000-4000-8000-{:012x}", rand::random::<u32>(), {
            rand::random::<u64>() & 0xffff_ffff_ffff
        });
        st.mailboxes.push(Mailbox {
            id,
            mail: mailbox.to_string(),
        });
    }

    /// The next `times` POSTs to Graph (sendMail, create draft, attachments, upload session,
    /// send) answer `status` with a Graph error of `code`, and `Retry-After` when given. Replaces
    /// an earlier injection. GETs, DELETEs, upload PUTs and the token service are not affected.
    pub fn fail_next(&self, status: u16, code: &str, retry_after_secs: Option<u64>, times: usize) {
        self.state().inject = Some(Injected {
            status,
            code: code.to_string(),
            retry_after: retry_after_secs,
            times,
        });
    }

    /// The next time `step` is reached it answers 503 `ServiceUnavailable` (once).
    pub fn fail_step(&self, step: Step) {
        self.state().steps.insert(step);
    }

    /// sendMail and draft send for `mailbox` answer 403 `ErrorSendAsDenied`.
    pub fn deny_send_as(&self, mailbox: &str) {
        self.state()
            .denied_send_as
            .insert(mailbox.to_ascii_lowercase());
    }

    /// Every Graph call with a token of `client_id` answers 403 `ErrorAccessDenied` (no Mail.Send
    /// consent, or an application access policy that excludes the mailbox).
    pub fn deny_client(&self, client_id: &str) {
        self.state().denied_clients.insert(client_id.to_string());
    }

    /// Everything accepted for sending so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<Req> {
        self.state().requests.clone()
    }

    /// Drafts created and neither sent nor deleted.
    pub fn drafts(&self) -> usize {
        self.state().drafts.len()
    }

    /// Upload sessions created and neither completed nor cancelled (nor dropped with their draft).
    pub fn upload_sessions(&self) -> usize {
        self.state().sessions.len()
    }

    /// Polls (every 20 ms, without blocking the runtime) until at least `n` messages were sent;
    /// returns them all. Panics after `timeout`, listing the requests seen.
    pub async fn wait_sent(&self, n: usize, timeout: Duration) -> Vec<Sent> {
        let deadline = Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "Graph stand-in: {} of {n} messages sent after {timeout:?}; requests: {:#?}",
                sent.len(),
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.ctx.state.lock().unwrap()
    }
}

impl Drop for GraphServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A test CA (CA:TRUE) and a server certificate for 127.0.0.1 and localhost signed by it.
fn tls_config() -> (String, tokio_rustls::TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "smarthost test Graph CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "graph.test");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

/// The server thread: accepts until the [`GraphServer`] is dropped.
fn run(
    listener: std::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    ctx: Arc<Ctx>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(connection(stream, tls.clone(), ctx.clone()));
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = stopped => {}
        }
    });
}

async fn connection(stream: tokio::net::TcpStream, tls: tokio_rustls::TlsAcceptor, ctx: Arc<Ctx>) {
    let Ok(stream) = tls.accept(stream).await else {
        return;
    };
    let svc = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(answer(req, &ctx).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

/// A request as the handlers see it: the whole body read, the path split and percent-decoded.
struct Call {
    method: Method,
    segments: Vec<String>,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

async fn answer(req: Request<Incoming>, ctx: &Ctx) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let had_authorization = parts.headers.contains_key(hyper::header::AUTHORIZATION);
    let (reply, body_len) = match Limited::new(body, READ_CAP).collect().await {
        Ok(b) => {
            let call = Call {
                method: parts.method.clone(),
                segments: path.split('/').skip(1).map(percent_decode).collect(),
                query: parts.uri.query().unwrap_or("").to_string(),
                headers: parts.headers,
                body: b.to_bytes(),
            };
            (endpoints::route(ctx, &call), call.body.len())
        }
        Err(_) => (Reply::too_large(), READ_CAP),
    };
    ctx.state.lock().unwrap().requests.push(Req {
        method: parts.method.to_string(),
        path,
        status: reply.status,
        body_len,
        had_authorization,
    });
    reply.into_response()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer: status, extra headers, body (JSON unless empty).
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: v.to_string().into_bytes(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A Graph error body ("Microsoft Graph error responses and resource types").
    fn error(status: u16, code: &str, message: &str) -> Reply {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let id = format!("{:032x}", rand::random::<u128>());
        Reply::json(
            status,
            serde_json::json!({ "error": {
                "code": code,
                "message": message,
                "innerError": { "date": now, "request-id": id, "client-request-id": id }
            }}),
        )
    }

    fn too_large() -> Reply {
        Reply::error(
            413,
            "RequestEntityTooLarge",
            "The maximum request length supported is 4MB.",
        )
    }

    fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut b = Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(*k, v.as_str());
        }
        b.body(Full::new(Bytes::from(self.body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}
