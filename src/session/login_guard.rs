//! What stands between a password guesser and the accounts: failed logins counted per address,
//! per account and per (address, name), bans, and a cap on concurrent argon2 verifications.
//! Owns the counting rules; never reads a socket and never decides what the client is told (the
//! driver does).
//!
//! The rules, and why:
//! - An address in `allowed_networks` is never banned as a whole: one program on the office's
//!   machine with a wrong password must not lock out every other program there (Python's
//!   `login()` tries PLAIN then LOGIN, two failures per send). Only the failing name is paused
//!   from that address; other names and sessions that do not log in go on.
//! - An address outside `allowed_networks` (let in only to log in) is banned as a whole after
//!   `auth_fail_limit` failures, whatever names it tried.
//! - An attempt is counted when it starts, not when it has failed: twenty parallel sessions
//!   must not each get a guess in before the first failure is recorded.
//! - A good login takes back only its own attempt: it never clears failures of other accounts
//!   (four wrong passwords for `boss`, one good login as `payroll`, and so on, must still ban).
//! - The ban is checked before a password is verified, and an address, name or account already
//!   at its limit gets no verification at all.
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
#[derive(Debug, Default, Clone)]
struct Count {
    attempts: u32,
    since: Option<Instant>,
    banned_until: Option<Instant>,
    /// The name of the last failed attempt, for the log line of a refused connection.
    last_name: Option<String>,
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

    fn banned(&self, now: Instant) -> Option<Instant> {
        self.banned_until.filter(|t| now < *t)
    }
}

/// Where an attempt comes from: decides what a run of failures locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// In `allowed_networks`: only the failing name is paused from this address.
    Trusted(IpAddr),
    /// Outside `allowed_networks`: the whole address is banned.
    Outside(IpAddr),
}

/// What a run of failed logins has locked, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The address (outside `allowed_networks`): its sessions are closed, new ones refused.
    Address(Instant),
    /// This name, from this address or (a configured account guessed from many) from all.
    Name(Instant),
}

#[derive(Default)]
struct State {
    /// Addresses outside `allowed_networks`.
    addresses: HashMap<IpAddr, Count>,
    /// (Trusted address, name); every unknown name of one address shares the key `None`, so a
    /// guesser cannot grow this map.
    names: HashMap<(IpAddr, Option<String>), Count>,
    /// Only configured account names: a guesser cannot grow this map.
    accounts: HashMap<String, Count>,
}

/// Failed logins per address, per (address, name) and per account; the limit bans for `ban`.
#[derive(Default)]
pub struct Bans {
    state: Mutex<State>,
}

impl Bans {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Until when `ip` is banned as a whole, and the name whose failures banned it. Only
    /// addresses outside `allowed_networks` are ever banned as a whole.
    pub fn banned(&self, ip: IpAddr) -> Option<(Instant, Option<String>)> {
        let now = Instant::now();
        let state = self.lock();
        let c = state.addresses.get(&ip)?;
        c.banned(now).map(|t| (t, c.last_name.clone()))
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned(ip).is_some()
    }

