//! The contract for rate limits and quotas (`check_limits`), run against each `TokenStore`
//! with the caller's clock given explicitly, so the rate limit's arithmetic is checked to the
//! millisecond. Quota periods run by the store's clock (a Redis TTL cannot be moved), so the
//! test of a period ending uses a short one and sleeps. Checks only Redis needs (keys, several
//! gateways, damaged state, a dead server) are in `limits_redis.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::clock::unix_millis as unix_ms;
use gatehouse_model::storage::{LimitKind, LimitOutcome, LimitStore, Limits, Quota, RateLimit, StoreError};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use support::grants::redis_fixture;
use tokio::task::JoinSet;

/// The callers' clock in most cases: any fixed instant will do.
const T0: u64 = 1_700_000_000_000;
const HOUR_MS: u64 = 3_600_000;

fn rate(rate: f64, per_secs: f64) -> Limits {
    Limits { rate: Some(RateLimit { rate, per_secs }), quota: None }
}

fn quota(max: u64, period_secs: u64) -> Limits {
    Limits { rate: None, quota: Some(Quota { max, period_secs }) }
}

fn both(r: f64, per_secs: f64, max: u64, period_secs: u64) -> Limits {
    Limits { rate: rate(r, per_secs).rate, quota: quota(max, period_secs).quota }
}

/// A quota's reset is `now` plus what is left of the period by the store's clock, which moves
/// on (a little) while the test runs.
fn assert_quota_reset(outcome: &LimitOutcome, period_end: u64) {
    let reset = outcome.quota_reset_ms.expect("a quota reports its reset");
    assert!(reset <= period_end && reset + 5_000 > period_end, "reset {reset}, period ends {period_end}");
}

/// The cases, generic over the store.
mod cases {
    use super::*;

    async fn check(s: &impl LimitStore, subject: &str, limits: &Limits, now_ms: u64) -> LimitOutcome {
        s.check_limits(subject, limits, now_ms).await.unwrap()
    }

    pub async fn a_burst_then_one_per_interval(s: &impl LimitStore) {
        let limits = rate(10.0, 60.0);
        for n in 1..=10u64 {
            let outcome = check(s, "fam:f1", &limits, T0).await;
            assert_eq!(outcome.refused_by, None, "request {n}");
            assert_eq!(outcome.rate_remaining, Some(10 - n), "request {n}");
            // Full again once each counted request's 6 s have passed.
            assert_eq!(outcome.rate_reset_ms, Some(T0 + 6_000 * n), "request {n}");
            assert_eq!((outcome.quota_remaining, outcome.quota_reset_ms), (None, None));
        }
        let refused = check(s, "fam:f1", &limits, T0).await;
        let expected = LimitOutcome {
            refused_by: Some(LimitKind::Rate),
            rate_remaining: Some(0),
            rate_reset_ms: Some(T0 + 60_000),
            quota_remaining: None,
            quota_reset_ms: None,
        };
        assert_eq!(refused, expected);
        assert_eq!(check(s, "fam:f1", &limits, T0 + 5_999).await.refused_by, Some(LimitKind::Rate));
        // One interval later, one more request.
        let next = check(s, "fam:f1", &limits, T0 + 6_000).await;
        assert_eq!(
            (next.refused_by, next.rate_remaining, next.rate_reset_ms),
            (None, Some(0), Some(T0 + 66_000))
        );
        assert_eq!(check(s, "fam:f1", &limits, T0 + 6_000).await.refused_by, Some(LimitKind::Rate));
        // At the reset the bucket is full: a whole burst again, and no more.
        for n in 1..=10u64 {
            let outcome = check(s, "fam:f1", &limits, T0 + 66_000).await;
            assert_eq!((outcome.refused_by, outcome.rate_remaining), (None, Some(10 - n)), "request {n}");
        }
        assert_eq!(check(s, "fam:f1", &limits, T0 + 66_000).await.refused_by, Some(LimitKind::Rate));
    }

