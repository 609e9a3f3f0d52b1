//! What stands between a password guesser and the accounts: failed logins counted per address
//! and per account, bans, and a cap on concurrent argon2 verifications. Owns the counting rules;
//! never reads a socket and never decides what the client is told (the driver does).
//!
//! The rules, and why:
//! - An attempt is counted when it starts, not when it has failed: twenty parallel sessions
//!   must not each get a guess in before the first failure is recorded.
//! - A good login takes back only its own attempt: it never clears failures of other accounts
//!   (four wrong passwords for `boss`, one good login as `payroll`, and so on, must still ban).
//! - The ban is checked before a password is verified, and an address or account already at
//!   its limit gets no verification at all.
//! - argon2id costs 19 MiB and tens of milliseconds per check: at most one verification per
//!   core runs at once, and an unknown account name is verified against a dummy hash so that
//!   it costs what a known one costs (no timing oracle for account names).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};

use super::{SessionContext, login};
use crate::config::ClientAccount;

/// An account is banned after this many times the per-address limit: high enough that one
/// guesser cannot lock a program out by itself, low enough to stop a guesser spread over many
/// addresses.
const ACCOUNT_FACTOR: u32 = 4;

/// Attempts within one window (as long as the ban), and the ban once the limit is reached.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    attempts: u32,
    since: Option<Instant>,
    banned_until: Option<Instant>,
}

impl Count {
    /// Forgets a ban that is over, and attempts older than the window.
    fn expire(&mut self, now: Instant, window: Duration) {
        let ban_over = self.banned_until.is_some_and(|t| now >= t);
        let window_over = self.since.is_some_and(|t| now >= t + window);
        if ban_over || (self.banned_until.is_none() && window_over) {
            *self = Count::default();
        }
    }

    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|t| now < t)
    }
}

#[derive(Default)]
struct State {
    addresses: HashMap<IpAddr, Count>,
    /// Only configured account names: a guesser cannot grow this map.
    accounts: HashMap<String, Count>,
}

/// Failed logins per address and per account; the limit bans for `ban`.
#[derive(Default)]
pub struct Bans {
    state: Mutex<State>,
}

impl Bans {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.lock()
            .addresses
            .get(&ip)
            .is_some_and(|c| c.banned(now))
    }

    /// An attempt starts: `false` refuses it unverified (the address or the account is banned,
    /// or already has `limit` attempts counted). Otherwise it is counted until
    /// [`Bans::succeeded`] takes it back.
    pub fn begin(&self, ip: IpAddr, account: Option<&str>, limit: u32, ban: Duration) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        let State {
            addresses,
            accounts,
        } = &mut *state;
        let address = addresses.entry(ip).or_default();
        address.expire(now, ban);
        let mut counts = vec![(address, limit)];
        if let Some(name) = account {
            let c = accounts.entry(name.to_string()).or_default();
            c.expire(now, ban);
            counts.push((c, limit.saturating_mul(ACCOUNT_FACTOR)));
        }
        if counts
            .iter()
            .any(|(c, lim)| c.banned(now) || c.attempts >= *lim)
        {
            return false;
        }
        for (c, _) in counts {
            c.attempts += 1;
            c.since.get_or_insert(now);
        }
        true
    }

    /// The attempt failed: it stays counted. True when the address is banned from now on.
    pub fn failed(&self, ip: IpAddr, account: Option<&str>, limit: u32, ban: Duration) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(c) = account.and_then(|name| state.accounts.get_mut(name))
            && c.attempts >= limit.saturating_mul(ACCOUNT_FACTOR)
        {
            c.banned_until.get_or_insert(now + ban);
        }
        let address = state.addresses.entry(ip).or_default();
        if address.attempts >= limit {
            address.banned_until.get_or_insert(now + ban);
        }
        address.banned(now)
    }

    /// The attempt succeeded: only its own count is taken back.
    pub fn succeeded(&self, ip: IpAddr, account: Option<&str>) {
        let mut state = self.lock();
        if let Some(c) = state.addresses.get_mut(&ip) {
            c.attempts = c.attempts.saturating_sub(1);
        }
        if let Some(c) = account.and_then(|name| state.accounts.get_mut(name)) {
            c.attempts = c.attempts.saturating_sub(1);
        }
    }
}

