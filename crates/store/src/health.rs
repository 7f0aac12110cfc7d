//! Whether a store is reachable, for readiness probes.
//!
//! Probes arrive from every kubelet, load balancer and curious client (a gateway's `/readyz` is
//! on its public port), so the answer comes from at most one PING per [`CACHE_FOR`], however
//! many ask: probes cannot turn into load on Redis.

use std::future::Future;
use std::time::Duration;

use gatehouse_model::storage::StoreError;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long one PING's answer is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// A PING slower than this counts as unreachable: a probe must answer well within the probe's
/// own timeout (Kubernetes' default is one second), and a Redis that takes this long to answer
/// PING is in no state to serve requests either.
pub const PING_TIMEOUT: Duration = Duration::from_millis(500);

/// The last PING's outcome and when it was taken.
#[derive(Debug)]
pub struct Reachability {
    /// A `tokio` mutex, held across the PING: probes that arrive while one is in flight wait
    /// for its answer instead of sending PINGs of their own.
    last: Mutex<Option<(Instant, bool)>>,
    cache_for: Duration,
    timeout: Duration,
}

impl Default for Reachability {
    fn default() -> Self {
        Self::new()
    }
}

impl Reachability {
    pub fn new() -> Self {
        Self::with_timing(CACHE_FOR, PING_TIMEOUT)
    }

    /// Other periods, so that tests need not wait a second per step.
    pub fn with_timing(cache_for: Duration, timeout: Duration) -> Self {
        Self { last: Mutex::new(None), cache_for, timeout }
    }

    /// Whether `ping` succeeded within the timeout ([`PING_TIMEOUT`]), reusing an answer
    /// younger than the cache period ([`CACHE_FOR`]).
    pub async fn check<F>(&self, ping: impl FnOnce() -> F) -> bool
    where
        F: Future<Output = Result<(), StoreError>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, reachable)) = *last
            && at.elapsed() < self.cache_for
        {
            return reachable;
        }
        let was_reachable = last.is_none_or(|(_, reachable)| reachable);
        // Logged when the answer changes, not on every probe: a Redis outage would otherwise
        // log once a second from every process.
        let reachable = match tokio::time::timeout(self.timeout, ping()).await {
            Ok(Ok(())) => {
                if !was_reachable {
                    tracing::info!("store reachable again: ready");
                }
                true
            }
            Ok(Err(error)) => {
                if was_reachable {
                    tracing::warn!(%error, "store unreachable: not ready");
                }
                false
            }
            Err(_) => {
                if was_reachable {
                    tracing::warn!(timeout = ?self.timeout, "store did not answer PING: not ready");
                }
                false
            }
        };
        *last = Some((Instant::now(), reachable));
        reachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_ping_answers_every_probe_within_the_cache_period() {
        let pings = AtomicUsize::new(0);
        let reachability = Reachability::new();
        for _ in 0..10 {
            let reachable = reachability
                .check(|| async {
                    pings.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                })
                .await;
            assert!(reachable);
        }
        assert_eq!(pings.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_failed_or_slow_ping_is_unreachable_and_retried_after_the_cache_period() {
        let (cache_for, timeout) = (Duration::from_millis(100), Duration::from_millis(50));
        let reachability = Reachability::with_timing(cache_for, timeout);
        assert!(!reachability.check(|| async { Err(StoreError::Unavailable("down".into())) }).await);
        // Still cached: the next answer is not even asked for.
        assert!(!reachability.check(|| async { Ok(()) }).await);
        tokio::time::sleep(cache_for).await;
        let slow = || async {
            tokio::time::sleep(timeout * 4).await;
            Ok(())
        };
        assert!(!reachability.check(slow).await);
        tokio::time::sleep(cache_for).await;
        assert!(reachability.check(|| async { Ok(()) }).await);
    }
}