    pub async fn fractional_rates(s: &impl LimitStore) {
        // 1 per 2 s and 0.5 per 1 s are the same limit: one request every 2 s, a burst of one.
        for (subject, limits) in [("one-per-2s", rate(1.0, 2.0)), ("half-per-1s", rate(0.5, 1.0))] {
            let first = check(s, subject, &limits, T0).await;
            assert_eq!(
                (first.refused_by, first.rate_remaining, first.rate_reset_ms),
                (None, Some(0), Some(T0 + 2_000))
            );
            for at in [T0, T0 + 1_000, T0 + 1_999] {
                let refused = check(s, subject, &limits, at).await;
                assert_eq!(
                    (refused.refused_by, refused.rate_reset_ms),
                    (Some(LimitKind::Rate), Some(T0 + 2_000))
                );
            }
            assert_eq!(check(s, subject, &limits, T0 + 2_000).await.refused_by, None, "{subject}");
            assert_eq!(check(s, subject, &limits, T0 + 3_999).await.refused_by, Some(LimitKind::Rate));
            assert_eq!(check(s, subject, &limits, T0 + 4_000).await.refused_by, None, "{subject}");
        }
        // 2.5 per second: a burst of 2, then one every 400 ms.
        let limits = rate(2.5, 1.0);
        assert_eq!(check(s, "2.5", &limits, T0).await.rate_remaining, Some(1));
        assert_eq!(check(s, "2.5", &limits, T0).await.rate_remaining, Some(0));
        assert_eq!(check(s, "2.5", &limits, T0).await.refused_by, Some(LimitKind::Rate));
        assert_eq!(check(s, "2.5", &limits, T0 + 399).await.refused_by, Some(LimitKind::Rate));
        assert_eq!(check(s, "2.5", &limits, T0 + 400).await.refused_by, None);
        // 3 per second: 333.333 ms apart, resets rounded up to the millisecond.
        let limits = rate(3.0, 1.0);
        let resets = [T0 + 334, T0 + 667, T0 + 1_000];
        for reset in resets {
            assert_eq!(check(s, "3", &limits, T0).await.rate_reset_ms, Some(reset));
        }
        assert_eq!(check(s, "3", &limits, T0 + 333).await.refused_by, Some(LimitKind::Rate));
        assert_eq!(check(s, "3", &limits, T0 + 334).await.refused_by, None);
    }

    pub async fn a_quota_allows_its_max(s: &impl LimitStore) {
        let limits = quota(5, 3_600);
        for n in 1..=5u64 {
            let outcome = check(s, "client:orders:c1", &limits, T0).await;
            assert_eq!((outcome.refused_by, outcome.quota_remaining), (None, Some(5 - n)), "request {n}");
            assert_eq!((outcome.rate_remaining, outcome.rate_reset_ms), (None, None));
            assert_quota_reset(&outcome, T0 + HOUR_MS);
        }
        // Refusals count nothing, and leave the period (by the store's clock) as it was.
        for at in [T0, T0 + 60_000] {
            let refused = check(s, "client:orders:c1", &limits, at).await;
            assert_eq!((refused.refused_by, refused.quota_remaining), (Some(LimitKind::Quota), Some(0)));
            assert_quota_reset(&refused, at + HOUR_MS);
        }
    }

