//! A cap on the lines per second that events a caller can cause at will (refused client
//! credentials, throttled requests) may write, so that no one can flood the gateway's log, or
//! the disk it lands on, by sending what gets refused. Lines over the cap are counted and the
//! count goes out with the next line written.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct LogBudget {
    per_second: u64,
    /// The unix second `used` counts lines of.
    second: AtomicU64,
    used: AtomicU64,
    suppressed: AtomicU64,
}

impl LogBudget {
    pub const fn new(per_second: u64) -> Self {
        Self { per_second, second: AtomicU64::new(0), used: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)`: write the line, and say that `n` lines were left out since the last one;
    /// `None`: over this second's budget, leave it out.
    pub fn take(&self, now_second: u64) -> Option<u64> {
        let second = self.second.load(Relaxed);
        // Racing threads may both reset: at worst a line or two over the cap, never a lock.
        if second != now_second && self.second.compare_exchange(second, now_second, Relaxed, Relaxed).is_ok()
        {
            self.used.store(0, Relaxed);
        }
        if self.used.fetch_add(1, Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_gets_its_budget_and_the_next_line_tells_what_was_left_out() {
        let budget = LogBudget::new(2);
        assert_eq!(budget.take(100), Some(0));
        assert_eq!(budget.take(100), Some(0));
        assert_eq!(budget.take(100), None);
        assert_eq!(budget.take(100), None);
        assert_eq!(budget.take(101), Some(2), "the next second's first line counts the two left out");
        assert_eq!(budget.take(101), Some(0));
        assert_eq!(budget.take(101), None);
    }
}
