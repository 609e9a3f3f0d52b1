//! smarthost: an SMTP relay for legacy business software.
//!
//! # The flow of one message
//!
//! ```text
//! listener -> session (SMTP protocol) -> policy -> spf/dkim -> spool (durable queue)
//!          -> delivery: router (which upstream) -> throttle -> transport (SMTP, file)
//!          -> outcome (delivered / retry / bounce)
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | ground floor: the TOML as typed values, validated at load; imports no stage |
//! | [`envelope`] | ground floor: the envelope and the ESMTP parameters that travel with a message |
//! | [`catalog`] | every text a person reads, in English, French and German (`locales/*.ftl`) |
//! | [`listener`] | sockets that accept clients, the allowed networks, the session cap |
//! | [`session`] | one client connection; [`session::machine`] is the sans-IO SMTP state machine |
//! | [`policy`], [`spf`], [`dkim`] | what is changed, checked and signed before the mail is queued |
//! | [`spool`] | the durable queue: a `250` is sent only after [`spool::Spool::put`] returns |
//! | [`delivery`] | dispatch, one attempt, transactions, notices, limits, pool, the transport seam |
//! | [`router`] | which upstream carries a message |
//! | [`throttle`] | the provider's limits: connections, rate, batches, quotas, pauses |
//! | [`upstream`] | the SMTP client: CONN modes, AUTH mechanisms, MAIL/RCPT/DATA |
//! | [`outcome`] | per-recipient results into spool state and retry times |
//! | [`dsn`] | the texts of bounces, delay warnings and "relayed" notices (RFC 3464) |
//! | [`tls`] | TLS material, loaded once |
//! | [`admin`], [`diagnose`], [`metrics`] | beside the flow: commands, send-test's verdicts, Prometheus |

