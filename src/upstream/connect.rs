//! Opening a ready-to-send connection to an SMTP upstream: TCP, the CONN mode (plaintext,
//! implicit TLS, STARTTLS, or AUTO detection), EHLO and AUTH. Returns a [`Conn`] on which MAIL
//! may be sent, or an error saying which step failed. Never sends credentials in clear unless
//! `conn = "plaintext"` was chosen explicitly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::auth;
use super::client::{Conn, Stream};
use super::error::UpstreamError;
use super::trace::{Step, Tracer};
use crate::config::{ConnMode, SmtpUpstream};

/// How long AUTO waits for a plaintext greeting before concluding the port speaks implicit TLS.
pub const AUTO_GREETING_WAIT: Duration = Duration::from_secs(3);

/// What AUTO found out about an upstream, remembered for its next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    ImplicitTls,
    StartTls,
    Plaintext,
}

/// Per-upstream state shared by all connections to it.
pub struct Endpoint {
    pub name: String,
    pub cfg: SmtpUpstream,
    pub helo: String,
    tls: crate::tls::UpstreamTls,
    detected: Mutex<Option<Detected>>,
    trace: Option<Tracer>,
    /// Access tokens, when the upstream has an `[upstream.oauth2]` grant.
    tokens: Option<Arc<crate::oauth2::TokenSource>>,
}

impl Endpoint {
    /// `spool` is where an OAuth2 grant keeps its token state by default.
    pub fn new(
        name: &str,
        cfg: SmtpUpstream,
        default_helo: &str,
        spool: &std::path::Path,
    ) -> Result<Endpoint, UpstreamError> {
        let tokens = match &cfg.oauth2 {
            Some(o) => Some(Arc::new(crate::oauth2::TokenSource::new(name, o, spool)?)),
            None => None,
        };
        let tls = crate::tls::upstream_tls(cfg.ca_file.as_deref(), &cfg.tls)
            .map_err(|e| UpstreamError::TlsConfig(e.to_string()))?;
        let helo = cfg
            .helo_name
            .clone()
            .unwrap_or_else(|| default_helo.to_string());
        Ok(Endpoint {
            name: name.to_string(),
            cfg,
            helo,
            tls,
            detected: Mutex::new(None),
            trace: None,
            tokens,
        })
    }

    /// The grant's tokens, when the upstream logs in with OAuth2.
    pub fn tokens(&self) -> Option<&crate::oauth2::TokenSource> {
        self.tokens.as_deref()
    }

    /// Reports every step of each connection to `tracer` (for `send-test`).
    pub fn traced(mut self, tracer: Tracer) -> Endpoint {
        self.trace = Some(tracer);
        self
    }

    /// The server certificate of the last handshake, accepted or not.
    pub fn server_certificate(&self) -> Option<crate::config::cert::CertFacts> {
        let der = self.tls.verifier.last_seen()?;
        crate::config::cert::facts(&der).ok()
    }

    fn emit(&self, step: Step) {
        if let Some(t) = &self.trace {
            t.emit(step);
        }
    }

    fn conn(&self, stream: Stream, timeout: Duration) -> Conn {
        let mut c = Conn::new(stream, timeout);
        c.trace = self.trace.clone();
        c
    }

    pub fn detected(&self) -> Option<Detected> {
        *self.detected.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, d: Detected) {
        let mut slot = self.detected.lock().unwrap_or_else(|p| p.into_inner());
        if *slot != Some(d) {
            tracing::info!(upstream = %self.name, "conn = auto: {}:{} uses {d:?}", self.cfg.host, self.cfg.port);
            self.emit(Step::Note(format!("conn = auto found {d:?}")));
            *slot = Some(d);
        }
    }

