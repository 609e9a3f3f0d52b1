//! OAuth2 tokens for XOAUTH2 and OAUTHBEARER upstream: obtains them with the configured grant
//! (client credentials, or a refresh token that `smarthost oauth2 login` got through the device
//! flow), keeps the access token in memory and refreshes it before it expires, saves rotated
//! refresh tokens atomically, and lets concurrent deliveries share one refresh. Owns the token
//! endpoint conversations; never logs a token or the client secret, and never decides a
//! message's fate: a dead grant is an [`OAuthError`] the delivery treats as temporary.

mod assertion;
pub mod device;
mod http;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::cluster::tokens::{Shared, SharedTokens};
use crate::config::{Flow, OAuth2Config};

#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// The grant is gone (revoked, expired, password changed): only the admin can fix it.
    #[error(
        "the OAuth2 grant of upstream {upstream} was refused ({reason}): {action}; mail stays queued meanwhile (up to [retry] max_age)"
    )]
    GrantRefused {
        upstream: String,
        reason: String,
        action: String,
    },
    /// The app itself is refused (wrong client id or secret, missing permission).
    #[error(
        "the token endpoint refused the app of upstream {upstream} ({reason}): check client_id, the client secret and the app's permissions; mail stays queued meanwhile (up to [retry] max_age)"
    )]
    ClientRefused { upstream: String, reason: String },
    /// No refresh token yet.
    #[error(
        "upstream {upstream} has no OAuth2 refresh token in {path}: {action}; mail stays queued meanwhile (up to [retry] max_age)"
    )]
    NotLoggedIn {
        upstream: String,
        path: String,
        action: String,
    },
    /// The endpoint could not be reached or answered nonsense: try again later.
    #[error("token endpoint of upstream {upstream}: {reason}")]
    Unavailable { upstream: String, reason: String },
    #[error("cannot keep the OAuth2 state of upstream {upstream}: {reason}")]
    Store { upstream: String, reason: String },
}

/// An access token and when it stops being usable.
#[derive(Clone)]
struct Access {
    token: String,
    /// When to stop handing it out: before it expires, by a quarter of its life (at most 5 min),
    /// so a connection authenticating now never presents an expired token.
    renew_at: Instant,
    /// The same moment in unix ms, as other relays of a cluster read it.
    renew_at_ms: i64,
}

/// The tokens of one upstream.
pub struct TokenSource {
    upstream: String,
    cfg: OAuth2Config,
    path: PathBuf,
    http: reqwest::Client,
    /// Held across a refresh: whoever comes while it runs waits and gets the fresh token.
    access: Mutex<Option<Access>>,
    /// In a `[cluster]`: the grant as every relay shares it.
    shared: std::sync::OnceLock<SharedTokens>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TokenSource({}, {})",
            self.upstream,
            self.cfg.flow.as_str()
        )
    }
}

/// How long before expiry a token is renewed.
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(300))
}

impl TokenSource {
    pub fn new(
        upstream: &str,
        cfg: &OAuth2Config,
        spool: &Path,
    ) -> Result<TokenSource, OAuthError> {
        let path = cfg
            .refresh_token_file
            .clone()
            .unwrap_or_else(|| store::default_path(spool, upstream));
        Ok(TokenSource {
            upstream: upstream.to_string(),
            cfg: cfg.clone(),
            path,
            http: http::client().map_err(|reason| OAuthError::Unavailable {
                upstream: upstream.to_string(),
                reason,
            })?,
            access: Mutex::new(None),
            shared: std::sync::OnceLock::new(),
        })
    }

    /// The app's client id (it names the grant across relays).
    pub fn client_id(&self) -> &str {
        &self.cfg.client_id
    }

    /// Shares this grant with the other relays of a cluster: one refresh at a time, the newest
    /// rotation kept.
    pub fn share(&self, tokens: SharedTokens) {
        let _ = self.shared.set(tokens);
    }