    /// The counts one attempt touches, each with its limit.
    fn counts<'a>(
        state: &'a mut State,
        from: Source,
        name: &str,
        account: Option<&str>,
        limit: u32,
    ) -> Vec<(&'a mut Count, u32, bool)> {
        let State {
            addresses,
            names,
            accounts,
        } = state;
        let mut counts = Vec::with_capacity(2);
        match from {
            Source::Outside(ip) => counts.push((addresses.entry(ip).or_default(), limit, true)),
            Source::Trusted(ip) => {
                let key = (ip, account.map(|_| name.to_string()));
                counts.push((names.entry(key).or_default(), limit, false));
            }
        }
        if let Some(a) = account {
            let c = accounts.entry(a.to_string()).or_default();
            counts.push((c, limit.saturating_mul(ACCOUNT_FACTOR), false));
        }
        counts
    }

    /// An attempt starts: `Err` refuses it unverified (the address, the name or the account is
    /// locked, or already has `limit` attempts counted). Otherwise it is counted until
    /// [`Bans::succeeded`] takes it back. `account`: `name` when it is a configured account.
    pub fn begin(
        &self,
        from: Source,
        name: &str,
        account: Option<&str>,
        limit: u32,
        ban: Duration,
    ) -> Result<(), Lock> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut counts = Self::counts(&mut state, from, name, account, limit);
        for (c, _, _) in counts.iter_mut() {
            c.expire(now, ban);
        }
        for (c, lim, whole) in &counts {
            // At the limit but not yet banned: a parallel attempt still running will decide.
            let until = c.banned(now).or((c.attempts >= *lim).then_some(now + ban));
            if let Some(t) = until {
                return Err(if *whole {
                    Lock::Address(t)
                } else {
                    Lock::Name(t)
                });
            }
        }
        for (c, _, _) in counts {
            c.attempts += 1;
            c.since.get_or_insert(now);
        }
        Ok(())
    }

    /// The attempt failed: it stays counted. `Some` when it locked something from now on.
    pub fn failed(
        &self,
        from: Source,
        name: &str,
        account: Option<&str>,
        limit: u32,
        ban: Duration,
    ) -> Option<Lock> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut locked = None;
        for (c, lim, whole) in Self::counts(&mut state, from, name, account, limit) {
            c.last_name = Some(name.to_string());
            if c.attempts >= lim {
                let t = *c.banned_until.get_or_insert(now + ban);
                // The address lock is the stronger one: it wins over a name lock.
                if whole || locked.is_none() {
                    locked = Some(if whole {
                        Lock::Address(t)
                    } else {
                        Lock::Name(t)
                    });
                }
            }
        }
        locked
    }

    /// The attempt succeeded: only its own counts are taken back.
    pub fn succeeded(&self, from: Source, name: &str, account: Option<&str>) {
        let mut state = self.lock();
        for (c, _, _) in Self::counts(&mut state, from, name, account, 0) {
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
#[derive(Debug)]
pub(super) enum LoginOutcome {
    Accepted(String),
    /// Wrong credentials; `Some`: this failure locked the name or the address from now on.
    Failed(Option<Lock>),
    /// Not even verified: the address, the name or the account is locked.
    Refused(Lock),
}

/// Checks a login: counted as it starts, refused unverified past the limit, verified off the
/// async workers under the cap on concurrent argon2 runs; a failure is answered after a pause.
/// Without `[[client]]` accounts and with `accept_any_login`, any name logs in unchecked.
pub(super) async fn check_login(
    ctx: &SessionContext,
    peer: SocketAddr,
    trusted: bool,
    l: login::Login,
) -> LoginOutcome {
    let (limit, ban) = (ctx.auth.fail_limit, ctx.auth.ban);
    let name = l.username.clone();
    let shown = crate::maillog::escape_controls(&name).into_owned();
    if ctx.auth.accept_any && ctx.clients.is_empty() && trusted {
        // The password is dropped here: never stored, never logged.
        drop(l);
        tracing::info!(%peer, client = %shown, "client logged in (accept_any_login: not checked)");
        return LoginOutcome::Accepted(name);
    }
    let from = if trusted {
        Source::Trusted(peer.ip())
    } else {
        Source::Outside(peer.ip())
    };
    // Only configured names are counted per account: a guesser cannot grow the table.
    let account = ctx
        .clients
        .iter()
        .any(|c| c.name == name)
        .then_some(name.as_str());
    if let Err(lock) = ctx.bans.begin(from, &name, account, limit, ban) {
        tracing::warn!(%peer, client = %shown, "login refused unchecked: too many failed logins");
        return LoginOutcome::Refused(lock);
    }
    let verifier = Verifier::global();
    if let Some(ok) = verifier
        .verify(ctx.clients.clone(), name.clone(), l.password)
        .await
    {
        ctx.bans.succeeded(from, &name, account);
        tracing::info!(%peer, client = %shown, "client logged in");
        return LoginOutcome::Accepted(ok);
    }
    tokio::time::sleep(FAILED_LOGIN_PAUSE).await;
    let locked = ctx.bans.failed(from, &name, account, limit, ban);
    match locked {
        Some(Lock::Address(_)) => {
            tracing::warn!(%peer, client = %shown, "failed login; address banned for {ban:?}")
        }
        Some(Lock::Name(_)) => tracing::warn!(%peer, client = %shown,
            "failed login; this name is paused for {ban:?} (other names and programs go on)"),
        None => tracing::warn!(%peer, client = %shown, "failed login"),
    }
    LoginOutcome::Failed(locked)
}

/// `until` as the local time of day a person can act on ("14:35").
pub fn wall_clock(until: Instant) -> String {
    let left = until.saturating_duration_since(Instant::now());
    let at = chrono::Local::now() + chrono::Duration::from_std(left).unwrap_or_default();
    // Rounded up: "try again after 14:35" must never be too early.
    let at = at + chrono::Duration::seconds(59);
    at.format("%H:%M").to_string()
}

/// Slows down password guessing; an honest typo costs a second.
const FAILED_LOGIN_PAUSE: Duration = Duration::from_millis(1000);

#[cfg(test)]
#[path = "login_guard_tests.rs"]
mod tests;