    /// Connects, secures and authenticates; the returned connection is ready for MAIL.
    pub async fn open(&self) -> Result<Conn, UpstreamError> {
        let cfg = &self.cfg;
        let mut conn = match cfg.conn {
            ConnMode::SslTls => self.implicit_tls(self.tcp().await?).await?,
            ConnMode::Plaintext | ConnMode::StartTls => self.plain(self.tcp().await?, None).await?,
            ConnMode::Auto => self.auto().await?,
        };
        conn.hello(&self.helo).await?;
        if !conn.is_tls() {
            let want_tls = match cfg.conn {
                ConnMode::StartTls => {
                    if !conn.caps.starttls {
                        return Err(UpstreamError::StartTlsNotOffered);
                    }
                    true
                }
                ConnMode::Auto => conn.caps.starttls,
                _ => false,
            };
            if want_tls {
                conn = self.starttls(conn).await?;
                conn.hello(&self.helo).await?;
                if cfg.conn == ConnMode::Auto {
                    self.remember(Detected::StartTls);
                }
            } else if cfg.conn == ConnMode::Auto {
                self.remember(Detected::Plaintext);
            }
        }
        self.login(&mut conn).await?;
        Ok(conn)
    }

    async fn login(&self, conn: &mut Conn) -> Result<(), UpstreamError> {
        let creds = self.cfg.credentials.as_ref();
        let oauth = self.tokens.as_ref();
        let Some(mech) = auth::choose(self.cfg.auth, &conn.caps.auth, creds, oauth.is_some())?
        else {
            return Ok(());
        };
        let creds = creds.expect("choose returns a mechanism only with credentials");
        if !conn.is_tls() && self.cfg.conn != ConnMode::Plaintext {
            return Err(UpstreamError::CredentialsInClear);
        }
        tracing::debug!(upstream = %self.name, mechanism = mech.name(), "authenticating");
        self.emit(Step::Auth {
            mechanism: mech.name(),
            offered: conn.caps.auth.clone(),
        });
        let server = auth::Server {
            host: &self.cfg.host,
            port: self.cfg.port,
        };
        let Some(tokens) = oauth.filter(|_| mech.is_oauth()) else {
            return auth::authenticate(conn, mech, creds, None, server).await;
        };
        let token = tokens.token().await?;
        match auth::authenticate(conn, mech, creds, Some(&token), server).await {
            Err(UpstreamError::AuthFailed(reply)) => {
                // The provider may have revoked this token early: once, a fresh one.
                tokens.reject(&token).await;
                let fresh = tokens.token().await?;
                if fresh == token {
                    return Err(UpstreamError::AuthFailed(reply));
                }
                tracing::info!(upstream = %self.name, "token refused ({}); retrying with a new one",
                    reply.code);
                auth::authenticate(conn, mech, creds, Some(&fresh), server).await
            }
            other => other,
        }
    }

