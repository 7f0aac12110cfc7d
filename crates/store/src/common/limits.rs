//! Rate limits and quotas ([`LimitStore`](gatehouse_model::storage::LimitStore)): the checks and
//! the arithmetic both token stores share. [`MemoryTokenStore`](crate::MemoryTokenStore)
//! runs [`Plan::decide`] under its mutex; the Redis store runs the same decision in Lua
//! (`redis_token/limits.rs`), and both turn what they found into a [`LimitOutcome`] with
//! [`Plan::outcome`].
//!
//! # Rate limit: GCRA
//! A subject's state is its theoretical arrival time (TAT): when its counted requests would
//! have been served, had they come evenly, one per emission interval `T = per / rate`. A request
//! at `now` would move it to `max(TAT, now) + T`, and is allowed when that is at most `burst · T`
//! ahead of `now` (the window). So `burst` requests pass at once, then one per `T`, and the
//! bucket is full again at the TAT. The burst is `rate` rounded down, but at least 1, so that
//! fractional rates (0.5 per second: one request every 2 s) work.
//!
//! Time runs in whole microseconds. `T` is rounded to the microsecond (the sustained rate is off
//! by at most 0.5 µs per request, and at most 10⁶ per second); everything else is integers. Lua
//! numbers are doubles, exact for integers below 2⁵³, and the bounds below keep every value
//! under that, so both stores decide exactly and identically: no float rounding decides whether
//! the tenth request of a burst of ten passes.
//!
//! # Quota
//! `max` requests per fixed period that starts with the first request counted: a counter that
//! expires after the period, by the store's clock (Redis' for Redis, like any key's TTL).

use gatehouse_model::storage::{LimitKind, LimitOutcome, Limits, MAX_TTL, Quota, RateLimit, StoreError};

/// How long a rate limit's state outlives the moment its bucket is full again. Forgetting it
/// then changes nothing (a TAT in the past counts as `now`); the margin covers a gateway whose
/// clock runs somewhat behind the one that wrote it, for which the TAT is still ahead.
pub(crate) const RATE_STATE_MARGIN_MS: u64 = 60_000;

/// Latest `now_ms` accepted: 2128-06-11. A caller's clock beyond it is broken, and the bound
/// keeps microsecond times exact in Lua (with [`MAX_WINDOW_US`]).
const MAX_NOW_MS: u64 = 5_000_000_000_000;

/// Longest rate-limit window (burst · T), 50 years; longer ones are shortened to it. `now`, a TAT
/// (at most a window ahead) and one more interval stay below 2⁵³ µs.
const MAX_WINDOW_US: u64 = 50 * 365 * 86_400 * 1_000_000;

/// Largest quota honoured; larger ones are lowered to it, which no counter ever reaches. Keeps
/// the count exact as a Lua number.
const MAX_QUOTA: u64 = 1 << 52;

/// A rate limit in the units the decision uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// `T`, in µs, at least 1.
    pub(crate) emission_us: u64,
    /// Requests that may pass at once, at least 1.
    pub(crate) burst: u64,
}

impl Gcra {
    fn new(limit: &RateLimit) -> Result<Self, StoreError> {
        let RateLimit { rate, per_secs } = *limit;
        if !(rate.is_finite() && rate > 0.0 && per_secs.is_finite() && per_secs > 0.0) {
            return Err(StoreError::Corrupt(format!("invalid rate limit: {rate} per {per_secs} s")));
        }
        let burst = rate.floor().clamp(1.0, MAX_WINDOW_US as f64);
        // A window beyond the bound is shortened by shortening T: only absurd limits get there.
        let emission = (per_secs * 1e6 / rate).round().clamp(1.0, (MAX_WINDOW_US as f64 / burst).floor());
        // Both are whole numbers within u64 (and 2⁵³), so the conversions are exact.
        Ok(Self { emission_us: emission as u64, burst: burst as u64 })
    }

    pub(crate) fn window_us(&self) -> u64 {
        self.emission_us * self.burst
    }

