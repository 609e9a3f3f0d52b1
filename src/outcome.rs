//! Turns what the upstream said into the spool's record of each recipient: delivered, failed
//! (kept for the bounce stage), or still pending with the reply and the time of the next try.
//! Pure: no I/O, the caller writes the returned [`Progress`].

use std::time::Duration;

use crate::spool::{Progress, RcptState, StoredMessage};
use crate::upstream::RcptResult;

/// Default retry schedule (Postfix-like); the last step repeats.
const SCHEDULE: [Duration; 5] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(4 * 3600),
];

/// Delay before attempt number `attempts + 1`, with ±10% jitter so a queue that failed together
/// does not retry as one burst.
pub fn retry_delay(attempts: u32) -> Duration {
    let base = SCHEDULE[(attempts.saturating_sub(1) as usize).min(SCHEDULE.len() - 1)];
    let jitter = 0.9 + rand::random::<f64>() * 0.2;
    base.mul_f64(jitter)
}

/// Applies per-recipient results of one attempt. Recipients without a result keep their state.
pub fn apply(msg: &StoredMessage, results: &[(usize, RcptResult)], now_ms: i64) -> Progress {
    let mut rcpts = msg.rcpts.clone();
    for (i, r) in results {
        rcpts[*i] = match r {
            RcptResult::Delivered(reply) => RcptState::Delivered {
                reply: reply.clone(),
            },
            RcptResult::Failed(reply) => RcptState::Failed {
                reply: reply.clone(),
            },
            RcptResult::Deferred(reply) => RcptState::Pending {
                last_reply: Some(reply.clone()),
            },
        };
    }
    let attempts = msg.attempts + 1;
    let next_attempt = now_ms + retry_delay(attempts).as_millis() as i64;
    Progress {
        id: msg.id.clone(),
        rcpts,
        attempts,
        next_attempt,
    }
}

/// Every pending recipient deferred with the same reason (the connection failed).
pub fn defer_all(msg: &StoredMessage, reason: &str, now_ms: i64) -> Progress {
    let results: Vec<(usize, RcptResult)> = msg
        .pending_indices()
        .into_iter()
        .map(|i| (i, RcptResult::Deferred(reason.to_string())))
        .collect();
    apply(msg, &results, now_ms)
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
        }
    }

    #[test]
    fn one_rejected_recipient_does_not_fail_the_others() {
        let p = apply(
            &msg(3),
            &[
                (0, RcptResult::Delivered("250 ok".into())),
                (1, RcptResult::Failed("550 5.1.1 no".into())),
                (2, RcptResult::Deferred("451 later".into())),
            ],
            0,
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
    fn retry_delay_follows_the_schedule_with_bounded_jitter() {
        for (attempts, base) in [(1, 60.0), (2, 300.0), (5, 14400.0), (50, 14400.0)] {
            let d = retry_delay(attempts).as_secs_f64();
            assert!(
                d >= base * 0.9 && d <= base * 1.1,
                "attempt {attempts}: {d}"
            );
        }
    }
}
