//! One client connection: reads bytes, feeds the sans-IO [`machine::Machine`], writes its
//! replies, upgrades to TLS on STARTTLS and hands complete messages to the spool. The only code
//! that does inbound socket I/O. Never decides policy or routing, and never answers `250` to a
//! message before the spool has made it durable.

pub mod address;
pub mod budget;
pub mod client_limits;
pub mod data;
pub mod login;
pub mod login_guard;
mod login_reply;
pub mod machine;
mod params;
pub mod received;
pub mod reply;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::maillog;
use crate::policy::Policy;
use crate::spool::Spool;
pub use login_guard::Bans;
use machine::{Action, Limits, Machine};
use reply::Reply;

/// What every session of one listener shares.
pub struct SessionContext {
    pub limits: Limits,
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub spool: Spool,
    pub policy: Arc<Policy>,
    /// The SPF pre-flight of the sender domain, after policy.
    pub spf: Arc<crate::spf::SpfCheck>,
    /// DKIM signers, applied to the final message.
    pub dkim: Arc<crate::dkim::Signers>,
    /// Where the CPU-heavy steps at the end of DATA run (DKIM, the signature's MIME work).
    pub cpu: Arc<crate::cpu::Pool>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `[[client]]` accounts and the `[server]` rules for logging in.
    pub clients: Arc<Vec<crate::config::ClientAccount>>,
    pub auth: crate::config::AuthPolicy,
    /// Failed logins per address, and the addresses banned for them.
    pub bans: Arc<Bans>,
    /// Sessions per address and messages per minute per client.
    pub client_limits: Arc<client_limits::ClientLimits>,
    /// Flips to `true` when the relay stops: a session waiting for a command gets `421`; one in
    /// DATA may finish its message first.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// `[server] bare_newlines`: bare CR/LF and NUL inside DATA.
    pub bare_newlines: crate::config::hardening::BareNewlines,
    /// `[server] memory_budget`: message bodies held by all sessions together.
    pub memory: Arc<budget::MemoryBudget>,
}

impl machine::RcptFilter for Policy {
    fn check(&self, sender: &str, rcpt: &str) -> Option<Reply> {
        self.check_rcpt(sender, rcpt)
    }
}

/// One session's view of policy: its app profile (from the listener, the client's address,
/// and the account once it logs in).
struct Session {
    peer: SocketAddr,
    /// The peer is in `allowed_networks` (never banned as a whole for failed logins).
    trusted: bool,
    local: SocketAddr,
    policy: Arc<Policy>,
    profile: std::sync::Mutex<Option<usize>>,
    account: std::sync::Mutex<Option<String>>,
    limits: Arc<client_limits::ClientLimits>,
}

impl Session {
    fn profile(&self) -> Option<usize> {
        *self.profile.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn logged_in(&self, account: &str) {
        *self.account.lock().unwrap_or_else(|p| p.into_inner()) = Some(account.to_string());
        let p = self.policy.profile(&crate::config::Origin {
            client: Some(account),
            peer: self.peer.ip(),
            listen: self.local,
        });
        *self.profile.lock().unwrap_or_else(|p| p.into_inner()) = p;
    }
}

impl machine::RcptFilter for Session {
    fn check(&self, sender: &str, rcpt: &str) -> Option<Reply> {
        self.policy.check_rcpt_as(self.profile(), sender, rcpt)
    }

    fn check_mail(&self, _sender: &str) -> Option<Reply> {
        let who = self
            .account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| self.peer.ip().to_string());
        (!self.limits.admit_message(&who)).then(reply::client_rate_exceeded)
    }
}

enum End<S> {
    Closed,
    StartTls(S),
}

/// Serves one connection to its end. Errors are logged, never propagated: one broken client
/// must not affect another.
pub async fn serve<S>(stream: S, peer: SocketAddr, ctx: Arc<SessionContext>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    serve_as(stream, peer, peer, ctx, false, false).await
}