    /// How far the TAT is ahead of `now_us` before counting anything, and how many requests
    /// fit in the window from there. A stored TAT beyond the window (only a clock ahead of ours
    /// writes one) counts as the window.
    fn room(&self, now_us: u64, tat_us: Option<u64>) -> (u64, u64) {
        let window = self.window_us();
        let before = tat_us.map_or(0, |tat| tat.saturating_sub(now_us).min(window));
        (before, (window - before) / self.emission_us)
    }
}

/// A quota in the units the decision uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaPlan {
    pub(crate) max: u64,
    pub(crate) period_ms: u64,
}

impl QuotaPlan {
    fn new(quota: &Quota) -> Result<Self, StoreError> {
        if quota.period_secs == 0 {
            return Err(StoreError::Corrupt("invalid quota: a period of 0 s".into()));
        }
        let period_secs = quota.period_secs.min(MAX_TTL.as_secs());
        Ok(Self { max: quota.max.min(MAX_QUOTA), period_ms: period_secs * 1000 })
    }
}

/// Checks that a subject can go into its keys' hash tag `{lim:<subject>}`: no braces, which
/// would end the tag early and could name another subject's keys.
pub(crate) fn check_subject(subject: &str) -> Result<(), StoreError> {
    if subject.contains(['{', '}']) {
        return Err(StoreError::Corrupt(format!("invalid limit subject: {subject:?}")));
    }
    Ok(())
}

/// One request's check, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) now_ms: u64,
    pub(crate) rate: Option<Gcra>,
    pub(crate) quota: Option<QuotaPlan>,
}

/// What a check of several requests of one subject at once found: the first `allowed` are
/// counted, in order, and the others refused, all for the same reason (a refused request
/// changes nothing, so each one after the first refused meets the same state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchVerdict {
    pub(crate) count: u64,
    pub(crate) allowed: u64,
    /// Why the requests after the `allowed` ones are refused; `None` when none is.
    pub(crate) refused_by: Option<LimitKind>,
    /// How far the TAT was ahead of `now` before the batch, in µs.
    pub(crate) backlog_before_us: u64,
    /// The quota's count of the current period before the batch.
    pub(crate) quota_used_before: u64,
}

/// What a check found for one request, in the form both stores produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) refused_by: Option<LimitKind>,
    /// How far the TAT is ahead of `now` once this request is (or is not) counted, in µs.
    pub(crate) backlog_us: u64,
    /// Requests counted in the quota's current period, this one included when it was allowed.
    pub(crate) quota_used: u64,
}

impl Plan {
    /// The check to run; `None` when there is no limit to enforce. [`StoreError::Corrupt`] for a
    /// subject that could break out of its keys' hash tag (holding `{` or `}`), a limit that is
    /// not positive, or a clock reading out of range.
    pub(crate) fn new(subject: &str, limits: &Limits, now_ms: u64) -> Result<Option<Self>, StoreError> {
        check_subject(subject)?;
        if now_ms > MAX_NOW_MS {
            return Err(StoreError::Corrupt(format!("clock reading out of range: {now_ms} ms")));
        }
        let rate = limits.rate.as_ref().map(Gcra::new).transpose()?;
        let quota = limits.quota.as_ref().map(QuotaPlan::new).transpose()?;
        if rate.is_none() && quota.is_none() {
            return Ok(None);
        }
        Ok(Some(Self { now_ms, rate, quota }))
    }

    pub(crate) fn now_us(&self) -> u64 {
        self.now_ms * 1000
    }

    /// Decides on a request, given the stored TAT and the count of the quota's current period.
    /// The rate limit is checked first; the request is counted against both limits or neither.
    /// (The stores decide through [`Plan::decide_batch`]; this is its one-request case.)
    #[cfg(test)]
    pub(crate) fn decide(&self, tat_us: Option<u64>, quota_used: u64) -> Verdict {
        self.verdict_of(&self.decide_batch(tat_us, quota_used, 1), 0)
    }