/// Runs password checks, at most one per core at a time.
pub struct Verifier {
    permits: tokio::sync::Semaphore,
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// One verifier for the process: the cap is about this machine's cores and memory.
static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Verifier::new(cores)
});

/// Checked instead of a real hash when the account name is unknown, so both cost the same.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| crate::config::hash_password("no account has this password"));

impl Verifier {
    pub fn new(max_concurrent: usize) -> Verifier {
        Verifier {
            permits: tokio::sync::Semaphore::new(max_concurrent.max(1)),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    pub fn global() -> &'static Verifier {
        &VERIFIER
    }

    /// The account name when `password` is right for it; `None` otherwise (unknown name
    /// included, after the same work).
    pub async fn verify(
        &self,
        clients: Arc<Vec<ClientAccount>>,
        name: String,
        password: String,
    ) -> Option<String> {
        let _permit = self.permits.acquire().await.ok()?;
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let ok =
            tokio::task::spawn_blocking(move || match clients.iter().find(|c| c.name == name) {
                Some(c) => c.verify(&password).then_some(name),
                None => {
                    verify_dummy(&password);
                    None
                }
            })
            .await
            .ok()
            .flatten();
        self.running.fetch_sub(1, Ordering::SeqCst);
        ok
    }

    /// The most verifications that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

fn verify_dummy(password: &str) {
    if let Ok(h) = PasswordHash::new(&DUMMY_HASH) {
        let _ = argon2::Argon2::default().verify_password(password.as_bytes(), &h);
    }
}

/// What became of one AUTH attempt.
pub(super) enum LoginOutcome {
    Accepted(String),
    /// Wrong credentials; `banned`: the address is banned from now on.
    Failed {
        banned: bool,
    },
    /// Not even verified: the address or the account is banned or at its limit.
    Refused,
}

/// Checks a login: counted as it starts, refused unverified past the limit, verified off the
/// async workers under the cap on concurrent argon2 runs; a failure is answered after a pause.
pub(super) async fn check_login(
    ctx: &SessionContext,
    peer: SocketAddr,
    l: login::Login,
) -> LoginOutcome {
    let (limit, ban) = (ctx.auth.fail_limit, ctx.auth.ban);
    let name = l.username.clone();
    let shown = crate::maillog::escape_controls(&name).into_owned();
    // Only configured names are counted per account: a guesser cannot grow the table.
    let account = ctx
        .clients
        .iter()
        .any(|c| c.name == name)
        .then_some(name.as_str());
    if !ctx.bans.begin(peer.ip(), account, limit, ban) {
        tracing::warn!(%peer, client = %shown, "login refused unchecked: too many failed logins");
        return LoginOutcome::Refused;
    }
    let verifier = Verifier::global();
    if let Some(ok) = verifier
        .verify(ctx.clients.clone(), name.clone(), l.password)
        .await
    {
        ctx.bans.succeeded(peer.ip(), account);
        tracing::info!(%peer, client = %shown, "client logged in");
        return LoginOutcome::Accepted(ok);
    }
    tokio::time::sleep(FAILED_LOGIN_PAUSE).await;
    let banned = ctx.bans.failed(peer.ip(), account, limit, ban);
    if banned {
        tracing::warn!(%peer, client = %shown, "failed login; address banned for {ban:?}");
    } else {
        tracing::warn!(%peer, client = %shown, "failed login");
    }
    LoginOutcome::Failed { banned }
}

/// Slows down password guessing; an honest typo costs a second.
const FAILED_LOGIN_PAUSE: Duration = Duration::from_millis(1000);

#[cfg(test)]
#[path = "login_guard_tests.rs"]
mod tests;
