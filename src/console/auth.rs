//! Who may use the console: the admin's password (an argon2id hash in `[console]
//! password_hash`), or the one-time link printed at start; then a session cookie
//! (`HttpOnly; SameSite=Strict`) with its own CSRF token that every state-changing request must
//! carry; or, for scripts, `Authorization: Bearer` tokens created in the console (kept hashed).
//! Failed logins are counted per address and ban it for a while, as the relay does for SMTP.
//! Never stores or shows a password or a token after creating it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// A console session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(8 * 3600);
pub const COOKIE: &str = "smarthost_console";

#[derive(Clone)]
pub struct Session {
    pub csrf: String,
    last: Instant,
}

pub struct Auth {
    password_hash: Option<String>,
    /// The one-time login token of the start-up link; gone once used.
    once: Mutex<Option<String>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// sha256 of each API token -> its label.
    tokens: Mutex<HashMap<String, String>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    fail_limit: u32,
    ban: Duration,
}

/// Why a login did not open a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Wrong,
    Banned { seconds: u64 },
}

pub fn random_token() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

fn digest(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    B64.encode(d.as_ref())
}

impl Auth {
    pub fn new(
        password_hash: Option<String>,
        one_time: bool,
        fail_limit: u32,
        ban: Duration,
    ) -> Auth {
        Auth {
            password_hash,
            once: Mutex::new(one_time.then(random_token)),
            sessions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            fail_limit: fail_limit.max(1),
            ban,
        }
    }

    /// The one-time token for the start-up link, if there is one.
    pub fn one_time(&self) -> Option<String> {
        lock(&self.once).clone()
    }

    /// A password login from `ip`: a new session id, or why not. The ban is checked first, so
    /// a banned address costs no argon2 verification.
    pub fn login(&self, ip: IpAddr, password: &str) -> Result<String, Refused> {
        self.check_ban(ip)?;
        let ok = self
            .password_hash
            .as_deref()
            .is_some_and(|h| crate::config::verify_password(h, password));
        self.finish(ip, ok)
    }

    /// The one-time link's token: opens a session once.
    pub fn login_once(&self, ip: IpAddr, token: &str) -> Result<String, Refused> {
        self.check_ban(ip)?;
        let mut once = lock(&self.once);
        let ok = once
            .as_deref()
            .is_some_and(|t| constant_eq(t.as_bytes(), token.as_bytes()));
        if ok {
            *once = None;
        }
        drop(once);
        self.finish(ip, ok)
    }

    fn check_ban(&self, ip: IpAddr) -> Result<(), Refused> {
        let failures = lock(&self.failures);
        match failures.get(&ip) {
            Some((n, at)) if *n >= self.fail_limit && at.elapsed() < self.ban => {
                Err(Refused::Banned {
                    seconds: (self.ban - at.elapsed()).as_secs() + 1,
                })
            }
            _ => Ok(()),
        }
    }

    fn finish(&self, ip: IpAddr, ok: bool) -> Result<String, Refused> {
        let mut failures = lock(&self.failures);
        if !ok {
            let e = failures.entry(ip).or_insert((0, Instant::now()));
            if e.1.elapsed() >= self.ban {
                *e = (0, Instant::now());
            }
            e.0 += 1;
            e.1 = Instant::now();
            return Err(Refused::Wrong);
        }
        drop(failures);
        let id = random_token();
        lock(&self.sessions).insert(
            id.clone(),
            Session {
                csrf: random_token(),
                last: Instant::now(),
            },
        );
        Ok(id)
    }

    /// The live session of a cookie value, touched.
    pub fn session(&self, id: &str) -> Option<Session> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.last.elapsed() < IDLE);
        let s = sessions.get_mut(id)?;
        s.last = Instant::now();
        Some(s.clone())
    }

    pub fn logout(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// A new API token (shown once); only its digest is kept.
    pub fn new_api_token(&self, label: &str) -> String {
        let token = random_token();
        lock(&self.tokens).insert(digest(&token), label.to_string());
        token
    }

    pub fn api_token_ok(&self, token: &str) -> bool {
        lock(&self.tokens).contains_key(&digest(token))
    }

    /// The labels of the API tokens in force.
    pub fn api_tokens(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.tokens).values().cloned().collect();
        v.sort();
        v
    }
}

/// Equal without telling by its timing how much of it matched.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let hash = crate::config::hash_password("s3cret");
        Auth::new(Some(hash), true, 3, Duration::from_secs(60))
    }

    #[test]
    fn the_right_password_opens_a_session_with_its_own_csrf_token() {
        let a = auth();
        let id = a.login("127.0.0.1".parse().unwrap(), "s3cret").unwrap();
        let s = a.session(&id).unwrap();
        assert_ne!(s.csrf, id);
        assert!(a.session("forged").is_none());
    }

    #[test]
    fn wrong_passwords_ban_the_address_and_a_banned_address_is_not_checked() {
        let a = auth();
        let ip = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(a.login(ip, "guess"), Err(Refused::Wrong));
        }
        assert!(matches!(a.login(ip, "s3cret"), Err(Refused::Banned { .. })));
        assert!(a.login("127.0.0.3".parse().unwrap(), "s3cret").is_ok());
    }

    #[test]
    fn the_one_time_link_works_once() {
        let a = auth();
        let t = a.one_time().unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        assert!(a.login_once(ip, &t).is_ok());
        assert_eq!(a.login_once(ip, &t), Err(Refused::Wrong));
        assert!(a.one_time().is_none());
    }

    #[test]
    fn api_tokens_are_kept_as_digests() {
        let a = auth();
        let t = a.new_api_token("backup script");
        assert!(a.api_token_ok(&t));
        assert!(!a.api_token_ok("other"));
        assert!(!lock(&a.tokens).contains_key(&t));
    }
}
