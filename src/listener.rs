//! Binds the configured addresses and accepts clients: checks the client's address against
//! `allowed_networks` (never an open relay), caps concurrent sessions, and spawns one task per
//! connection. Never parses SMTP itself.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::Network;
use crate::session::client_limits::SessionSlot;
use crate::session::{self, SessionContext, reply};

pub struct Listener {
    /// Each listener, and whether it speaks implicit TLS (TLS from the first byte).
    pub listeners: Vec<(TcpListener, bool)>,
}

impl Listener {
    pub fn bind(addrs: &[SocketAddr], tls_addrs: &[SocketAddr]) -> std::io::Result<Listener> {
        let mut listeners = Vec::new();
        let all = addrs
            .iter()
            .map(|a| (a, false))
            .chain(tls_addrs.iter().map(|a| (a, true)));
        for (a, implicit) in all {
            let l = listen(*a)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))?;
            listeners.push((l, implicit));
        }
        Ok(Listener { listeners })
    }

    /// The plain/STARTTLS listeners' addresses.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// The implicit-TLS listeners' addresses.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, implicit: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(_, i)| *i == implicit)
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    pub fn spawn(
        self,
        ctx: Arc<SessionContext>,
        allowed: Arc<Vec<Network>>,
        max_sessions: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Sessions {
        let permits = Arc::new(Semaphore::new(max_sessions));
        for (l, implicit) in self.listeners {
            tokio::spawn(accept_loop(
                l,
                implicit,
                ctx.clone(),
                allowed.clone(),
                permits.clone(),
                shutdown.clone(),
            ));
        }
        Sessions {
            permits,
            max: max_sessions,
        }
    }
}

/// The sessions in progress, to wait for at shutdown.
pub struct Sessions {
    permits: Arc<Semaphore>,
    max: usize,
}

impl Sessions {
    /// Waits until every session has ended, at most `grace`; returns how many were still open.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        match tokio::time::timeout(grace, self.permits.acquire_many(all)).await {
            Ok(_) => 0,
            Err(_) => self.max - self.permits.available_permits(),
        }
    }
}

/// Legacy programs burst: a payroll run may open hundreds of connections at once. A deep accept
/// queue (capped by the kernel's somaxconn) keeps those SYNs from being dropped and retried
/// seconds later.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

async fn accept_loop(
    l: TcpListener,
    implicit_tls: bool,
    ctx: Arc<SessionContext>,
    allowed: Arc<Vec<Network>>,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let outside = !allowed.iter().any(|n| n.contains(peer.ip()));
        let slot = match admit(&ctx, peer, outside) {
            Ok(slot) => slot,
            Err(r) => {
                tokio::spawn(refuse(stream, r));
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: too many sessions");
            tokio::spawn(refuse(stream, reply::too_many_connections()));
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            serve(stream, peer, implicit_tls, ctx, outside).await;
            drop(permit);
            drop(slot);
        });
    }
}

/// Whether `peer` may open a session: its per-address slot when it comes from outside
/// `allowed_networks`, or the reply that refuses it (banned, not allowed, too many sessions).
fn admit(
    ctx: &SessionContext,
    peer: SocketAddr,
    outside: bool,
) -> Result<Option<SessionSlot>, reply::Reply> {
    // Only addresses outside allowed_networks are ever banned as a whole; they are told
    // why and until when, never "not allowed to relay".
    if let Some((until, account)) = ctx.bans.banned(peer.ip()) {
        let at = session::login_guard::wall_clock(until);
        let r = reply::too_many_auth_failures(peer.ip(), &at);
        let account = account.as_deref().map(crate::maillog::escape_controls);
        let account = account.as_deref().unwrap_or("-");
        let text = r.lines.join(" ");
        crate::maillog!(crate::maillog::REJECTED, client = %peer.ip(), %account,
            code = r.code, reply = %text);
        return Err(r);
    }
    // Outside allowed_networks only a client account may come in, and only to log in first.
    let accounts_may_come = ctx.auth.from_anywhere && !ctx.clients.is_empty();
    if outside && !accounts_may_come {
        tracing::warn!(%peer, "connection refused: address not in allowed_networks");
        return Err(reply::client_not_allowed());
    }
    if !outside {
        // Like Postfix's smtpd_client_connection_count_limit, addresses in allowed_networks
        // are exempt (a payroll run on the relay's own host may open hundreds of sessions);
        // the cap is for clients let in from elsewhere.
        return Ok(None);
    }
    match ctx.client_limits.open_session(peer.ip()) {
        Some(slot) => Ok(Some(slot)),
        None => {
            tracing::warn!(%peer, "connection refused: too many sessions from this address");
            Err(reply::too_many_from_address())
        }
    }
}

/// One admitted connection: the TLS handshake first on an implicit-TLS port, then the session.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    ctx: Arc<SessionContext>,
    outside: bool,
) {
    let local = stream.local_addr().unwrap_or(peer);
    if !implicit_tls {
        return session::serve_as(stream, peer, local, ctx, outside, false).await;
    }
    let Some(tls) = ctx.tls.clone() else { return };
    let handshake = Box::pin(tokio::time::timeout(
        ctx.command_timeout,
        tls.acceptor().accept(stream),
    ))
    .await;
    match handshake {
        Ok(Ok(s)) => Box::pin(session::serve_as(s, peer, local, ctx, outside, true)).await,
        Ok(Err(e)) => tracing::info!(%peer, "TLS handshake with client failed: {e}"),
        Err(_) => tracing::info!(%peer, "TLS handshake with client timed out"),
    }
}

async fn refuse(mut stream: TcpStream, r: reply::Reply) {
    let _ = stream.write_all(r.to_wire().as_bytes()).await;
    let _ = stream.shutdown().await;
}
