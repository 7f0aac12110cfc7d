//! Failed-authentication counters, shared by every gateway so a guesser cannot spread its
//! attempts over the fleet (RFC 6749 §2.3.1 and §4.3.2 ask the authorization server to
//! protect client authentication and the password grant against brute force).
//!
//! A *subject* is whatever is being guessed at or guessing: a client, a username, a source
//! address. Callers pass an opaque, fixed-size digest of it (see `gatehouse-oauth`'s
//! `throttle.rs`), so no username or address is stored in clear and every key is short.
//!
//! The rule, the same on every implementation: failures count within a window that starts at
//! the first one; from the `limit`-th on, each failure locks the subject out for a time that
//! starts at `lockout` and doubles with every further failure, up to `max_lockout`. The count
//! lives on until the window, or the last lockout plus a window, has passed, so failures just
//! after a lockout keep doubling it. Attempts refused during a lockout are not counted: they
//! were never checked. Nothing resets a count but time: a success by the owner must not hand
//! a guesser a fresh allowance.

use std::future::Future;
use std::time::Duration;

use super::{MAX_TTL, StoreError};

/// When failures turn into lockouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Failures within `window` before the first lockout; `0` turns counting off.
    pub limit: u32,
    pub window: Duration,
    /// The first lockout; each further failure doubles it.
    pub lockout: Duration,
    pub max_lockout: Duration,
}

impl FailurePolicy {
    /// The lockout the `failures`-th failure starts, if any.
    pub fn lockout_after(&self, failures: u64) -> Option<Duration> {
        if self.limit == 0 || failures < u64::from(self.limit) {
            return None;
        }
        let doublings = u32::try_from(failures - u64::from(self.limit)).unwrap_or(u32::MAX).min(63);
        let base = self.lockout_ms();
        let lock = base.saturating_mul(1u64 << doublings);
        Some(Duration::from_millis(lock.min(self.max_lockout_ms()).max(1)))
    }

    /// The window in milliseconds, as the stores count it: at least 1.
    pub fn window_ms(&self) -> u64 {
        millis(self.window).max(1)
    }

    /// The first lockout in milliseconds, as the stores count it: at least 1.
    pub fn lockout_ms(&self) -> u64 {
        millis(self.lockout).max(1)
    }

    /// The longest lockout in milliseconds, as the stores count it: at least the first.
    pub fn max_lockout_ms(&self) -> u64 {
        millis(self.max_lockout).max(self.lockout_ms())
    }
}

/// Capped well below 2⁵³ ms, so every number is exact in Redis' Lua.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(MAX_TTL.as_secs() * 1000)
}

/// Where failures are counted.
pub trait FailureStore: Send + Sync + 'static {
    /// How much longer `subject` is locked out at `now_ms` (unix ms), if it is. Counts nothing.
    fn lockout(
        &self,
        subject: &str,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<Duration>, StoreError>> + Send;

    /// Counts one failure of `subject` and returns the lockout it starts, if any.
    fn record_failure(
        &self,
        subject: &str,
        policy: &FailurePolicy,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<Duration>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailurePolicy {
        FailurePolicy {
            limit: 3,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(100),
        }
    }

    #[test]
    fn lockouts_start_at_the_limit_and_double_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.lockout_after(2), None);
        assert_eq!(p.lockout_after(3), Some(Duration::from_secs(30)));
        assert_eq!(p.lockout_after(4), Some(Duration::from_secs(60)));
        assert_eq!(p.lockout_after(5), Some(Duration::from_secs(100)));
        assert_eq!(p.lockout_after(u64::MAX), Some(Duration::from_secs(100)));
        assert_eq!(FailurePolicy { limit: 0, ..p }.lockout_after(1000), None);
    }
}
