//! Rate limits and quotas for [`MemoryTokenStore`](crate::MemoryTokenStore): what the Redis
//! store keeps in a subject's two keys, kept in two [`Expiring`] maps of [`Tables`] with the same
//! lifetimes, so the state expires and is swept like every other entry. The decision itself is
//! [`Plan::decide`], the one the Redis script mirrors; the mutex makes it atomic.

use std::time::{Duration, Instant};

use gatehouse_model::storage::{LimitOutcome, QUOTA_PERIOD_TOLERANCE_MS};

use super::{Expiring, Tables};
use crate::common::limits::{BatchVerdict, Plan, RATE_STATE_MARGIN_MS};

/// Every subject's limit state.
#[derive(Default)]
pub(super) struct LimitStates {
    /// Subject → TAT in unix µs (the callers' clock), kept until the bucket is full again, plus
    /// a margin: the `…:rate` key.
    rates: Expiring<String, u64>,
    /// Subject → requests counted in the current period, kept for the period, which runs by this
    /// process' clock as a key's TTL runs by Redis': the `…:quota` key.
    quotas: Expiring<String, u64>,
}

impl LimitStates {
    /// Entries held, expired ones not yet swept included.
    pub(super) fn len(&self) -> usize {
        self.rates.entries.len() + self.quotas.entries.len()
    }

    pub(super) fn sweep(&mut self, now: Instant) {
        self.rates.sweep(now);
        self.quotas.sweep(now);
    }
}

impl Expiring<String, u64> {
    /// The live value under `key` and how long it has left.
    fn live(&mut self, key: &str, now: Instant) -> Option<(u64, Duration)> {
        self.get(key, now)?;
        self.entries.get(key).map(|(value, expiry)| (*value, expiry.saturating_duration_since(now)))
    }
}

impl Tables {
    /// Counts one request of `subject`, or refuses it and counts nothing.
    pub(crate) fn check_limits(&mut self, subject: &str, plan: &Plan, now: Instant) -> LimitOutcome {
        let (batch, quota_ttl_ms) = self.count_batch(subject, plan, 1, now);
        plan.outcome(&plan.verdict_of(&batch, 0), quota_ttl_ms)
    }

    /// Counts `count` requests of `subject` at once ([`Plan::decide_batch`]), in order.
    pub(crate) fn check_limits_batch(
        &mut self,
        subject: &str,
        plan: &Plan,
        count: u64,
        now: Instant,
    ) -> Vec<LimitOutcome> {
        let (batch, quota_ttl_ms) = self.count_batch(subject, plan, count, now);
        plan.outcomes(&batch, quota_ttl_ms)
    }

    /// Takes up to `cells` back from `subject`'s count if its period ends `expected_left_ms`
    /// from `now`, give or take [`QUOTA_PERIOD_TOLERANCE_MS`]: otherwise the period the cells
    /// were counted in is over (or was reset) and they went with it.
    pub(crate) fn refund_quota(
        &mut self,
        subject: &str,
        cells: u64,
        expected_left_ms: u64,
        now: Instant,
    ) -> u64 {
        let Some((used, left)) = self.limits.quotas.live(subject, now) else { return 0 };
        let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        if expected_left_ms == 0 || left_ms.abs_diff(expected_left_ms) > QUOTA_PERIOD_TOLERANCE_MS {
            return 0;
        }
        let back = cells.min(used);
        if let Some((count, _)) = self.limits.quotas.entries.get_mut(subject) {
            *count = used - back;
        }
        back
    }

    /// Decides on a batch and stores what it counted; also returns how long the quota period
    /// has left, in ms.
    fn count_batch(&mut self, subject: &str, plan: &Plan, count: u64, now: Instant) -> (BatchVerdict, u64) {
        let states = &mut self.limits;
        let tat_us = if plan.rate.is_some() { states.rates.get(subject, now).copied() } else { None };
        let quota = if plan.quota.is_some() { states.quotas.live(subject, now) } else { None };
        let batch = plan.decide_batch(tat_us, quota.map_or(0, |(used, _)| used), count);
        let period = Duration::from_millis(plan.quota.map_or(0, |quota| quota.period_ms));
        let quota_ttl = quota.map_or(period, |(_, left)| left);
        if batch.allowed > 0 {
            // The state after the last request counted.
            let last = plan.verdict_of(&batch, batch.allowed - 1);
            if plan.rate.is_some() {
                let ttl = Duration::from_millis(last.backlog_us.div_ceil(1000) + RATE_STATE_MARGIN_MS);
                let tat_us = plan.now_us() + last.backlog_us;
                let stored = self.limits.rates.put(subject.to_owned(), tat_us, ttl, now);
                self.stored(stored, now);
            }
            if plan.quota.is_some() {
                // A running period keeps its end; the first request counted starts one.
                match self.limits.quotas.entries.get_mut(subject) {
                    Some((used, _)) if quota.is_some() => *used = last.quota_used,
                    _ => {
                        let stored = self.limits.quotas.put(subject.to_owned(), last.quota_used, period, now);
                        self.stored(stored, now);
                    }
                }
            }
        }
        (batch, u64::try_from(quota_ttl.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::storage::{LimitKind, Limits, Quota, RateLimit};

    use super::*;
    use crate::common::limits::Plan;
    use crate::memory_tables::MIN_PUTS_BETWEEN_SWEEPS;

    const NOW_MS: u64 = 1_700_000_000_000;

    fn plan(limits: Limits, now_ms: u64) -> Plan {
        Plan::new("s", &limits, now_ms).unwrap().unwrap()
    }

    #[test]
    fn the_quota_period_runs_by_this_process_clock() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        let p = plan(Limits { rate: None, quota: Some(Quota { max: 2, period_secs: 10 }) }, NOW_MS);
        let first = t.check_limits("s", &p, t0);
        assert_eq!((first.quota_remaining, first.quota_reset_ms), (Some(1), Some(NOW_MS + 10_000)));
        let second = t.check_limits("s", &p, t0 + Duration::from_secs(4));
        assert_eq!((second.quota_remaining, second.quota_reset_ms), (Some(0), Some(NOW_MS + 6_000)));
        assert_eq!(t.check_limits("s", &p, t0 + Duration::from_secs(9)).refused_by, Some(LimitKind::Quota));
        let renewed = t.check_limits("s", &p, t0 + Duration::from_secs(10));
        assert_eq!((renewed.refused_by, renewed.quota_remaining), (None, Some(1)));
    }

    #[test]
    fn refused_requests_store_nothing() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        let limits = Limits { rate: None, quota: Some(Quota { max: 0, period_secs: 10 }) };
        assert_eq!(t.check_limits("s", &plan(limits, NOW_MS), t0).refused_by, Some(LimitKind::Quota));
        assert_eq!(t.len_including_expired(), 0);
    }

    #[test]
    fn rate_state_outlives_its_tat_by_the_margin_then_is_swept() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        let limits = Limits { rate: Some(RateLimit { rate: 1.0, per_secs: 1.0 }), quota: None };
        for n in 0..MIN_PUTS_BETWEEN_SWEEPS - 1 {
            let outcome = t.check_limits(&format!("s{n}"), &plan(limits, NOW_MS), t0);
            assert_eq!(outcome.refused_by, None);
        }
        assert_eq!(t.len_including_expired(), MIN_PUTS_BETWEEN_SWEEPS - 1);
        let kept_until = Duration::from_millis(1_000 + RATE_STATE_MARGIN_MS);
        t.check_limits("last", &plan(limits, NOW_MS), t0 + kept_until);
        assert_eq!(t.len_including_expired(), 1);
    }
}