    /// A usable access token: the one in memory while it is fresh, else a new one.
    pub async fn token(&self) -> Result<String, OAuthError> {
        let mut slot = self.access.lock().await;
        if let Some(a) = slot.as_ref()
            && Instant::now() < a.renew_at
        {
            return Ok(a.token.clone());
        }
        let fresh = self.refresh().await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    /// The server refused `used` (535 or an error challenge): forget it, so the next
    /// [`TokenSource::token`] asks the endpoint again. A token already replaced is left alone.
    pub async fn reject(&self, used: &str) {
        let mut slot = self.access.lock().await;
        if slot.as_ref().is_some_and(|a| a.token == used) {
            *slot = None;
        }
    }

    async fn refresh(&self) -> Result<Access, OAuthError> {
        if let Some(shared) = self.shared.get()
            && let Some(done) = self.refresh_shared(shared).await
        {
            return done;
        }
        let state = self.load().await?;
        self.exchange(state).await.map(|(a, _)| a)
    }

    /// The cluster's token while it is fresh; else this node refreshes under the shared lock
    /// (from the newest rotated refresh token) and stores the result for the others. `None`
    /// when Redis cannot answer, or the lock stays taken: then this node refreshes alone.
    async fn refresh_shared(&self, shared: &SharedTokens) -> Option<Result<Access, OAuthError>> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let current = shared.get().await?;
            if let Some(a) = usable(&current) {
                return Some(Ok(a));
            }
            if shared.lock().await? {
                let result = self.refresh_locked(shared).await;
                shared.unlock().await;
                return Some(result);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn refresh_locked(&self, shared: &SharedTokens) -> Result<Access, OAuthError> {
        let current = shared.get().await.unwrap_or_default();
        if let Some(a) = usable(&current) {
            return Ok(a);
        }
        let mut state = self.load().await?;
        if self.cfg.flow.uses_refresh_token() && current.refresh.is_some() {
            state.refresh_token = current.refresh.clone();
        }
        let (access, rotated) = self.exchange(state).await?;
        let put = shared
            .put(
                current.version,
                &access.token,
                access.renew_at_ms,
                rotated.as_deref(),
            )
            .await;
        if put == Some(false) {
            tracing::warn!(upstream = %self.upstream, "another relay stored a newer OAuth2 token meanwhile; it is kept");
        }
        Ok(access)
    }

    /// One conversation with the token endpoint from `state`; the new access token and the
    /// rotated refresh token, if any.
    async fn exchange(
        &self,
        mut state: store::TokenState,
    ) -> Result<(Access, Option<String>), OAuthError> {
        let grant = match self.cfg.flow {
            Flow::ClientCredentials => http::Grant::ClientCredentials,
            Flow::RefreshToken | Flow::DeviceCode => match &state.refresh_token {
                Some(rt) => http::Grant::RefreshToken(rt.clone()),
                None => {
                    return Err(OAuthError::NotLoggedIn {
                        upstream: self.upstream.clone(),
                        path: self.path.display().to_string(),
                        action: login_action(self.cfg.flow, &self.upstream, &self.path),
                    });
                }
            },
        };
        let started = Instant::now();
        let result = http::token(&self.http, &self.cfg, &grant).await;
        let now = chrono::Utc::now();
        match result {
            Ok(t) => {
                let lifetime = Duration::from_secs(t.expires_in.max(1));
                let rotated = t
                    .refresh_token
                    .filter(|_| self.cfg.flow.uses_refresh_token());
                if let Some(r) = &rotated {
                    state.refresh_token = Some(r.clone());
                }
                state.last_refresh = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                state.access_expires_at = Some(
                    (now + chrono::Duration::from_std(lifetime).unwrap_or_default())
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
                state.last_error = None;
                // A rotated refresh token is on disk before the new access token is used: the
                // old one may already be dead at the provider.
                self.save(state).await?;
                tracing::info!(upstream = %self.upstream, expires_in = t.expires_in,
                    "OAuth2 access token refreshed");
                let renew_in = lifetime - margin(lifetime);
                Ok((
                    Access {
                        token: t.access_token,
                        renew_at: started + renew_in,
                        renew_at_ms: crate::spool::now_ms() + renew_in.as_millis() as i64,
                    },
                    rotated,
                ))
            }
            Err(e) => {
                let err = self.classify(e);
                state.last_error = Some(format!(
                    "{}: {err}",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
                let _ = self.save(state).await;
                tracing::warn!(upstream = %self.upstream, "{err}");
                Err(err)
            }
        }
    }

    /// The state file, read off the async workers (it is small, but the disk may be slow).
    async fn load(&self) -> Result<store::TokenState, OAuthError> {
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || store::load(&path)).await {
            Ok(r) => r.map_err(|e| self.store_error(e)),
            Err(e) => Err(self.store_error(std::io::Error::other(e))),
        }
    }

    /// Saves with its fsyncs off the async workers.
    async fn save(&self, state: store::TokenState) -> Result<(), OAuthError> {
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || store::save(&path, &state)).await {
            Ok(r) => r.map_err(|e| self.store_error(e)),
            Err(e) => Err(self.store_error(std::io::Error::other(e))),
        }
    }

    fn classify(&self, e: http::Failure) -> OAuthError {
        let upstream = self.upstream.clone();
        match e {
            http::Failure::Refused { error, description } => {
                let reason = match description {
                    Some(d) => format!("{error}: {d}"),
                    None => error.clone(),
                };
                match error.as_str() {
                    "invalid_grant" | "interaction_required" | "consent_required"
                        if self.cfg.flow.uses_refresh_token() =>
                    {
                        OAuthError::GrantRefused {
                            action: login_action(self.cfg.flow, &upstream, &self.path),
                            upstream,
                            reason,
                        }
                    }
                    "invalid_client"
                    | "unauthorized_client"
                    | "invalid_scope"
                    | "invalid_grant"
                    | "invalid_request"
                    | "unsupported_grant_type" => OAuthError::ClientRefused { upstream, reason },
                    _ => OAuthError::Unavailable { upstream, reason },
                }
            }
            http::Failure::Transport(reason) => OAuthError::Unavailable { upstream, reason },
        }
    }

    fn store_error(&self, e: std::io::Error) -> OAuthError {
        OAuthError::Store {
            upstream: self.upstream.clone(),
            reason: format!("{}: {e}", self.path.display()),
        }
    }
}

/// The cluster's access token, while it may still be handed out.
fn usable(shared: &Shared) -> Option<Access> {
    let left = shared.expires - crate::spool::now_ms();
    let token = shared.access.clone().filter(|_| left > 0)?;
    Some(Access {
        token,
        renew_at: Instant::now() + Duration::from_millis(left as u64),
        renew_at_ms: shared.expires,
    })
}

/// What the admin does to give an upstream a new grant.
fn login_action(flow: Flow, upstream: &str, path: &Path) -> String {
    match flow {
        Flow::DeviceCode => format!("run `smarthost oauth2 login {upstream}`"),
        _ => format!(
            "put a new refresh token in {} (or use flow = \"device_code\" and `smarthost oauth2 login {upstream}`)",
            path.display()
        ),
    }
}

/// `smarthost oauth2 status`: one line per upstream with an oauth2 section.
pub fn status(config: &crate::config::Config) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for u in &config.upstreams {
        let crate::config::Transport::Smtp(s) = &u.transport else {
            continue;
        };
        let Some(o) = &s.oauth2 else { continue };
        let path = o
            .refresh_token_file
            .clone()
            .unwrap_or_else(|| store::default_path(&config.spool.dir, &u.name));
        let _ = writeln!(out, "{} ({}, {})", u.name, o.flow.as_str(), path.display());
        match store::load(&path) {
            Ok(st) => {
                if o.flow.uses_refresh_token() {
                    let _ = writeln!(
                        out,
                        "  refresh token   {}",
                        if st.refresh_token.is_some() {
                            "present".to_string()
                        } else {
                            format!("missing: {}", login_action(o.flow, &u.name, &path))
                        }
                    );
                }
                let _ = writeln!(
                    out,
                    "  access token    {}",
                    match &st.access_expires_at {
                        Some(t) => format!("expires {t}"),
                        None => "none obtained yet".into(),
                    }
                );
                let _ = writeln!(
                    out,
                    "  last refresh    {}",
                    st.last_refresh.as_deref().unwrap_or("never")
                );
                if let Some(e) = &st.last_error {
                    let _ = writeln!(out, "  last error      {e}");
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  cannot read the state: {e}");
            }
        }
    }
    if out.is_empty() {
        out.push_str("no upstream has an [upstream.oauth2] section\n");
    }
    out
}
