//! An OAuth2 token service for the tests, on 127.0.0.1:2980 (the port the Postfix harness's
//! Dovecot asks for introspection, see tests/harness/README.md): a token endpoint (client
//! credentials, refresh tokens that rotate on every use, the device flow), a device
//! authorization endpoint, and RFC 7662 introspection. Tokens live a few seconds; every request is
//! counted, and a client can be made to fail on demand. A client registered with a certificate
//! authenticates with an RFC 7523 client assertion, checked here: its signature with the
//! certificate's public key, `x5t#S256`, `aud`, `iss`, `sub`, `jti` (never twice), `nbf` and
//! `exp` (at most 10 minutes apart). One server per test binary, on its own
//! thread, shared by the tests through per-client state (each test uses its own client_id).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub const ADDR: &str = "127.0.0.1:2980";
/// The mailbox every token is issued for (the harness's SASL user).
pub const USER: &str = "relay@example.test";
pub const SECRET: &str = "client-s3cret";

#[derive(Debug, Default, Clone)]
pub struct Client {
    pub lifetime: Duration,
    /// The refresh token that works now; each use replaces it.
    pub refresh_token: Option<String>,
    pub token_requests: usize,
    pub refreshes: usize,
    /// Answer the next N token requests with 503.
    pub fail_next: usize,
    /// Refuse every refresh with `invalid_grant`.
    pub revoked: bool,
    /// Device flow: polls answered `authorization_pending` before the sign-in "happens".
    pub pending_polls: usize,
    pub device_polls: usize,
    pub introspected_active: usize,
    pub introspected_inactive: usize,
    pub issued: Vec<String>,
    /// DER of the certificate whose key signs this client's assertions (instead of a secret).
    pub certificate: Option<Vec<u8>>,
    /// The claims of every assertion accepted, and why the others were refused.
    pub assertions: Vec<serde_json::Value>,
    pub assertion_errors: Vec<String>,
}

struct Token {
    client: String,
    expires: Instant,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, Client>,
    tokens: HashMap<String, Token>,
    serial: u64,
    /// Every `jti` accepted: a replayed assertion is refused.
    jtis: std::collections::HashSet<String>,
}

pub struct TokenServer {
    state: Arc<Mutex<State>>,
}

impl TokenServer {
    /// The shared server, started on first use.
    pub fn get() -> &'static TokenServer {
        static SERVER: OnceLock<TokenServer> = OnceLock::new();
        SERVER.get_or_init(|| {
            let state = Arc::new(Mutex::new(State::default()));
            let s = state.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let l = tokio::net::TcpListener::bind(ADDR)
                        .await
                        .unwrap_or_else(|e| panic!("token server on {ADDR}: {e}"));
                    tx.send(()).unwrap();
                    loop {
                        let Ok((stream, _)) = l.accept().await else {
                            continue;
                        };
                        let s = s.clone();
                        tokio::spawn(async move {
                            let _ = serve(stream, s).await;
                        });
                    }
                });
            });
            rx.recv_timeout(Duration::from_secs(10))
                .expect("token server starts");
            TokenServer { state }
        })
    }

    pub fn url(path: &str) -> String {
        format!("http://{ADDR}{path}")
    }

    /// Registers `id` with tokens living `lifetime` and an initial refresh token.
    pub fn register(&self, id: &str, lifetime: Duration, refresh_token: Option<&str>) {
        let mut st = self.state.lock().unwrap();
        st.clients.insert(
            id.to_string(),
            Client {
                lifetime,
                refresh_token: refresh_token.map(String::from),
                ..Client::default()
            },
        );
    }

    pub fn client(&self, id: &str) -> Client {
        self.state
            .lock()
            .unwrap()
            .clients
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut Client)) {
        let mut st = self.state.lock().unwrap();
        f(st.clients.get_mut(id).expect("registered client"));
    }

    /// The client_id of the access token `token` while it is active (issued here and not
    /// expired); `None` for an unknown or expired token. For the Graph stand-in's bearer check
    /// (unused where this file is included on its own, as tests/oauth2.rs does).
    #[allow(dead_code)]
    pub fn token_client(&self, token: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        let now = Instant::now();
        st.tokens
            .get(token)
            .filter(|t| t.expires > now)
            .map(|t| t.client.clone())
    }

    /// Makes every access token of `id` unknown, as a provider that revoked them early.
    pub fn forget_tokens(&self, id: &str) {
        let mut st = self.state.lock().unwrap();
        st.tokens.retain(|_, t| t.client != id);
    }
}

type Response = (u16, String);

fn json(status: u16, v: serde_json::Value) -> Response {
    (status, v.to_string())
}

fn oauth_error(code: &str) -> Response {
    json(
        400,
        serde_json::json!({ "error": code, "error_description": format!("test server: {code}") }),
    )
}

async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body).await?;
        let form: HashMap<String, String> = url_form(&String::from_utf8_lossy(&body));
        let (status, text) = handle(&path, &form, &state);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        r.get_mut().write_all(reply.as_bytes()).await?;
    }
}