    async fn tcp(&self) -> Result<TcpStream, UpstreamError> {
        let host = self.cfg.host.as_str();
        let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
            self.cfg.timeout,
            tokio::net::lookup_host((host, self.cfg.port)),
        )
        .await
        .map_err(|_| UpstreamError::Timeout { stage: "DNS" })?
        .map_err(|source| UpstreamError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
        self.emit(Step::Resolved {
            host: host.to_string(),
            addrs: addrs.clone(),
        });
        // Every address in turn, as a resolver-aware client should; the last error counts.
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.cfg.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    // Each command is one write; without NODELAY the last segment waits for a
                    // delayed ACK.
                    let _ = stream.set_nodelay(true);
                    self.emit(Step::Connected { addr });
                    return Ok(stream);
                }
                Ok(Err(source)) => {
                    last = Some(UpstreamError::Connect {
                        addr: addr.to_string(),
                        source,
                    })
                }
                Err(_) => last = Some(UpstreamError::Timeout { stage: "connect" }),
            }
        }
        Err(last.unwrap_or_else(|| UpstreamError::Resolve {
            host: host.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        }))
    }

    /// Reads the plaintext greeting (waiting at most `wait` when given).
    async fn plain(&self, tcp: TcpStream, wait: Option<Duration>) -> Result<Conn, UpstreamError> {
        let mut conn = self.conn(Stream::Plain(tcp), wait.unwrap_or(self.cfg.timeout));
        let greeting = conn.read_reply("greeting").await?;
        conn.timeout = self.cfg.timeout;
        if greeting.code != 220 {
            return Err(UpstreamError::Rejected {
                stage: "greeting",
                reply: greeting,
            });
        }
        Ok(conn)
    }

    async fn implicit_tls(&self, tcp: TcpStream) -> Result<Conn, UpstreamError> {
        let tls = self.handshake(tcp).await?;
        let mut conn = self.conn(Stream::Tls(Box::new(tls)), self.cfg.timeout);
        let greeting = conn.read_reply("greeting").await?;
        if greeting.code != 220 {
            return Err(UpstreamError::Rejected {
                stage: "greeting",
                reply: greeting,
            });
        }
        Ok(conn)
    }

    /// AUTO: 465 means implicit TLS; otherwise a server that stays silent is waiting for a TLS
    /// ClientHello, so start TLS on the same socket.
    async fn auto(&self) -> Result<Conn, UpstreamError> {
        if self.cfg.port == 465 || self.detected() == Some(Detected::ImplicitTls) {
            return self.implicit_tls(self.tcp().await?).await;
        }
        let tcp = self.tcp().await?;
        let mut conn = self.conn(Stream::Plain(tcp), AUTO_GREETING_WAIT);
        match conn.read_reply("greeting").await {
            Ok(greeting) if greeting.code == 220 => {
                conn.timeout = self.cfg.timeout;
                Ok(conn)
            }
            Ok(other) => Err(UpstreamError::Rejected {
                stage: "greeting",
                reply: other,
            }),
            Err(UpstreamError::Timeout { .. }) if !conn.has_buffered_input() => {
                let Stream::Plain(tcp) = conn.stream else {
                    unreachable!("AUTO probes in plaintext")
                };
                let conn = self.implicit_tls(tcp).await?;
                self.remember(Detected::ImplicitTls);
                Ok(conn)
            }
            Err(e) => Err(e),
        }
    }

    async fn starttls(&self, mut conn: Conn) -> Result<Conn, UpstreamError> {
        let r = conn.command("STARTTLS", "STARTTLS").await?;
        if r.code != 220 {
            return Err(UpstreamError::Rejected {
                stage: "STARTTLS",
                reply: r,
            });
        }
        if conn.has_buffered_input() {
            // Anything sent before the handshake could be an injection (CVE-2011-0411 style).
            return Err(UpstreamError::Protocol {
                stage: "STARTTLS",
                detail: "data after 220 before TLS".into(),
            });
        }
        let Stream::Plain(tcp) = conn.stream else {
            return Err(UpstreamError::Protocol {
                stage: "STARTTLS",
                detail: "already TLS".into(),
            });
        };
        let tls = self.handshake(tcp).await?;
        Ok(self.conn(Stream::Tls(Box::new(tls)), self.cfg.timeout))
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, UpstreamError> {
        let name = ServerName::try_from(self.cfg.host.clone()).map_err(|e| {
            UpstreamError::TlsConfig(format!(
                "`{}` is not a valid TLS server name: {e}",
                self.cfg.host
            ))
        })?;
        let connector = TlsConnector::from(self.tls.config.clone());
        let tls = tokio::time::timeout(self.cfg.timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| UpstreamError::Timeout {
                stage: "TLS handshake",
            })?;
        if self.trace.is_some() {
            self.trace_certificates();
        }
        let tls = tls.map_err(|e| UpstreamError::Tls(e.to_string()))?;
        if self.trace.is_some() {
            let (_, session) = tls.get_ref();
            self.emit(Step::Tls {
                version: session
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                cipher: session
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))
                    .unwrap_or_default(),
                certificates: session.peer_certificates().map_or(0, |c| c.len()),
            });
        }
        Ok(tls)
    }

    /// For send-test: the server's certificate and whether ours was asked for.
    fn trace_certificates(&self) {
        if let Some(facts) = self.server_certificate() {
            self.emit(Step::ServerCertificate(facts));
        }
        if let Some(client) = &self.tls.client {
            let sent = self.cfg.tls.client_cert.as_ref().map(|c| c.facts.clone());
            self.emit(Step::ClientCertificate {
                asked: client.take_asked(),
                sent,
            });
        }
    }
}
