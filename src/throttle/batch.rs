//! Cresus' `LIMITE:12 WAIT:15.5`: send a batch of `size` transactions, then rest `wait`. The
//! rest is what the provider sees, so it runs from the end of the batch's last transaction (a
//! slow DATA does not eat into it), and a quiet spell at least as long as the rest counts as
//! one: the next message starts a fresh batch. Owns only the counting and the waiting; never
//! talks to an upstream.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::lock;
use crate::config::Batch;

pub struct Batches {
    cfg: Batch,
    /// Transactions admitted in the current batch. Held by an admission while it waits, so the
    /// rest makes every other delivery to this upstream wait behind it.
    sent: tokio::sync::Mutex<u32>,
    flight: Arc<Flight>,
}

#[derive(Default)]
struct Flight {
    state: Mutex<FlightState>,
    ended: Notify,
}

#[derive(Default)]
struct FlightState {
    in_flight: u32,
    last_end: Option<Instant>,
}

/// One admitted transaction; dropping it marks the transaction's end.
#[must_use = "the batch rest runs from when this is dropped"]
pub struct Ticket {
    flight: Arc<Flight>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut s = lock(&self.flight.state);
        s.in_flight -= 1;
        s.last_end = Some(Instant::now());
        drop(s);
        // One waiter at most (the admission holding `sent`); a stored permit only costs it one
        // more look at the state.
        self.flight.ended.notify_one();
    }
}

impl Batches {
    pub fn new(cfg: Batch) -> Batches {
        Batches {
            cfg,
            sent: tokio::sync::Mutex::new(0),
            flight: Arc::default(),
        }
    }

    /// Waits until one more transaction may start, resting first if the batch is full.
    pub async fn admit(&self) -> Ticket {
        let mut sent = self.sent.lock().await;
        if *sent >= self.cfg.size {
            let last_end = self.all_ended().await;
            tokio::time::sleep_until(last_end + self.cfg.wait).await;
            *sent = 0;
        } else if *sent > 0 && self.rested() {
            *sent = 0;
        }
        *sent += 1;
        lock(&self.flight.state).in_flight += 1;
        Ticket {
            flight: self.flight.clone(),
        }
    }

    /// Waits for every transaction of the batch to end; returns when the last one did.
    async fn all_ended(&self) -> Instant {
        loop {
            {
                let s = lock(&self.flight.state);
                if s.in_flight == 0 {
                    return s.last_end.unwrap_or_else(Instant::now);
                }
            }
            self.flight.ended.notified().await;
        }
    }

    /// Nothing in flight and quiet for at least the rest since the last transaction ended.
    fn rested(&self) -> bool {
        let s = lock(&self.flight.state);
        s.in_flight == 0
            && s.last_end
                .is_some_and(|end| end + self.cfg.wait <= Instant::now())
    }
}
