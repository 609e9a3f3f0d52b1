//! One message through one upstream: take a session from the pool (or open one), ask the
//! throttle for each transaction, split the recipients when the provider takes fewer per
//! message, send each transaction through the transport, and react to a provider's "slow
//! down". Persists quota use and pauses through the [`LimitBook`]. Returns what the upstream
//! said; never decides retries or bounces (the attempt does).

use super::limits::LimitBook;
use super::pacer::Permit;
use super::target::Target;
use super::transport::Session;
use crate::spool::{StoredMessage, now_ms};
use crate::throttle::{Hold, signal};
use crate::upstream::RcptResult;
use crate::upstream::error::UpstreamError;

/// What one attempt through one upstream gave.
pub struct Attempt {
    pub results: Vec<(usize, RcptResult)>,
    /// The upstream's limits stopped the attempt; recipients without a result wait until then.
    pub held: Option<Hold>,
    /// The upstream offered DSN, so NOTIFY went on to it and its own reports will follow.
    pub dsn_passed_on: bool,
}

impl Attempt {
    fn held(results: Vec<(usize, RcptResult)>, hold: Hold) -> Attempt {
        Attempt {
            results,
            held: Some(hold),
            dsn_passed_on: false,
        }
    }
}

/// A session and whether it came from the pool (then a dropped connection earns one fresh try).
struct Open {
    session: Session,
    reused: bool,
}

/// Sends `msg` to the recipients at `pending` through `target`.
pub async fn send(
    target: &Target,
    book: &LimitBook,
    msg: &StoredMessage,
    pending: &[usize],
) -> Result<Attempt, UpstreamError> {
    let pacer = &target.pacer;
    if let Some(hold) = pacer.hold(now_ms()).await {
        return Ok(Attempt::held(Vec::new(), hold));
    }
    let permit = pacer.connection().await;
    let mut open = match target.pool.checkout() {
        Some(session) => Open {
            session,
            reused: true,
        },
        None => match target.transport.open().await {
            Ok(session) => Open {
                session,
                reused: false,
            },
            Err(e) => return signalled(target, book, e, Vec::new(), permit).await,
        },
    };
    // More recipients than the provider takes in one transaction: several transactions.
    let per = target
        .transport
        .per_transaction()
        .unwrap_or(pending.len())
        .max(1);
    let mut results = Vec::with_capacity(pending.len());
    let mut rest = pending;
    while !rest.is_empty() {
        let (n, units) = match pacer.take(now_ms(), per.min(rest.len())).await {
            Ok(granted) => granted,
            Err(hold) => {
                return Ok(finish(target, open.session, results, Some(hold)).await);
            }
        };
        if units > 0 {
            book.spent(&target.name, units).await;
        }
        let _admitted = pacer.admit().await;
        let (part, tail) = rest.split_at(n);
        let sent = match transaction(target, &mut open, msg, part).await {
            Ok(sent) => sent,
            Err(e) if results.is_empty() => {
                return signalled(target, book, e, results, permit).await;
            }
            Err(e) => {
                // The first transactions went through; the rest wait for the next try.
                let reply = e.to_string();
                results.extend(
                    rest.iter()
                        .map(|&i| (i, RcptResult::Deferred(reply.clone()))),
                );
                let dsn_passed_on = open.session.passes_dsn_on();
                return Ok(Attempt {
                    results,
                    held: None,
                    dsn_passed_on,
                });
            }
        };
        let mut part_results = sent;
        if let Some((signal, reply)) = soften_signals(&mut part_results) {
            results.extend(part_results);
            let (hold, pause) = pacer.back_off(signal, &reply, now_ms(), permit).await;
            book.paused(&target.name, pause).await;
            // The provider may have closed it or count it against us; not reused.
            drop(open);
            return Ok(Attempt::held(results, hold));
        }
        results.extend(part_results);
        rest = tail;
    }
    Ok(finish(target, open.session, results, None).await)
}

/// One transaction; a pooled session the server dropped meanwhile is replaced once.
async fn transaction(
    target: &Target,
    open: &mut Open,
    msg: &StoredMessage,
    part: &[usize],
) -> Result<Vec<(usize, RcptResult)>, UpstreamError> {
    let sent = target.transport.send(&mut open.session, msg, part).await;
    let stale = open.reused
        && matches!(
            sent,
            Err(UpstreamError::Io { .. } | UpstreamError::Closed { .. })
        );
    open.reused = false;
    if !stale {
        return sent;
    }
    open.session = target.transport.open().await?;
    target.transport.send(&mut open.session, msg, part).await
}

/// The session goes back to the pool for the next message, unless connections are counted
/// across relays: then it is closed while this attempt still holds its slot, so an idle
/// connection never counts against the account without a slot.
async fn finish(
    target: &Target,
    session: Session,
    results: Vec<(usize, RcptResult)>,
    held: Option<Hold>,
) -> Attempt {
    let dsn_passed_on = session.passes_dsn_on();
    if target.pacer.pools_connections() {
        target.pool.checkin(session);
    } else {
        session.close().await;
    }
    Attempt {
        results,
        held,
        dsn_passed_on,
    }
}

/// A failed connection or transaction: a provider's "slow down" (a `421 4.7.0` greeting, a
/// `432 4.3.2` after AUTH) holds the mail and backs off; anything else is the caller's to
/// retry or fall back from.
async fn signalled(
    target: &Target,
    book: &LimitBook,
    e: UpstreamError,
    results: Vec<(usize, RcptResult)>,
    permit: Permit<'_>,
) -> Result<Attempt, UpstreamError> {
    match provider_signal(&e) {
        Some((signal, reply)) => {
            let (hold, pause) = target
                .pacer
                .back_off(signal, &reply, now_ms(), permit)
                .await;
            book.paused(&target.name, pause).await;
            Ok(Attempt::held(results, hold))
        }
        None => Err(e),
    }
}

/// A "slow down" in an error: an HTTP `Retry-After` or `429`, or an SMTP reply that says so.
fn provider_signal(e: &UpstreamError) -> Option<(signal::Signal, String)> {
    if let Some(rest) = e.rest_for() {
        return Some((signal::Signal::RestFor(rest), e.to_string()));
    }
    if e.is_throttled() {
        return Some((signal::Signal::Throttled, e.to_string()));
    }
    let reply = e.reply()?.to_string();
    signal::classify(&reply).map(|s| (s, reply))
}

/// A provider's "slow down" reply never fails a recipient, even as a 5xx: those results become
/// deferrals. Returns the first such signal and its reply.
fn soften_signals(results: &mut [(usize, RcptResult)]) -> Option<(signal::Signal, String)> {
    let mut found = None;
    for (_, r) in results.iter_mut() {
        let (RcptResult::Failed(reply) | RcptResult::Deferred(reply)) = r else {
            continue;
        };
        if let Some(s) = signal::classify(reply) {
            found.get_or_insert((s, reply.clone()));
            *r = RcptResult::Deferred(reply.clone());
        }
    }
    found
}
