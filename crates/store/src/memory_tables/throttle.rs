//! Failure counters for [`MemoryTokenStore`](crate::MemoryTokenStore): the same rule as the
//! Redis script (`redis_token/throttle.rs`), atomic under the store's mutex. The count's life
//! runs by this process' clock, as a key's TTL runs by Redis'; lockouts by the callers'.

use std::time::{Duration, Instant};

use gatehouse_model::storage::{FailurePolicy, FailureStore, StoreError};

use super::{Expiring, Tables};

/// What `gh:{fail:<subject>}` holds in Redis.
#[derive(Clone, Copy)]
pub(super) struct Failures {
    count: u64,
    /// End of the lockout, unix ms; 0 when none was started.
    until_ms: u64,
}

#[derive(Default)]
pub(super) struct FailureCounts(Expiring<String, Failures>);

impl FailureCounts {
    pub(super) fn len(&self) -> usize {
        self.0.entries.len()
    }

    pub(super) fn sweep(&mut self, now: Instant) {
        self.0.sweep(now);
    }
}

impl Tables {
    pub(crate) fn lockout(&mut self, subject: &str, now: Instant, now_ms: u64) -> Option<Duration> {
        let failures = self.failures.0.get(subject, now)?;
        (failures.until_ms > now_ms).then(|| Duration::from_millis(failures.until_ms - now_ms))
    }

    pub(crate) fn record_failure(
        &mut self,
        subject: &str,
        policy: &FailurePolicy,
        now: Instant,
        now_ms: u64,
    ) -> Option<Duration> {
        let window = Duration::from_millis(policy.window_ms());
        let previous = self.failures.0.get(subject, now).copied();
        let expiry = self.failures.0.entries.get(subject).map_or(now + window, |(_, expiry)| *expiry);
        let mut failures = previous.unwrap_or(Failures { count: 0, until_ms: 0 });
        failures.count += 1;
        let lockout = policy.lockout_after(failures.count);
        let mut ttl = expiry.saturating_duration_since(now);
        if let Some(lock) = lockout {
            failures.until_ms = now_ms + u64::try_from(lock.as_millis()).unwrap_or(u64::MAX / 2);
            ttl = ttl.max(lock + window);
        }
        let stored = self.failures.0.put(subject.to_owned(), failures, ttl, now);
        // Only a new entry grows the maps.
        self.stored(stored && previous.is_none(), now);
        lockout
    }
}

// `Instant::now()` before the lock, as in `memory.rs`.
impl FailureStore for crate::MemoryTokenStore {
    async fn lockout(&self, subject: &str, now_ms: u64) -> Result<Option<Duration>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().lockout(subject, now, now_ms))
    }

    async fn record_failure(
        &self,
        subject: &str,
        policy: &FailurePolicy,
        now_ms: u64,
    ) -> Result<Option<Duration>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().record_failure(subject, policy, now, now_ms))
    }
}
