//! The memory budget for message bodies held by sessions (`[server] memory_budget`). Owns only
//! the byte count: sessions reserve as their DATA grows and give back when the message is
//! stored or refused (a [`Reservation`] gives back on drop). Never refuses anything itself; the
//! machine answers `452 4.3.1` when a reservation cannot grow. Without it, memory grows with
//! message size times sessions until the kernel kills the relay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reservations grow by at least this much, so a large message costs few atomic operations;
/// small enough that a thousand sessions with small messages take little of the budget.
const STEP: u64 = 64 << 10;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Bytes reserved now, by every session.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Bytes not reserved by anyone now.
    pub fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }

    /// An empty reservation, to grow as a body grows.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }
}

/// Bytes one body may hold; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Reservation {
    /// Makes room for `total` bytes in all; false when the budget is spent.
    pub fn cover(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        let want = (total - self.bytes).max(STEP);
        // Near the end of the budget the last step may not fit: ask for just what is needed.
        let got = if self.budget.take(want) {
            want
        } else if self.budget.take(total - self.bytes) {
            total - self.bytes
        } else {
            return false;
        };
        self.bytes += got;
        true
    }
}

/// Two reservations are alike when they hold as much (for comparing [`Action`]s in tests).
///
/// [`Action`]: super::machine::Action
impl PartialEq for Reservation {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_back_on_drop() {
        let b = MemoryBudget::new(3 * STEP);
        let mut one = b.reservation();
        let mut two = b.reservation();
        assert!(one.cover(2 * STEP));
        assert!(two.cover(STEP));
        assert!(!two.cover(STEP + 1), "the budget is spent");
        drop(one);
        assert!(two.cover(2 * STEP));
        drop(two);
        assert_eq!(b.used(), 0);
    }
}
