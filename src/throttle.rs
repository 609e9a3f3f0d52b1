//! Pacing toward one upstream: a GCRA token bucket (`rate = "30/min"`, governor) and Cresus'
//! batches (`LIMITE:12 WAIT:15.5`: send 12, pause 15.5 s, send the next 12). A delivery waits in
//! [`Throttle::admit`] before each upstream transaction; mail over a limit waits in the queue and
//! is never refused or lost. Never talks to the network or the spool.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;

use crate::config::{Batch, Rate};

pub struct Throttle {
    rate: Option<DefaultDirectRateLimiter>,
    batch: Option<(Batch, Mutex<u32>)>,
}

impl Throttle {
    pub fn new(rate: Option<Rate>, batch: Option<Batch>) -> Throttle {
        let rate = rate.and_then(|r| {
            // Smooth pacing (burst 1): providers count bursts against you.
            Quota::with_period(r.per / r.count)
                .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
        });
        Throttle {
            rate,
            batch: batch.map(|b| (b, Mutex::new(0))),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.rate.is_none() && self.batch.is_none()
    }

    /// Waits until one more transaction may go out.
    pub async fn admit(&self) {
        if let Some((batch, sent)) = &self.batch {
            // Holding the lock through the pause makes every other delivery wait behind it.
            let mut sent = sent.lock().await;
            if *sent >= batch.size {
                tokio::time::sleep(batch.wait).await;
                *sent = 0;
            }
            *sent += 1;
        }
        if let Some(limiter) = &self.rate {
            limiter.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_batch_of_n_goes_out_then_the_pause_then_the_next_n() {
        let t = Throttle::new(
            None,
            Some(Batch {
                size: 2,
                wait: Duration::from_millis(15_500),
            }),
        );
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            t.admit().await;
            at.push(start.elapsed().as_millis());
        }
        assert_eq!(at, vec![0, 0, 15_500, 15_500, 31_000]);
    }
}