    pub async fn refused_requests_consume_neither_limit(s: &impl LimitStore) {
        let limits = both(2.0, 60.0, 3, 3_600);
        check(s, "fam:f1", &limits, T0).await;
        let second = check(s, "fam:f1", &limits, T0).await;
        assert_eq!((second.rate_remaining, second.quota_remaining), (Some(0), Some(1)));
        // Refused by the rate limit: the quota is not burnt.
        for _ in 0..5 {
            let refused = check(s, "fam:f1", &limits, T0 + 1_000).await;
            assert_eq!((refused.refused_by, refused.quota_remaining), (Some(LimitKind::Rate), Some(1)));
            assert_eq!(refused.rate_reset_ms, Some(T0 + 60_000));
        }
        let last = check(s, "fam:f1", &limits, T0 + 30_000).await;
        assert_eq!((last.refused_by, last.quota_remaining), (None, Some(0)));
        // Refused by the quota: the rate limit is not spent either (the rate limit is full again
        // at T0 + 90 s and stays so).
        for _ in 0..5 {
            let refused = check(s, "fam:f1", &limits, T0 + 90_000).await;
            assert_eq!(refused.refused_by, Some(LimitKind::Quota));
            assert_eq!((refused.rate_remaining, refused.rate_reset_ms), (Some(2), Some(T0 + 90_000)));
        }
        let spent = both(1.0, 60.0, 0, 60);
        assert_eq!(check(s, "fam:f2", &spent, T0).await.refused_by, Some(LimitKind::Quota));
        // When both would refuse, the rate limit is named.
        let rate_first = both(1.0, 60.0, 1, 60);
        check(s, "fam:f3", &rate_first, T0).await;
        assert_eq!(check(s, "fam:f3", &rate_first, T0).await.refused_by, Some(LimitKind::Rate));
    }

    pub async fn a_quota_period_ends(s: &impl LimitStore) {
        let limits = quota(2, 1);
        let start = unix_ms();
        let first = check(s, "fam:f1", &limits, start).await;
        assert_eq!(first.quota_remaining, Some(1));
        let period_end = first.quota_reset_ms.unwrap();
        assert!(period_end > start && period_end <= start + 1_000, "reset {period_end}, start {start}");
        // Later requests, counted or refused, leave the period's end where the first one put it.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let second = check(s, "fam:f1", &limits, unix_ms()).await;
        let refused = check(s, "fam:f1", &limits, unix_ms()).await;
        assert_eq!((second.refused_by, second.quota_remaining), (None, Some(0)));
        assert_eq!((refused.refused_by, refused.quota_remaining), (Some(LimitKind::Quota), Some(0)));
        for outcome in [second, refused] {
            let reset = outcome.quota_reset_ms.unwrap();
            assert!(reset.abs_diff(period_end) < 50, "reset {reset}, period ends {period_end}");
        }
        tokio::time::sleep(Duration::from_millis((start + 1_100).saturating_sub(unix_ms()))).await;
        let now = unix_ms();
        let renewed = check(s, "fam:f1", &limits, now).await;
        assert_eq!((renewed.refused_by, renewed.quota_remaining), (None, Some(1)));
        assert!(renewed.quota_reset_ms.unwrap() > now + 900);
    }

    /// A lease's unspent quota cells go back into the period they were counted in, and only
    /// into it; never below zero; a refund of a period that ended (or of a count that was never
    /// made) gives nothing back.
    pub async fn unspent_quota_cells_go_back_to_their_period(s: &impl LimitStore) {
        let limits = both(1_000.0, 1.0, 10, 3_600);
        let now = unix_ms();
        let batch = s.check_limits_batch("fam:l", &limits, now, 6).await.unwrap();
        let reset = batch[5].quota_reset_ms.unwrap();
        assert_eq!(batch[5].quota_remaining, Some(4));
        assert_eq!(s.refund_quota("fam:l", 4, reset, unix_ms()).await.unwrap(), 4);
        assert_eq!(check(s, "fam:l", &limits, unix_ms()).await.quota_remaining, Some(7));
        // No more back than was counted.
        assert_eq!(s.refund_quota("fam:l", 50, reset, unix_ms()).await.unwrap(), 3);
        assert_eq!(check(s, "fam:l", &limits, unix_ms()).await.quota_remaining, Some(9));
        // Another period (its end a minute off) or one already over, or no count at all.
        assert_eq!(s.refund_quota("fam:l", 1, reset - 60_000, unix_ms()).await.unwrap(), 0);
        assert_eq!(s.refund_quota("fam:l", 1, unix_ms() - 1, unix_ms()).await.unwrap(), 0);
        assert_eq!(s.refund_quota("fam:none", 1, reset, unix_ms()).await.unwrap(), 0);
        assert_eq!(check(s, "fam:l", &limits, unix_ms()).await.quota_remaining, Some(8));
        assert!(matches!(s.refund_quota("bad{", 1, reset, unix_ms()).await, Err(StoreError::Corrupt(_))));
    }

