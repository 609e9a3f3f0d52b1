//! Hour/day/week quotas over rolling windows: a log of what was sent (unix ms, units) and the
//! arithmetic of how much room is left and when the next unit frees up. Pure: the caller gives
//! the time and persists each [`Usage::take`] itself.

use std::collections::VecDeque;

use crate::config::{Count, Quota, QuotaWindow};

/// How one window stands at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    pub window: &'static str,
    pub limit: u32,
    pub used: u64,
    /// When one more unit fits again (unix ms); `None` while there is room.
    pub free_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Usage {
    quota: Quota,
    /// (unix ms, units), oldest first.
    events: VecDeque<(i64, u32)>,
}

impl Usage {
    pub fn new(quota: Quota) -> Usage {
        Usage {
            quota,
            events: VecDeque::new(),
        }
    }

    /// Replaces the log with what the spool kept (after a start or a manual reset).
    pub fn load(&mut self, mut events: Vec<(i64, u32)>) {
        events.sort_by_key(|e| e.0);
        self.events = events.into();
    }

    pub fn count(&self) -> Count {
        self.quota.count
    }

    /// Units a transaction of `recipients` recipients uses up.
    pub fn units(&self, recipients: usize) -> u32 {
        match self.quota.count {
            Count::Messages => 1,
            Count::Recipients => recipients.min(u32::MAX as usize) as u32,
        }
    }

    /// Takes room for a transaction to up to `recipients` recipients. Returns how many
    /// recipients may go now (fewer when a recipient quota has less room left; 0 when full)
    /// and the units to record.
    pub fn take(&mut self, now: i64, recipients: usize) -> (usize, u32) {
        self.prune(now);
        let room = self.room(now);
        let granted = match self.quota.count {
            Count::Messages if room >= 1 => recipients,
            Count::Messages => 0,
            Count::Recipients => recipients.min(room.min(usize::MAX as u64) as usize),
        };
        if granted == 0 {
            return (0, 0);
        }
        let units = self.units(granted);
        self.events.push_back((now, units));
        (granted, units)
    }