fn url_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(path: &str, form: &HashMap<String, String>, state: &Mutex<State>) -> Response {
    let mut st = state.lock().unwrap();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    match path {
        "/introspect" => {
            let token = get("token");
            let now = Instant::now();
            let found = st
                .tokens
                .get(&token)
                .filter(|t| t.expires > now)
                .map(|t| t.client.clone());
            match found {
                Some(client) => {
                    if let Some(c) = st.clients.get_mut(&client) {
                        c.introspected_active += 1;
                    }
                    json(
                        200,
                        serde_json::json!({ "active": true, "username": USER, "client_id": client }),
                    )
                }
                None => {
                    let owner = token.split('/').next().unwrap_or("").to_string();
                    if let Some(c) = st.clients.get_mut(&owner) {
                        c.introspected_inactive += 1;
                    }
                    json(200, serde_json::json!({ "active": false }))
                }
            }
        }
        "/devicecode" => json(
            200,
            serde_json::json!({
                "device_code": format!("dev-{}", get("client_id")),
                "user_code": "WDJB-MJHT",
                "verification_uri": "http://127.0.0.1:2980/device",
                "expires_in": 60,
                "interval": 1
            }),
        ),
        "/token" => {
            let id = get("client_id");
            let Some(c) = st.clients.get_mut(&id) else {
                return oauth_error("invalid_client");
            };
            c.token_requests += 1;
            if c.fail_next > 0 {
                c.fail_next -= 1;
                return (503, "{}".into());
            }
            let rotate = match get("grant_type").as_str() {
                "client_credentials" => {
                    let authenticated = match &c.certificate {
                        Some(der) => {
                            let der = der.clone();
                            let checked = check_assertion(form, &der, &id, &st.jtis);
                            let c = st.clients.get_mut(&id).unwrap();
                            match checked {
                                Ok(claims) => {
                                    st.jtis.insert(claims["jti"].as_str().unwrap().to_string());
                                    let c = st.clients.get_mut(&id).unwrap();
                                    c.assertions.push(claims);
                                    true
                                }
                                Err(e) => {
                                    c.assertion_errors.push(e);
                                    false
                                }
                            }
                        }
                        None => get("client_secret") == SECRET,
                    };
                    if !authenticated {
                        return oauth_error("invalid_client");
                    }
                    false
                }
                "refresh_token" => {
                    if c.revoked
                        || c.refresh_token.as_deref() != Some(get("refresh_token").as_str())
                    {
                        return oauth_error("invalid_grant");
                    }
                    c.refreshes += 1;
                    true
                }
                "urn:ietf:params:oauth:grant-type:device_code" => {
                    c.device_polls += 1;
                    if c.device_polls <= c.pending_polls {
                        return oauth_error("authorization_pending");
                    }
                    true
                }
                _ => return oauth_error("unsupported_grant_type"),
            };
            let lifetime = st.clients[&id].lifetime;
            st.serial += 1;
            let n = st.serial;
            // The client id leads the token so an inactive introspection can be counted.
            let token = format!("{id}/at-{n}");
            let c = st.clients.get_mut(&id).unwrap();
            c.issued.push(token.clone());
            let mut body = serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": lifetime.as_secs(),
            });
            if rotate {
                let rt = format!("rt-{id}-{n}");
                c.refresh_token = Some(rt.clone());
                body["refresh_token"] = serde_json::Value::String(rt);
            }
            st.tokens.insert(
                token,
                Token {
                    client: id,
                    expires: Instant::now() + lifetime,
                },
            );
            json(200, body)
        }
        _ => (404, "{}".into()),
    }
}

/// The client assertion of `form` checked against the registered certificate `der`: its claims,
/// or why it is refused.
fn check_assertion(
    form: &HashMap<String, String>,
    der: &[u8],
    client_id: &str,
    seen: &std::collections::HashSet<String>,
) -> Result<serde_json::Value, String> {
    use base64::Engine;
    use x509_parser::prelude::FromDer;
    if form.get("client_secret").is_some() {
        return Err("a secret besides the assertion".into());
    }
    let kind = form.get("client_assertion_type").map(String::as_str);
    if kind != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err(format!("client_assertion_type {kind:?}"));
    }
    let jwt = form.get("client_assertion").ok_or("no client_assertion")?;
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("header: {e}"))?;
    let alg = header.alg;
    if !matches!(
        alg,
        jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::PS256
    ) {
        return Err(format!("algorithm {alg:?}"));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    if header.x5t_s256.as_deref() != Some(thumbprint.as_str()) {
        return Err(format!(
            "x5t#S256 {:?} is not the certificate's",
            header.x5t_s256
        ));
    }
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("certificate: {e}"))?;
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_key().subject_public_key.data);
    let mut v = jsonwebtoken::Validation::new(alg);
    v.leeway = 0;
    v.validate_nbf = true;
    v.set_audience(&[TokenServer::url("/token")]);
    v.set_issuer(&[client_id]);
    v.sub = Some(client_id.to_string());
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v)
        .map_err(|e| format!("assertion: {e}"))?;
    let claims = data.claims;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or("no jti")?;
    if seen.contains(jti) {
        return Err(format!("jti {jti} replayed"));
    }
    let (nbf, exp) = (claims["nbf"].as_i64(), claims["exp"].as_i64());
    match (nbf, exp) {
        (Some(n), Some(e)) if e - n <= 600 => Ok(claims),
        _ => Err(format!(
            "nbf {nbf:?} and exp {exp:?} more than 10 minutes apart"
        )),
    }
}
