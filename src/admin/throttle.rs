//! Guessing the admin (or node) secret: failures counted per source address, in process, with
//! the same rule as the gateways' shared counters (`gatehouse_model::storage::FailurePolicy`: a window
//! from the first failure, then lockouts doubling up to a cap). In process because the check
//! runs in tonic's synchronous interceptors and the control plane may have no Redis; with
//! several replicas each counts its own, so a guesser gets at most replicas × the limit per
//! window, against a secret of at least 32 characters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_model::storage::FailurePolicy;

/// Addresses tracked before expired ones are swept; past [`MAX_TRACKED`] after a sweep, new
/// addresses are not counted (a flood from that many addresses is beyond a per-address rule).
const SWEEP_AT: usize = 4096;
const MAX_TRACKED: usize = 100_000;

struct Failures {
    count: u64,
    forget_at: Instant,
    locked_until: Option<Instant>,
}

pub struct AddressThrottle {
    policy: FailurePolicy,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl AddressThrottle {
    pub fn new(policy: FailurePolicy) -> Self {
        Self { policy, addresses: Mutex::new(HashMap::new()) }
    }

    /// How much longer `ip` is locked out, if it is.
    pub fn lockout(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let addresses = self.addresses.lock().unwrap_or_else(PoisonError::into_inner);
        let failures = addresses.get(&ip.to_canonical()).filter(|f| f.forget_at > now)?;
        failures.locked_until.and_then(|until| until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// Counts a failure from `ip`; returns the lockout it starts, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        if self.policy.limit == 0 {
            return None;
        }
        let mut addresses = self.addresses.lock().unwrap_or_else(PoisonError::into_inner);
        if addresses.len() >= SWEEP_AT {
            addresses.retain(|_, f| f.forget_at > now);
        }
        let ip = ip.to_canonical();
        if addresses.len() >= MAX_TRACKED && !addresses.contains_key(&ip) {
            return None;
        }
        let failures = addresses
            .entry(ip)
            .and_modify(|f| {
                if f.forget_at <= now {
                    *f = Failures { count: 0, forget_at: now + self.policy.window, locked_until: None };
                }
            })
            .or_insert(Failures { count: 0, forget_at: now + self.policy.window, locked_until: None });
        failures.count += 1;
        let lockout = self.policy.lockout_after(failures.count)?;
        failures.locked_until = Some(now + lockout);
        failures.forget_at = failures.forget_at.max(now + lockout + self.policy.window);
        Some(lockout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> AddressThrottle {
        AddressThrottle::new(FailurePolicy {
            limit: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(25),
        })
    }

    #[test]
    fn locks_an_address_out_after_the_limit_and_doubles_up_to_the_cap() {
        let t = throttle();
        let (ip, other) = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        let start = Instant::now();
        assert_eq!(t.failed(ip, start), None);
        assert_eq!(t.failed(ip, start), None);
        assert_eq!(t.lockout(ip, start), None);
        assert_eq!(t.failed(ip, start), Some(Duration::from_secs(10)));
        assert_eq!(t.lockout(ip, start + Duration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(t.lockout(other, start), None);
        let later = start + Duration::from_secs(11);
        assert_eq!(t.lockout(ip, later), None);
        assert_eq!(t.failed(ip, later), Some(Duration::from_secs(20)));
        assert_eq!(t.failed(ip, later), Some(Duration::from_secs(25)));
        // Forgotten a window after the last lockout ends.
        let much_later = later + Duration::from_secs(25 + 61);
        assert_eq!(t.failed(ip, much_later), None);
    }

    #[test]
    fn an_ipv4_mapped_peer_is_the_same_address() {
        let t = throttle();
        let v4 = IpAddr::from([192, 0, 2, 1]);
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let now = Instant::now();
        t.failed(v4, now);
        t.failed(mapped, now);
        assert!(t.failed(v4, now).is_some());
        assert!(t.lockout(mapped, now).is_some());
    }
}