/// `outside`: the peer is not in `allowed_networks` and was let in only to log in first.
pub async fn serve_as<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    ctx: Arc<SessionContext>,
    outside: bool,
    implicit_tls: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let any_login = ctx.auth.accept_any && ctx.clients.is_empty();
    let offer = login::offer(&ctx.auth, !ctx.clients.is_empty(), peer.ip());
    let session = Arc::new(Session {
        peer,
        trusted: !outside,
        local,
        policy: ctx.policy.clone(),
        profile: std::sync::Mutex::new(ctx.policy.profile(&crate::config::Origin {
            client: None,
            peer: peer.ip(),
            listen: local,
        })),
        account: std::sync::Mutex::new(None),
        limits: ctx.client_limits.clone(),
    });
    let mut machine = Machine::new(ctx.limits.clone(), implicit_tls)
        .with_filter(session.clone())
        .with_auth(offer, ctx.auth.required || outside)
        .with_cram_md5(any_login.then(|| login_reply::cram_challenge(&ctx.limits.hostname)))
        .with_sender_check(ctx.spf.mode() == crate::config::SpfMode::Reject)
        .with_bare_newlines(ctx.bare_newlines)
        .with_memory_budget(ctx.memory.clone());
    let mut stream = stream;
    let mut out = Vec::new();
    machine.greeting().write_to(&mut out);
    if write_timed(&mut stream, &out, ctx.command_timeout)
        .await
        .is_err()
    {
        return;
    }
    match drive(stream, &session, &mut machine, &ctx).await {
        Ok(End::Closed) => {}
        Ok(End::StartTls(plain)) => {
            let Some(acceptor) = ctx.tls.as_ref().map(|t| t.acceptor()) else {
                return;
            };
            // Boxed, like every rarely taken long step: an idle session's task is as large as
            // its largest await, and 10,000 idle sessions must fit in little memory.
            let handshake = Box::pin(tokio::time::timeout(
                ctx.command_timeout,
                acceptor.accept(plain),
            ))
            .await;
            match handshake {
                Ok(Ok(tls)) => {
                    machine.tls_established();
                    if let Err(e) = Box::pin(drive(tls, &session, &mut machine, &ctx)).await {
                        tracing::debug!(%peer, "session ended: {e}");
                    }
                }
                Ok(Err(e)) => tracing::info!(%peer, "TLS handshake with client failed: {e}"),
                Err(_) => tracing::info!(%peer, "TLS handshake with client timed out"),
            }
        }
        Err(e) => tracing::debug!(%peer, "session ended: {e}"),
    }
}

async fn drive<S>(
    mut stream: S,
    session: &Session,
    m: &mut Machine,
    ctx: &SessionContext,
) -> std::io::Result<End<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut pending: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut actions = Vec::new();
    loop {
        // Answer everything already received before reading again (PIPELINING).
        loop {
            let used = m.receive(&pending, &mut actions);
            pending.drain(..used);
            let mut stop = false;
            for action in actions.drain(..) {
                if let Some(f) = act(action, session, m, ctx, &mut out).await {
                    return finish(stream, f, &out, ctx).await;
                }
                stop = m.is_closed();
            }
            if stop || used == 0 || pending.is_empty() {
                break;
            }
        }
        if !out.is_empty() {
            write_timed(&mut stream, &out, ctx.command_timeout).await?;
            out.clear();
        }
        if !read_more(&mut stream, &mut pending, m, ctx, &mut out).await? {
            return Ok(End::Closed);
        }
    }
}

/// How a session ends after an action.
enum Finish {
    /// The replies so far are written, then the connection is closed.
    Close,
    /// Closed without a word (the client speaks TLS on a plain port: it cannot read one).
    Abrupt,
    /// The replies so far are written, then TLS starts on the same stream.
    StartTls,
}

