//! The driver's side of AUTH: checks a login through [`login_guard`](super::login_guard) and
//! turns the outcome into the replies (`235`, `535`, `454 4.7.0` for a paused name, `421 4.7.0`
//! and close for a banned address, with the time to try again) and the mail-log line that names
//! the account. Split from `session.rs` for size; no socket I/O of its own.

use std::net::SocketAddr;

use super::login_guard::{self, Lock, LoginOutcome};
use super::machine::Machine;
use super::reply::{self, Reply};
use super::{Session, SessionContext, login};
use crate::maillog;

/// A CRAM-MD5 challenge, unique per session (RFC 2195: `<random.time@host>`).
pub(super) fn cram_challenge(hostname: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("<{}.{now}@{hostname}>", rand::random::<u32>())
}

/// Checks a login and writes the replies; true when the session must close (its address is
/// banned). A locked name or address is said in the mail log with the name.
pub(super) async fn login(
    ctx: &SessionContext,
    session: &Session,
    m: &mut Machine,
    l: login::Login,
    out: &mut Vec<u8>,
) -> bool {
    let peer = session.peer;
    let name = crate::maillog::escape_controls(&l.username).into_owned();
    let outcome = login_guard::check_login(ctx, peer, session.trusted, l).await;
    let lock = match outcome {
        LoginOutcome::Accepted(a) => {
            session.logged_in(&a);
            if let Some(c) = ctx.clients.iter().find(|c| c.name == a) {
                m.restrict(c.max_recipients, c.max_message_size);
            }
            m.authenticated(Some(a)).write_to(out);
            return false;
        }
        LoginOutcome::Failed(lock) => {
            m.authenticated(None).write_to(out);
            match lock {
                // The name is paused from now on; this attempt's answer stays 535.
                Some(Lock::Name(until)) => {
                    let r = reply::login_paused(&name, &login_guard::wall_clock(until));
                    log_lock(ctx, peer, &name, &r);
                    return false;
                }
                Some(lock) => lock,
                None => return false,
            }
        }
        LoginOutcome::Refused(Lock::Name(until)) => {
            let r = reply::login_paused(&name, &login_guard::wall_clock(until));
            log_lock(ctx, peer, &name, &r);
            m.auth_refused(r).write_to(out);
            return false;
        }
        LoginOutcome::Refused(lock) => lock,
    };
    let (Lock::Address(until) | Lock::Name(until)) = lock;
    let r = reply::too_many_auth_failures(peer.ip(), &login_guard::wall_clock(until));
    log_lock(ctx, peer, &name, &r);
    r.write_to(out);
    true
}

fn log_lock(ctx: &SessionContext, peer: SocketAddr, account: &str, r: &Reply) {
    let reply = r.lines.join(" ");
    crate::maillog!(maillog::REJECTED, client = %peer.ip(), %account, code = r.code, %reply);
    ctx.metrics.count(maillog::REJECTED, "", 1);
}