    pub async fn subjects_are_independent(s: &impl LimitStore) {
        let limits = both(1.0, 60.0, 1, 3_600);
        assert_eq!(check(s, "fam:a", &limits, T0).await.refused_by, None);
        assert_eq!(check(s, "fam:a", &limits, T0).await.refused_by, Some(LimitKind::Rate));
        for subject in ["fam:b", "client:orders:a", "fam:a:x", "fam:"] {
            let outcome = check(s, subject, &limits, T0).await;
            assert_eq!((outcome.refused_by, outcome.quota_remaining), (None, Some(0)), "{subject}");
        }
        assert_eq!(check(s, "fam:a", &limits, T0 + 60_000).await.refused_by, Some(LimitKind::Quota));
    }

    pub async fn no_limits_allow_everything(s: &impl LimitStore) {
        let none = Limits { rate: None, quota: None };
        let unlimited = LimitOutcome {
            refused_by: None,
            rate_remaining: None,
            rate_reset_ms: None,
            quota_remaining: None,
            quota_reset_ms: None,
        };
        for _ in 0..100 {
            assert_eq!(check(s, "fam:f1", &none, T0).await, unlimited);
        }
        // Nor did they count against limits set later.
        assert_eq!(check(s, "fam:f1", &quota(1, 60), T0).await.refused_by, None);
    }

    pub async fn bad_subjects_and_limits_are_rejected(s: &impl LimitStore) {
        for bad in ["a{b", "a}b", "{fam:f1}", "}"] {
            for limits in [rate(1.0, 1.0), quota(1, 1)] {
                let checked = s.check_limits(bad, &limits, T0).await;
                assert!(matches!(checked, Err(StoreError::Corrupt(_))), "{bad}: {checked:?}");
            }
        }
        for limits in [rate(0.0, 1.0), rate(1.0, 0.0), rate(f64::NAN, 1.0), rate(-1.0, 1.0), quota(1, 0)] {
            let checked = s.check_limits("fam:f1", &limits, T0).await;
            assert!(matches!(checked, Err(StoreError::Corrupt(_))), "{limits:?}: {checked:?}");
        }
        // Nothing was counted along the way.
        assert_eq!(check(s, "fam:f1", &rate(1.0, 1.0), T0).await.refused_by, None);
    }

    /// A batch decides what its requests would have one by one: a store answering batches and
    /// single requests keeps one state.
    pub async fn a_batch_counts_as_its_requests_one_by_one(s: &impl LimitStore) {
        // Rate 5 per minute, quota 8: a batch of 3, then one of 4 (2 pass, the rate is spent).
        let limits = both(5.0, 60.0, 8, 3_600);
        let first = s.check_limits_batch("fam:b", &limits, T0, 3).await.unwrap();
        let seen: Vec<_> =
            first.iter().map(|o| (o.refused_by, o.rate_remaining, o.quota_remaining)).collect();
        assert_eq!(seen, [(None, Some(4), Some(7)), (None, Some(3), Some(6)), (None, Some(2), Some(5))]);
        let second = s.check_limits_batch("fam:b", &limits, T0, 4).await.unwrap();
        let seen: Vec<_> =
            second.iter().map(|o| (o.refused_by, o.rate_remaining, o.quota_remaining)).collect();
        let rate = Some(LimitKind::Rate);
        assert_eq!(
            seen,
            [
                (None, Some(1), Some(4)),
                (None, Some(0), Some(3)),
                (rate, Some(0), Some(3)),
                (rate, Some(0), Some(3))
            ]
        );
        // Single requests see the state the batches left.
        assert_eq!(check(s, "fam:b", &limits, T0).await.refused_by, rate);
        // 12 s later one interval (60 s / 5) has passed: a batch of 3 gets 1, the quota is then
        // at 6 of 8.
        let later = s.check_limits_batch("fam:b", &limits, T0 + 12_000, 3).await.unwrap();
        let seen: Vec<_> = later.iter().map(|o| (o.refused_by, o.quota_remaining)).collect();
        assert_eq!(seen, [(None, Some(2)), (rate, Some(2)), (rate, Some(2))]);

        // A quota that runs out within a batch refuses the rest as the quota.
        let limits = quota(2, 3_600);
        let outcomes = s.check_limits_batch("fam:q", &limits, T0, 4).await.unwrap();
        let refused: Vec<_> = outcomes.iter().map(|o| o.refused_by).collect();
        let quota_kind = Some(LimitKind::Quota);
        assert_eq!(refused, [None, None, quota_kind, quota_kind]);
        assert_eq!(check(s, "fam:q", &limits, T0).await.refused_by, quota_kind);

        // No limits: every request passes, nothing reported.
        let none = Limits { rate: None, quota: None };
        let outcomes = s.check_limits_batch("fam:n", &none, T0, 3).await.unwrap();
        assert!(outcomes.iter().all(|o| o.refused_by.is_none() && o.rate_remaining.is_none()));
        assert_eq!(outcomes.len(), 3);
    }