/// Carries out one action of the protocol machine; `Some` when the session ends with it.
async fn act(
    action: Action,
    session: &Session,
    m: &mut Machine,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> Option<Finish> {
    let peer = session.peer;
    match action {
        Action::Reply(r) => {
            if r.code >= 400 {
                let reply = r.lines.join(" ");
                let from = m.last_sender().unwrap_or("-");
                crate::maillog!(maillog::REJECTED, client = %peer.ip(), %from,
                    code = r.code, %reply);
                ctx.metrics.count(maillog::REJECTED, "", 1);
            }
            r.write_to(out);
        }
        Action::Authenticate(l) => {
            if Box::pin(login_reply::login(ctx, session, m, l, out)).await {
                return Some(Finish::Close);
            }
        }
        Action::CheckSender(sender) => {
            let refusal = Box::pin(check_sender(ctx, session, m, &sender)).await;
            m.sender_checked(refusal).write_to(out);
        }
        Action::Deliver(tx) => {
            let result = Box::pin(store::store(*tx, session, m, ctx)).await;
            m.delivered(result).write_to(out);
        }
        // RFC 3207: anything the client pipelined after STARTTLS is discarded.
        Action::StartTls => return Some(Finish::StartTls),
        Action::ClientSpeaksTls => {
            tracing::warn!(%peer, "client speaks TLS on a plain port: set the program \
                to no encryption or STARTTLS, or use listen_tls");
            return Some(Finish::Abrupt);
        }
        Action::Close => return Some(Finish::Close),
    }
    None
}

async fn finish<S>(
    mut stream: S,
    f: Finish,
    out: &[u8],
    ctx: &SessionContext,
) -> std::io::Result<End<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if !matches!(f, Finish::Abrupt) {
        write_timed(&mut stream, out, ctx.command_timeout).await?;
    }
    if let Finish::StartTls = f {
        return Ok(End::StartTls(stream));
    }
    let _ = stream.shutdown().await;
    Ok(End::Closed)
}

/// Reads more of the client into `pending`: `false` when the session is over (the client left,
/// fell silent past its timeout, or the relay stops outside DATA; the last two are told why).
async fn read_more<S>(
    stream: &mut S,
    pending: &mut Vec<u8>,
    m: &mut Machine,
    ctx: &SessionContext,
    out: &mut Vec<u8>,
) -> std::io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limit = if m.in_data() {
        ctx.data_timeout
    } else {
        ctx.command_timeout
    };
    let mut stopping = ctx.shutdown.clone();
    let stop = async move {
        // The guard `wait_for` returns must not live across the awaits below.
        let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
    };
    // Read straight into the spare capacity of `pending`: no zeroed buffer, no extra copy.
    // Idle sessions keep a small buffer (10,000 of them must fit in little memory); a message
    // in DATA gets room for large reads.
    let want = if m.in_data() { 64 * 1024 } else { 2 * 1024 };
    if pending.capacity() - pending.len() < want / 2 {
        pending.reserve(want);
    }
    let read = tokio::time::timeout(limit, stream.read_buf(pending));
    let farewell = tokio::select! {
        r = read => match r {
            Ok(r) => return Ok(r? > 0),
            Err(_) => m.timed_out(),
        },
        _ = stop, if !m.in_data() => reply::shutting_down(),
    };
    farewell.write_to(out);
    write_timed(stream, out, ctx.command_timeout).await?;
    let _ = stream.shutdown().await;
    Ok(false)
}

/// Writes within `limit`: a client that pipelines commands and never reads its replies must not
/// hold its session (and a connection slot) past the timeout.
async fn write_timed<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    limit: Duration,
) -> std::io::Result<()> {
    match tokio::time::timeout(limit, stream.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client not reading its replies",
        )),
    }
}

/// How the mail log names the client: its account once logged in, else its address.
fn client_name(session: &Session, m: &Machine) -> String {
    m.user()
        .map(String::from)
        .unwrap_or_else(|| session.peer.ip().to_string())
}

/// A refusal decided outside the machine (SPF): the mail-log line and the metric that the
/// driver writes for the machine's own 4xx/5xx replies.
fn rejected(ctx: &SessionContext, client: &str, queue_id: &str, reply: &Reply) {
    let text = reply.lines.join(" ");
    crate::maillog!(maillog::REJECTED, %client, %queue_id, code = reply.code, reply = %text);
    ctx.metrics.count(maillog::REJECTED, "", 1);
}

/// SPF at MAIL, in reject mode, when policy keeps the sender as given: a refusal here spares
/// the client sending the message for nothing. Otherwise the check waits for the end of DATA.
async fn check_sender(
    ctx: &SessionContext,
    session: &Session,
    m: &Machine,
    sender: &str,
) -> Option<Reply> {
    let (upstream, rewritten) = ctx.policy.sender_route(session.profile(), sender);
    if rewritten {
        return None;
    }
    match ctx.spf.decide(sender, upstream.as_deref()).await {
        crate::spf::Decision::Refuse(why) => {
            let reply = why.reply();
            rejected(ctx, &client_name(session, m), "-", &reply);
            Some(reply)
        }
        crate::spf::Decision::Relay { .. } => None,
    }
}