    /// Decides on `count` requests at once, as if they came one after another at `now`: each
    /// is counted if the rate limit, then the quota, still has room after the ones before it.
    pub(crate) fn decide_batch(&self, tat_us: Option<u64>, quota_used: u64, count: u64) -> BatchVerdict {
        let (backlog_before_us, rate_room) =
            self.rate.map_or((0, u64::MAX), |gcra| gcra.room(self.now_us(), tat_us));
        let quota_room = self.quota.map_or(u64::MAX, |quota| quota.max.saturating_sub(quota_used));
        let allowed = count.min(rate_room).min(quota_room);
        let refused_by = if allowed == count {
            None
        } else if allowed == rate_room {
            Some(LimitKind::Rate)
        } else {
            Some(LimitKind::Quota)
        };
        let quota_used_before = if self.quota.is_some() { quota_used } else { 0 };
        BatchVerdict { count, allowed, refused_by, backlog_before_us, quota_used_before }
    }

    /// The verdict on the `index`-th request (from 0) of a batch.
    pub(crate) fn verdict_of(&self, batch: &BatchVerdict, index: u64) -> Verdict {
        let (counted, refused_by) =
            if index < batch.allowed { (index + 1, None) } else { (batch.allowed, batch.refused_by) };
        Verdict {
            refused_by,
            backlog_us: self.rate.map_or(0, |gcra| batch.backlog_before_us + counted * gcra.emission_us),
            quota_used: batch.quota_used_before + if self.quota.is_some() { counted } else { 0 },
        }
    }

    /// Every request's outcome in a batch, in order.
    pub(crate) fn outcomes(&self, batch: &BatchVerdict, quota_ttl_ms: u64) -> Vec<LimitOutcome> {
        (0..batch.count).map(|index| self.outcome(&self.verdict_of(batch, index), quota_ttl_ms)).collect()
    }

    /// The outcome to report; `quota_ttl_ms` is how long the quota's period still runs (a whole
    /// period when none has started).
    pub(crate) fn outcome(&self, verdict: &Verdict, quota_ttl_ms: u64) -> LimitOutcome {
        LimitOutcome {
            refused_by: verdict.refused_by,
            rate_remaining: self
                .rate
                .map(|gcra| gcra.window_us().saturating_sub(verdict.backlog_us) / gcra.emission_us),
            rate_reset_ms: self.rate.map(|_| (self.now_us() + verdict.backlog_us).div_ceil(1000)),
            quota_remaining: self.quota.map(|quota| quota.max.saturating_sub(verdict.quota_used)),
            quota_reset_ms: self.quota.map(|_| self.now_ms + quota_ttl_ms),
        }
    }
}

/// The outcome when there is no limit: allowed, nothing to report.
pub(crate) const UNLIMITED: LimitOutcome = LimitOutcome {
    refused_by: None,
    rate_remaining: None,
    rate_reset_ms: None,
    quota_remaining: None,
    quota_reset_ms: None,
};

/// A check of `subject` against `limits` as both stores run it: planned and validated first,
/// then counted by `count`; a subject without limits is answered `unlimited` with no storage
/// touched.
pub(crate) async fn planned<T, Fut>(
    subject: &str,
    limits: &Limits,
    now_ms: u64,
    unlimited: impl FnOnce() -> T,
    count: impl FnOnce(Plan) -> Fut,
) -> Result<T, StoreError>
where
    Fut: Future<Output = Result<T, StoreError>>,
{
    match Plan::new(subject, limits, now_ms)? {
        Some(plan) => count(plan).await,
        None => Ok(unlimited()),
    }
}

