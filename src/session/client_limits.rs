//! Limits per client, shared by every session: concurrent sessions per source address and
//! messages per minute per client (the account when it logged in, else the address), with the
//! same governor GCRA machinery as the upstream throttle. A client over a limit gets a
//! temporary reply and retries; nothing it already handed in is affected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Rate;

pub struct ClientLimits {
    rate: Option<DefaultKeyedRateLimiter<String>>,
    per_address: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open session of an address; counted until dropped.
pub struct SessionSlot {
    limits: Arc<ClientLimits>,
    ip: IpAddr,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ClientLimits {
    /// `per_address` 0: no limit on sessions per address.
    pub fn new(rate: Option<Rate>, per_address: usize) -> ClientLimits {
        let rate = rate.and_then(|r| {
            let burst = NonZeroU32::new(r.count)?;
            // A burst of the whole allowance, refilled evenly: "N per minute".
            Quota::with_period(r.per / r.count).map(|q| RateLimiter::keyed(q.allow_burst(burst)))
        });
        ClientLimits {
            rate,
            per_address,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for a new session from `ip`, or `None` when the address has too many open.
    pub fn open_session(self: &Arc<Self>, ip: IpAddr) -> Option<SessionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if self.per_address > 0 && *n >= self.per_address {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Whether `client` may start one more message now.
    pub fn admit_message(&self, client: &str) -> bool {
        self.rate
            .as_ref()
            .is_none_or(|r| r.check_key(&client.to_string()).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sessions_per_address_are_capped_and_freed_when_they_end() {
        let limits = Arc::new(ClientLimits::new(None, 2));
        let ip: IpAddr = "192.168.1.50".parse().unwrap();
        let a = limits.open_session(ip).unwrap();
        let _b = limits.open_session(ip).unwrap();
        assert!(limits.open_session(ip).is_none());
        assert!(
            limits
                .open_session("192.168.1.51".parse().unwrap())
                .is_some()
        );
        drop(a);
        assert!(limits.open_session(ip).is_some());
    }

    #[test]
    fn a_client_over_its_rate_is_held_back_and_others_are_not() {
        let limits = ClientLimits::new(
            Some(Rate {
                count: 3,
                per: Duration::from_secs(60),
            }),
            0,
        );
        let sent: Vec<bool> = (0..4).map(|_| limits.admit_message("payroll")).collect();
        assert_eq!(sent, vec![true, true, true, false]);
        assert!(limits.admit_message("invoices"));
    }
}