pub mod admin;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod console;
pub mod cpu;
pub mod delivery;
pub mod diagnose;
pub mod dkim;
pub mod dsn;
pub mod envelope;
pub mod fsutil;
pub mod graph;
pub mod listener;
pub mod live;
pub mod maillog;
pub mod metrics;
pub mod oauth2;
pub mod outcome;
pub mod policy;
pub mod router;
pub mod session;
pub mod spf;
pub mod spool;
pub mod throttle;
pub mod tls;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use config::Config;
use session::SessionContext;
use session::machine::Limits;
use spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Spool(#[from] spool::SpoolError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Listen(#[from] std::io::Error),
    #[error("{0}")]
    Blacklist(#[from] policy::blacklist::BlacklistError),
    #[error("[dkim]: {0}")]
    Dkim(#[from] dkim::DkimError),
    #[error("upstream: {0}")]
    Upstream(#[from] upstream::error::UpstreamError),
    #[error("[admin] listen = \"{addr}\": {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running relay. Dropping it does not stop it; call [`Relay::shutdown`].
pub struct Relay {
    pub local_addrs: Vec<SocketAddr>,
    /// The implicit-TLS listeners (`listen_tls`).
    pub tls_addrs: Vec<SocketAddr>,
    server_tls: Option<Arc<tls::ServerTls>>,
    /// The `[admin]` HTTP listener, when configured.
    pub admin_addr: Option<SocketAddr>,
    /// The console, when `[console]` is on, and its one-time login link (no password set).
    pub console_addr: Option<SocketAddr>,
    pub console_link: Option<String>,
    pub spool: Spool,
    pub delivery: Arc<delivery::Delivery>,
    /// The configuration in force and what a reload replaces.
    pub live: Arc<live::Live>,
    sessions: listener::Sessions,
    shutdown: watch::Sender<bool>,
    delivery_stop: watch::Sender<bool>,
}

/// Binds the console when `[console]` is on. The embedded default's console is a courtesy: if
/// its port is taken the relay still starts (and says so); a configured one must bind.
async fn start_console(
    config: &Arc<Config>,
    parts: (&Arc<live::Live>, &Spool, &Arc<metrics::Metrics>),
    server_tls: Option<&Arc<tls::ServerTls>>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(Option<SocketAddr>, Option<String>), StartError> {
    let Some(cfg) = &config.console else {
        return Ok((None, None));
    };
    let Some((listening, addr)) = bind_console(config, cfg, server_tls).await? else {
        return Ok((None, None));
    };
    let scheme = if cfg.tls { "https" } else { "http" };
    let auth = console::auth::Auth::new(
        cfg.password_hash.clone(),
        cfg.password_hash.is_none(),
        config.server.auth.fail_limit,
        config.server.auth.ban,
    );
    let link = auth
        .one_time()
        .map(|t| format!("{scheme}://{addr}/login/once?token={t}"));
    let (live, spool, metrics) = parts;
    let state = Arc::new(console::Console {
        live: live.clone(),
        spool: spool.clone(),
        metrics: metrics.clone(),
        auth,
        secure: cfg.tls,
        embedded: Default::default(),
    });
    tokio::spawn(console::serve(listening, state, shutdown.clone()));
    match &link {
        Some(l) => tracing::info!("console on {scheme}://{addr}/ ; log in once with {l}"),
        None => tracing::info!("console on {scheme}://{addr}/"),
    }
    Ok((Some(addr), link))
}

/// The console's socket, wrapped in TLS when it serves HTTPS (the configuration guarantees the
/// `[server]` certificate then). `None`: the embedded default's port is taken.
async fn bind_console(
    config: &Config,
    cfg: &config::ConsoleConfig,
    server_tls: Option<&Arc<tls::ServerTls>>,
) -> Result<Option<(console::Listening, SocketAddr)>, StartError> {
    let bind_error = |source| StartError::Admin {
        addr: cfg.listen,
        source,
    };
    let listener = match tokio::net::TcpListener::bind(cfg.listen).await {
        Ok(l) => l,
        Err(e) if config.source == std::path::Path::new("<embedded default>") => {
            tracing::warn!("console not started: {}: {e}", cfg.listen);
            return Ok(None);
        }
        Err(source) => return Err(bind_error(source)),
    };
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    let listening = match (cfg.tls, server_tls) {
        (true, Some(tls)) => console::Listening::Tls(
            console::tls::TlsListener::new(listener, tls.clone()).map_err(bind_error)?,
        ),
        _ => console::Listening::Plain(listener),
    };
    Ok(Some((listening, addr)))
}

/// What every SMTP session shares: the limits and timeouts of `[server]`, the spool, policy,
/// SPF, the DKIM signers, metrics, client accounts and bans.
fn session_context(
    config: &Arc<Config>,
    spool: &Spool,
    policy: &Arc<policy::Policy>,
    metrics: &Arc<metrics::Metrics>,
    (tls, shutdown): (&Option<Arc<tls::ServerTls>>, &watch::Receiver<bool>),
) -> Result<Arc<SessionContext>, StartError> {
    let s = &config.server;
    Ok(Arc::new(SessionContext {
        limits: Limits {
            hostname: s.hostname.clone(),
            max_message_size: s.max_message_size,
            max_errors: s.max_errors,
            max_recipients: s.max_recipients,
            tls_available: tls.is_some(),
        },
        tls: tls.clone(),
        command_timeout: s.command_timeout,
        data_timeout: s.data_timeout,
        spool: spool.clone(),
        policy: policy.clone(),
        spf: Arc::new(spf::SpfCheck::new(config)),
        dkim: Arc::new(dkim::Signers::load(config)?),
        cpu: cpu::shared(),
        metrics: metrics.clone(),
        clients: Arc::new(config.clients.clone()),
        auth: s.auth.clone(),
        bans: Default::default(),
        client_limits: Arc::new(session::client_limits::ClientLimits::new(
            s.client_rate,
            s.max_sessions_per_address,
        )),
        shutdown: shutdown.clone(),
        bare_newlines: s.bare_newlines,
        memory: session::budget::MemoryBudget::new(s.memory_budget),
    }))
}

/// The metrics and status endpoint, when `[admin] listen` is set.
async fn start_admin(
    config: &Arc<Config>,
    metrics: &Arc<metrics::Metrics>,
    delivery: &Arc<delivery::Delivery>,
    spool: &Spool,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<SocketAddr>, StartError> {
    Ok(match config.admin.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Admin { addr, source })?;
            let bound = l.local_addr().ok();
            let state = Arc::new(metrics::http::AdminState {
                metrics: metrics.clone(),
                delivery: delivery.clone(),
                spool: spool.clone(),
                config: config.clone(),
            });
            tokio::spawn(metrics::http::serve(l, state, shutdown.clone()));
            if let Some(a) = bound {
                tracing::info!("metrics and status on http://{a}/metrics and /status");
            }
            bound
        }
        None => None,
    })
}

/// How long a stopping relay waits for sessions in DATA and deliveries in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl Relay {
    /// Opens the spool, binds the listeners and starts delivery. Returns once the relay accepts.
    pub async fn start(config: Config) -> Result<Relay, StartError> {
        let config = Arc::new(config);
        let (spool, fresh) = Spool::open(&config.spool.dir)?;
        let tls = match &config.server.tls {
            Some(files) => Some(Arc::new(tls::ServerTls::load(
                &files.cert,
                &files.key,
                files.min_version,
            )?)),
            None => None,
        };
        if config.server.auth.accept_any {
            tracing::info!(
                "no [[client]] accounts: a login from allowed_networks is accepted with any \
                 password, its name becomes the client name (accept_any_login = false to refuse)"
            );
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics = Arc::new(metrics::Metrics::new());
        let delivery = delivery::Delivery::new(config.clone(), spool.clone(), metrics.clone())?;
        // Delivery stops after the sessions, so mail accepted during the grace period still goes.
        let (delivery_stop, delivery_stop_rx) = watch::channel(false);
        tokio::spawn(delivery.clone().run(fresh, delivery_stop_rx));

        let policy = Arc::new(policy::Policy::new(&config)?);
        let ctx = session_context(&config, &spool, &policy, &metrics, (&tls, &shutdown_rx))?;
        let admin_addr = start_admin(&config, &metrics, &delivery, &spool, &shutdown_rx).await?;
        let live = Arc::new(live::Live::new(config.clone(), policy, delivery.clone()));
        let (console_addr, console_link) = start_console(
            &config,
            (&live, &spool, &metrics),
            tls.as_ref(),
            &shutdown_rx,
        )
        .await?;
        let s = &config.server;
        let listener = listener::Listener::bind(&s.listen, &s.listen_tls)?;
        let local_addrs = listener.local_addrs();
        let tls_addrs = listener.tls_addrs();
        let sessions = listener.spawn(
            ctx,
            Arc::new(s.allowed_networks.clone()),
            s.max_connections,
            shutdown_rx,
        );
        for a in &tls_addrs {
            tracing::info!("listening with implicit TLS on {a}");
        }
        for a in &local_addrs {
            tracing::info!("listening on {a}");
        }
        Ok(Relay {
            live,
            console_addr,
            console_link,
            local_addrs,
            tls_addrs,
            server_tls: tls,
            admin_addr,
            spool,
            delivery,
            sessions,
            shutdown,
            delivery_stop,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// Applies a new configuration without a restart: policy (blacklist, test mode, rewrite,
    /// profiles) for every new message, upstreams and their limits for every new attempt.
    /// Queued mail, sessions in DATA and quota counters stay. On an error nothing changes.
    /// `[server]` listeners, `[spool]`, `[spf]`, `[dkim]`, `[cluster]` and `[console]` need a
    /// restart: the returned notes name those that changed.
    pub async fn reload(&self, config: Config) -> Result<Vec<String>, live::ReloadError> {
        self.live.reload(config).await
    }

    /// Reads the listener's certificate and key again (SIGHUP); sessions in progress keep theirs.
    pub fn reload_tls(&self) -> Result<(), tls::TlsError> {
        match &self.server_tls {
            Some(t) => t.reload(),
            None => Ok(()),
        }
    }

    /// Graceful stop: no new connections; sessions waiting for a command get `421 4.3.2`;
    /// sessions in DATA may finish their message; deliveries in flight may finish (what does not
    /// finish within [`SHUTDOWN_GRACE`] stays queued for the next start); pooled upstream
    /// connections get QUIT.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let open = self.sessions.drain(SHUTDOWN_GRACE).await;
        let _ = self.delivery_stop.send(true);
        let busy = self.delivery.drain(SHUTDOWN_GRACE).await;
        if open + busy > 0 {
            tracing::warn!(
                "stopped with {open} session(s) and {busy} delivery(ies) unfinished; queued mail stays in the spool"
            );
        }
        self.delivery.close_all().await;
    }
}