    /// 30 requests at once, from `gateways` (stores sharing state), against a rate limit of 10
    /// per minute, and then against a quota of 7 on top.
    pub async fn racing_requests_pass_exactly_the_limit<S: LimitStore + Clone>(gateways: &[S]) {
        for (subject, limits, expected) in
            [("fam:race", rate(10.0, 60.0), 10), ("fam:both", both(10.0, 60.0, 7, 60), 7)]
        {
            let mut racers = JoinSet::new();
            for n in 0..30 {
                let store = gateways[n % gateways.len()].clone();
                racers.spawn(async move { store.check_limits(subject, &limits, T0).await.unwrap() });
            }
            let outcomes = racers.join_all().await;
            let allowed = outcomes.iter().filter(|o| o.refused_by.is_none()).count();
            assert_eq!(allowed, expected, "{subject}: {outcomes:?}");
            // Each allowed request saw a different count.
            let mut remaining: Vec<_> =
                outcomes.iter().filter(|o| o.refused_by.is_none()).map(|o| o.rate_remaining).collect();
            remaining.sort();
            remaining.dedup();
            assert_eq!(remaining.len(), expected, "{subject}");
        }
    }
}

/// One test per case for a store built by `$fixture`, an async block returning
/// `(store, guard)`; the guard lives until the test ends.
macro_rules! limits_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            limits_contract!(@cases $fixture;
                a_burst_then_one_per_interval, fractional_rates, a_quota_allows_its_max,
                refused_requests_consume_neither_limit, a_quota_period_ends, subjects_are_independent,
                no_limits_allow_everything, bad_subjects_and_limits_are_rejected,
                a_batch_counts_as_its_requests_one_by_one, unspent_quota_cells_go_back_to_their_period);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn racing_requests_pass_exactly_the_limit() {
                let (store, _guard) = $fixture.await;
                cases::racing_requests_pass_exactly_the_limit(&[store]).await;
            }
        }
    };
    (@cases $fixture:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $fixture.await;
                cases::$case(&store).await;
            }
        )*
    };
}

limits_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
limits_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
limits_contract!(on_redis, async { redis_fixture().await });
limits_contract!(on_any_redis, async {
    let (store, server) = redis_fixture().await;
    (AnyTokenStore::redis(store), server)
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_three_gateways_pass_exactly_the_limit() {
    let server = RedisServer::start();
    let mut gateways = Vec::new();
    for _ in 0..3 {
        // Separate stores, each with its own connection, as separate gateway processes have.
        gateways.push(RedisTokenStore::connect(&server.url()).await.unwrap());
    }
    cases::racing_requests_pass_exactly_the_limit(&gateways).await;
}