    /// Units that still fit in every window.
    pub fn room(&self, now: i64) -> u64 {
        self.quota
            .windows
            .iter()
            .map(|w| u64::from(w.limit).saturating_sub(self.used(w, now)))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The earliest time one more unit fits, when none does now.
    pub fn free_at(&self, now: i64) -> Option<i64> {
        self.windows(now)
            .into_iter()
            .filter_map(|s| s.free_at)
            .max()
    }

    /// Every window with its use at `now`.
    pub fn windows(&self, now: i64) -> Vec<WindowState> {
        self.quota
            .windows
            .iter()
            .map(|w| {
                let used = self.used(w, now);
                WindowState {
                    window: w.name,
                    limit: w.limit,
                    used,
                    free_at: (used >= u64::from(w.limit)).then(|| self.frees(w, now, used)),
                }
            })
            .collect()
    }

    /// The window that stops the next unit, for messages and logs.
    pub fn blocking(&self, now: i64) -> Option<WindowState> {
        self.windows(now)
            .into_iter()
            .filter(|s| s.free_at.is_some())
            .max_by_key(|s| s.free_at)
    }

    /// When the oldest unit of the longest window leaves it (`now` + that window when none
    /// was counted): the provider's own window has room again by then at the latest.
    pub fn oldest_leaves(&self, now: i64) -> i64 {
        let longest = self.longest();
        match self.events.iter().find(|(t, _)| *t > now - longest) {
            Some((t, _)) => t + longest,
            None => now + longest,
        }
    }

    /// A unit sent at `t` counts while `now - t < span`.
    fn used(&self, w: &QuotaWindow, now: i64) -> u64 {
        let from = now - w.span.as_millis() as i64;
        self.events
            .iter()
            .rev()
            .take_while(|(t, _)| *t > from)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }

    /// When enough of the oldest units in `w` have left it for one more to fit.
    fn frees(&self, w: &QuotaWindow, now: i64, used: u64) -> i64 {
        let span = w.span.as_millis() as i64;
        let from = now - span;
        let mut excess = used + 1 - u64::from(w.limit);
        for (t, n) in self.events.iter().filter(|(t, _)| *t > from) {
            excess = excess.saturating_sub(u64::from(*n));
            if excess == 0 {
                return t + span;
            }
        }
        now + span
    }

    fn longest(&self) -> i64 {
        self.quota
            .windows
            .iter()
            .map(|w| w.span.as_millis() as i64)
            .max()
            .unwrap_or(0)
    }

    fn prune(&mut self, now: i64) {
        let longest = self.longest();
        while self
            .events
            .front()
            .is_some_and(|(t, _)| *t <= now - longest)
        {
            self.events.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: i64 = 3_600_000;

    fn usage(count: Count, windows: &[(&'static str, u64, u32)]) -> Usage {
        Usage::new(Quota {
            count,
            windows: windows
                .iter()
                .map(|&(name, secs, limit)| QuotaWindow {
                    name,
                    span: Duration::from_secs(secs),
                    limit,
                })
                .collect(),
        })
    }

    #[test]
    fn a_message_quota_lets_the_limit_through_then_holds() {
        let mut u = usage(Count::Messages, &[("per_hour", 3600, 5)]);
        let granted: Vec<usize> = (0..7).map(|i| u.take(i * 1000, 1).0).collect();
        assert_eq!(granted, vec![1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(
            u.free_at(6000),
            Some(HOUR),
            "the first one leaves the window after 1 h"
        );
    }

    #[test]
    fn a_unit_leaves_the_rolling_window_exactly_one_span_after_it_was_sent() {
        let mut u = usage(Count::Messages, &[("per_hour", 3600, 1)]);
        assert_eq!(u.take(1000, 1).0, 1);
        assert_eq!(u.take(1000 + HOUR - 1, 1).0, 0, "still inside the window");
        assert_eq!(
            u.take(1000 + HOUR, 1).0,
            1,
            "out of the window at exactly one hour"
        );
    }

    #[test]
    fn recipients_are_counted_one_by_one_and_a_transaction_is_cut_to_the_room_left() {
        let mut u = usage(Count::Recipients, &[("per_day", 86_400, 10)]);
        assert_eq!(u.take(0, 4), (4, 4));
        assert_eq!(u.take(1, 8), (6, 6), "only 6 recipients fit");
        assert_eq!(u.take(2, 1), (0, 0));
        assert_eq!(u.windows(2)[0].used, 10);
    }

    #[test]
    fn a_message_counts_once_whatever_its_recipients() {
        let mut u = usage(Count::Messages, &[("per_day", 86_400, 2)]);
        assert_eq!(u.take(0, 50), (50, 1));
        assert_eq!(u.windows(0)[0].used, 1);
    }

    #[test]
    fn the_tightest_window_decides_and_free_at_is_when_the_last_full_window_frees() {
        let mut u = usage(
            Count::Messages,
            &[("per_hour", 3600, 10), ("per_day", 86_400, 3)],
        );
        for t in [0, 10, 20] {
            assert_eq!(u.take(t, 1).0, 1);
        }
        assert_eq!(u.room(30), 0);
        let b = u.blocking(30).unwrap();
        assert_eq!(b.window, "per_day");
        assert_eq!(u.free_at(30), Some(24 * HOUR));
    }

    #[test]
    fn free_at_waits_for_enough_units_to_leave_when_the_limit_was_lowered() {
        // 8 sent under an older limit of 10; now the limit is 5: 4 must leave before one fits.
        let mut u = usage(Count::Recipients, &[("per_hour", 3600, 5)]);
        u.load(vec![(0, 3), (100, 3), (200, 2)]);
        assert_eq!(u.free_at(300), Some(100 + HOUR));
    }

    #[test]
    fn a_loaded_log_counts_like_the_live_one() {
        let mut u = usage(Count::Messages, &[("per_hour", 3600, 5)]);
        u.load(vec![(3000, 1), (1000, 1), (2000, 3)]);
        assert_eq!(u.windows(4000)[0].used, 5);
        assert_eq!(u.free_at(4000), Some(1000 + HOUR));
        assert_eq!(
            u.windows(2000 + HOUR)[0].used,
            1,
            "only the one sent at 3000 is left"
        );
    }
}
