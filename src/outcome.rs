//! Turns what the upstream said into the spool's record of each recipient: delivered, failed
//! (kept for the bounce stage), or still pending with the reply and the time of the next try.
//! Pure: no I/O, the caller writes the returned [`Progress`].

use std::time::Duration;

pub use crate::config::RetryPolicy;
use crate::spool::{Progress, RcptState, StoredMessage};
use crate::throttle::Hold;
use crate::upstream::RcptResult;

/// Delay before attempt number `attempts + 1`, with ±10% jitter so a queue that failed
/// together does not retry as one burst.
pub fn retry_delay(retry: &RetryPolicy, attempts: u32) -> Duration {
    let Some(last) = retry.schedule.len().checked_sub(1) else {
        return Duration::from_secs(60);
    };
    let base = retry.schedule[(attempts.saturating_sub(1) as usize).min(last)];
    base.mul_f64(0.9 + rand::random::<f64>() * 0.2)
}

/// A recipient that failed for good in this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFailure {
    pub index: usize,
    pub reply: String,
    pub expired: bool,
}

/// Applies per-recipient results of one attempt (recipients without a result keep their state)
/// and expires what has waited past `max_age`. Returns the new record and the recipients that
/// just failed, for the bounce.
pub fn apply(
    msg: &StoredMessage,
    results: &[(usize, RcptResult)],
    now_ms: i64,
    retry: &RetryPolicy,
) -> (Progress, Vec<NewFailure>) {
    let mut rcpts = msg.rcpts.clone();
    let mut failed = Vec::new();
    for (i, r) in results {
        rcpts[*i] = match r {
            RcptResult::Delivered(reply) => RcptState::Delivered {
                reply: reply.clone(),
            },
            RcptResult::Failed(reply) => {
                failed.push(NewFailure {
                    index: *i,
                    reply: reply.clone(),
                    expired: false,
                });
                RcptState::Failed {
                    reply: reply.clone(),
                }
            }
            RcptResult::Deferred(reply) => RcptState::Pending {
                last_reply: Some(reply.clone()),
            },
        };
    }
    let age_ms = now_ms.saturating_sub(msg.created.saturating_mul(1000));
    if age_ms >= retry.max_age.as_millis() as i64 {
        for (i, state) in rcpts.iter_mut().enumerate() {
            if let RcptState::Pending { last_reply } = state {
                let reply = last_reply
                    .clone()
                    .unwrap_or_else(|| "no attempt succeeded".into());
                failed.push(NewFailure {
                    index: i,
                    reply: reply.clone(),
                    expired: true,
                });
                *state = RcptState::Failed {
                    reply: format!("expired: {reply}"),
                };
            }
        }
    }
    let attempts = msg.attempts + 1;
    let next_attempt = now_ms + retry_delay(retry, attempts).as_millis() as i64;
    (
        Progress {
            id: msg.id.clone(),
            rcpts,
            attempts,
            next_attempt,
            warned: msg.warned,
            limited_by: None,
        },
        failed,
    )
}

/// The upstream's limits stopped the attempt: recipients with a result take it, the others stay
/// pending with the hold's reason, and the next try is when the limit frees (not a retry step).
/// Only an attempt that sent something counts as one.
pub fn hold(
    msg: &StoredMessage,
    results: &[(usize, RcptResult)],
    hold: &Hold,
    upstream: &str,
    now_ms: i64,
    retry: &RetryPolicy,
) -> (Progress, Vec<NewFailure>) {
    let mut all = results.to_vec();
    for i in msg.pending_indices() {
        if !results.iter().any(|(j, _)| *j == i) {
            all.push((i, RcptResult::Deferred(hold.reason.clone())));
        }
    }
    let (mut p, failed) = apply(msg, &all, now_ms, retry);
    if results.is_empty() {
        p.attempts = msg.attempts;
    }
    p.next_attempt = hold.until;
    p.limited_by = Some(upstream.to_string());
    (p, failed)
}

/// Every pending recipient deferred with the same reason (the connection failed).
pub fn defer_all(
    msg: &StoredMessage,
    reason: &str,
    now_ms: i64,
    retry: &RetryPolicy,
) -> (Progress, Vec<NewFailure>) {
    let results: Vec<(usize, RcptResult)> = msg
        .pending_indices()
        .into_iter()
        .map(|i| (i, RcptResult::Deferred(reason.to_string())))
        .collect();
    apply(msg, &results, now_ms, retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Envelope, Recipient};
    use std::sync::Arc;

    fn msg(n: usize) -> StoredMessage {
        StoredMessage {
            id: "Q".into(),
            created: 0,
            envelope: Envelope {
                mail_from: "a@x".into(),
                body: Default::default(),
                smtputf8: false,
                ret: None,
                envid: None,
                upstream: None,
                client: None,
                recipients: (0..n)
                    .map(|i| Recipient {
                        address: format!("r{i}@y"),
                        orcpt: None,
                        notify: None,
                    })
                    .collect(),
            },
            rcpts: vec![RcptState::Pending { last_reply: None }; n],
            body: Arc::new(Vec::new()),
            attempts: 0,
            warned: false,
        }
    }

    #[test]
    fn one_rejected_recipient_does_not_fail_the_others() {
        let (p, failed) = apply(
            &msg(3),
            &[
                (0, RcptResult::Delivered("250 ok".into())),
                (1, RcptResult::Failed("550 5.1.1 no".into())),
                (2, RcptResult::Deferred("451 later".into())),
            ],
            0,
            &RetryPolicy::default(),
        );
        assert_eq!(
            failed,
            vec![NewFailure {
                index: 1,
                reply: "550 5.1.1 no".into(),
                expired: false
            }]
        );
        assert!(matches!(p.rcpts[0], RcptState::Delivered { .. }));
        assert!(matches!(p.rcpts[1], RcptState::Failed { .. }));
        assert_eq!(
            p.rcpts[2],
            RcptState::Pending {
                last_reply: Some("451 later".into())
            }
        );
        assert_eq!(p.attempts, 1);
    }

    #[test]
    fn recipients_pending_past_max_age_fail_as_expired() {
        let retry = RetryPolicy {
            schedule: vec![Duration::from_secs(60)],
            max_age: Duration::from_secs(3600),
            delay_warning: None,
        };
        let mut m = msg(2);
        m.rcpts[0] = RcptState::Delivered {
            reply: "250".into(),
        };
        let (p, failed) = defer_all(&m, "451 4.3.0 busy", 3_600_000, &retry);
        assert_eq!(
            failed,
            vec![NewFailure {
                index: 1,
                reply: "451 4.3.0 busy".into(),
                expired: true
            }]
        );
        assert!(matches!(&p.rcpts[1], RcptState::Failed { reply } if reply.contains("expired")));
        let (_, failed) = defer_all(&m, "451 4.3.0 busy", 3_599_000, &retry);
        assert!(failed.is_empty(), "not yet past max_age");
    }

    #[test]
    fn retry_delay_follows_the_schedule_with_bounded_jitter() {
        for (attempts, base) in [(1, 60.0), (2, 300.0), (5, 14400.0), (50, 14400.0)] {
            let d = retry_delay(&RetryPolicy::default(), attempts).as_secs_f64();
            assert!(
                d >= base * 0.9 && d <= base * 1.1,
                "attempt {attempts}: {d}"
            );
        }
    }
}