/// [`UNLIMITED`] for each of `count` requests.
pub(crate) fn unlimited_batch(count: u64) -> Vec<LimitOutcome> {
    vec![UNLIMITED; usize::try_from(count).unwrap_or(usize::MAX)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn plan(rate: Option<(f64, f64)>, quota: Option<(u64, u64)>) -> Plan {
        let limits = Limits {
            rate: rate.map(|(rate, per_secs)| RateLimit { rate, per_secs }),
            quota: quota.map(|(max, period_secs)| Quota { max, period_secs }),
        };
        Plan::new("s", &limits, NOW).unwrap().unwrap()
    }

    #[test]
    fn rates_become_an_interval_and_a_burst() {
        let gcra = |rate, per_secs| Gcra::new(&RateLimit { rate, per_secs }).unwrap();
        assert_eq!(gcra(10.0, 60.0), Gcra { emission_us: 6_000_000, burst: 10 });
        assert_eq!(gcra(0.5, 1.0), Gcra { emission_us: 2_000_000, burst: 1 });
        assert_eq!(gcra(2.5, 1.0), Gcra { emission_us: 400_000, burst: 2 });
        assert_eq!(gcra(3.0, 1.0), Gcra { emission_us: 333_333, burst: 3 });
        assert_eq!(gcra(1e9, 1.0), Gcra { emission_us: 1, burst: 1_000_000_000 });
        let absurd = gcra(2.0, 1e12);
        assert_eq!((absurd.burst, absurd.window_us() <= MAX_WINDOW_US), (2, true));
        assert!(gcra(1e300, 1e-300).window_us() <= MAX_WINDOW_US);
    }

    #[test]
    fn invalid_limits_and_subjects_are_rejected() {
        let corrupt = |subject: &str, rate: f64, per_secs: f64, now_ms: u64| {
            let limits = Limits { rate: Some(RateLimit { rate, per_secs }), quota: None };
            matches!(Plan::new(subject, &limits, now_ms), Err(StoreError::Corrupt(_)))
        };
        for (rate, per) in [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (f64::NAN, 1.0), (1.0, f64::INFINITY)] {
            assert!(corrupt("s", rate, per, NOW), "{rate} per {per}");
        }
        assert!(corrupt("a{b", 1.0, 1.0, NOW) && corrupt("a}b", 1.0, 1.0, NOW));
        assert!(corrupt("s", 1.0, 1.0, MAX_NOW_MS + 1));
        let zero_period = Limits { rate: None, quota: Some(Quota { max: 1, period_secs: 0 }) };
        assert!(matches!(Plan::new("s", &zero_period, NOW), Err(StoreError::Corrupt(_))));
        let none = Limits { rate: None, quota: None };
        assert_eq!(Plan::new("fam:f", &none, NOW).unwrap(), None);
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let p = plan(Some((10.0, 60.0)), None);
        let mut tat = None;
        for expected in (0..10).rev() {
            let verdict = p.decide(tat, 0);
            let outcome = p.outcome(&verdict, 0);
            assert_eq!((outcome.refused_by, outcome.rate_remaining), (None, Some(expected)));
            tat = Some(p.now_us() + verdict.backlog_us);
        }
        let refused = p.decide(tat, 0);
        let outcome = p.outcome(&refused, 0);
        assert_eq!(outcome.refused_by, Some(LimitKind::Rate));
        assert_eq!((outcome.rate_remaining, outcome.rate_reset_ms), (Some(0), Some(NOW + 60_000)));
        let later = Plan { now_ms: NOW + 6_000, ..p };
        assert_eq!(later.decide(tat, 0).refused_by, None);
    }

    #[test]
    fn refused_requests_count_against_neither_limit() {
        let p = plan(Some((1.0, 1.0)), Some((5, 60)));
        let first = p.decide(None, 0);
        assert_eq!((first.refused_by, first.backlog_us, first.quota_used), (None, 1_000_000, 1));
        let tat = Some(p.now_us() + first.backlog_us);
        let rate_refused = p.decide(tat, 1);
        assert_eq!((rate_refused.refused_by, rate_refused.quota_used), (Some(LimitKind::Rate), 1));
        let quota_refused = p.decide(None, 5);
        assert_eq!(
            quota_refused,
            Verdict { refused_by: Some(LimitKind::Quota), backlog_us: 0, quota_used: 5 }
        );
        let outcome = p.outcome(&quota_refused, 1_234);
        assert_eq!(outcome.rate_remaining, Some(1));
        assert_eq!((outcome.quota_remaining, outcome.quota_reset_ms), (Some(0), Some(NOW + 1_234)));
    }

    #[test]
    fn a_tat_beyond_the_window_counts_as_the_window() {
        let p = plan(Some((2.0, 1.0)), None);
        let verdict = p.decide(Some(p.now_us() + 10_000_000), 0);
        assert_eq!((verdict.refused_by, verdict.backlog_us), (Some(LimitKind::Rate), 1_000_000));
        assert_eq!(p.outcome(&verdict, 0).rate_reset_ms, Some(NOW + 1_000));
    }

    /// A batch decides exactly what the same requests decided one by one would, each request
    /// seeing the state the ones before it left.
    #[test]
    fn a_batch_decides_as_its_requests_would_one_by_one() {
        let rates = [None, Some((1.0, 1.0)), Some((3.0, 1.0)), Some((10.0, 60.0)), Some((2.5, 1.0))];
        let quotas = [None, Some((0, 60)), Some((1, 60)), Some((4, 60)), Some((100, 60))];
        for rate in rates {
            for quota in quotas.into_iter().filter(|quota| rate.is_some() || quota.is_some()) {
                let p = plan(rate, quota);
                for (start_tat, start_used) in
                    [(None, 0), (Some(p.now_us() + 2_500_000), 2), (Some(p.now_us() - 5), 0)]
                {
                    for count in [1, 2, 3, 7, 20] {
                        let batch = p.decide_batch(start_tat, start_used, count);
                        let (mut tat, mut used) = (start_tat, start_used);
                        for index in 0..count {
                            let one = p.decide(tat, used);
                            assert_eq!(
                                p.verdict_of(&batch, index),
                                one,
                                "{rate:?} {quota:?} {count} #{index}"
                            );
                            if one.refused_by.is_none() {
                                tat = p.rate.map(|_| p.now_us() + one.backlog_us);
                                used = one.quota_used;
                            }
                        }
                        assert_eq!(p.outcomes(&batch, 0).len() as u64, count);
                    }
                }
            }
        }
    }

    #[test]
    fn a_batch_is_refused_by_whichever_limit_runs_out_first() {
        let p = plan(Some((10.0, 60.0)), Some((4, 60)));
        let quota_first = p.decide_batch(None, 0, 6);
        assert_eq!((quota_first.allowed, quota_first.refused_by), (4, Some(LimitKind::Quota)));
        let rate_first = p.decide_batch(None, 0, 3);
        assert_eq!((rate_first.allowed, rate_first.refused_by), (3, None));
        let p = plan(Some((2.0, 60.0)), Some((4, 60)));
        let rate_first = p.decide_batch(None, 0, 6);
        assert_eq!((rate_first.allowed, rate_first.refused_by), (2, Some(LimitKind::Rate)));
        let outcomes = p.outcomes(&rate_first, 0);
        let remaining: Vec<_> =
            outcomes.iter().map(|o| (o.refused_by, o.rate_remaining, o.quota_remaining)).collect();
        assert_eq!(
            remaining,
            [
                (None, Some(1), Some(3)),
                (None, Some(0), Some(2)),
                (Some(LimitKind::Rate), Some(0), Some(2)),
                (Some(LimitKind::Rate), Some(0), Some(2)),
                (Some(LimitKind::Rate), Some(0), Some(2)),
                (Some(LimitKind::Rate), Some(0), Some(2)),
            ]
        );
    }

    #[test]
    fn reset_is_rounded_up_to_the_millisecond() {
        let p = plan(Some((3.0, 1.0)), None);
        let verdict = p.decide(None, 0);
        assert_eq!(verdict.backlog_us, 333_333);
        assert_eq!(p.outcome(&verdict, 0).rate_reset_ms, Some(NOW + 334));
    }
}
