//! Limit checks that only make sense for Redis: key layout and expiry, what is (not) written,
//! damaged state, script reloading, a dead server, and agreement with the memory store over a
//! long pseudo-random run. The contract itself is in `limits_contract.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::storage::{LimitKind, LimitOutcome, LimitStore, Limits, Quota, RateLimit, StoreError};
use gatehouse_store::{MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use support::grants::redis_fixture;
use tokio::time::timeout;

const T0: u64 = 1_700_000_000_000;

fn rate(rate: f64, per_secs: f64) -> Limits {
    Limits { rate: Some(RateLimit { rate, per_secs }), quota: None }
}

fn quota(max: u64, period_secs: u64) -> Limits {
    Limits { rate: None, quota: Some(Quota { max, period_secs }) }
}

fn both(r: f64, per_secs: f64, max: u64, period_secs: u64) -> Limits {
    Limits { rate: rate(r, per_secs).rate, quota: quota(max, period_secs).quota }
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn all_keys(raw: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap();
    keys.sort();
    keys
}

async fn get(raw: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(raw).await.unwrap()
}

async fn pttl(raw: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(raw).await.unwrap()
}

async fn set(raw: &mut redis::aio::MultiplexedConnection, key: &str, value: &str) {
    redis::cmd("SET").arg(key).arg(value).query_async::<()>(raw).await.unwrap();
}

fn assert_between(value: i64, low: i64, high: i64, what: &str) {
    assert!(low <= value && value <= high, "{what}: {value} not in {low}..={high}");
}

#[tokio::test]
async fn redis_keys_have_the_documented_forms_and_all_expire() {
    let (store, server) = redis_fixture().await;
    store.check_limits("fam:f1", &both(10.0, 60.0, 100, 3_600), T0).await.unwrap();
    store.check_limits("client:orders:c1", &rate(3.0, 1.0), T0).await.unwrap();
    store.check_limits("client:orders:c2", &quota(5, 60), T0).await.unwrap();

    let mut raw = raw_connection(&server).await;
    let expected = [
        "gh:{lim:client:orders:c1}:rate",
        "gh:{lim:client:orders:c2}:quota",
        "gh:{lim:fam:f1}:quota",
        "gh:{lim:fam:f1}:rate",
    ];
    assert_eq!(all_keys(&mut raw).await, expected);
    assert_eq!(RedisTokenStore::rate_limit_key("fam:f1").unwrap(), "gh:{lim:fam:f1}:rate");
    assert_eq!(RedisTokenStore::quota_key("fam:f1").unwrap(), "gh:{lim:fam:f1}:quota");

    // The TAT in unix milliseconds, to the microsecond; the count as an integer.
    assert_eq!(get(&mut raw, "gh:{lim:fam:f1}:rate").await, Some(format!("{}.000", T0 + 6_000)));
    assert_eq!(get(&mut raw, "gh:{lim:client:orders:c1}:rate").await, Some(format!("{}.333", T0 + 333)));
    assert_eq!(get(&mut raw, "gh:{lim:fam:f1}:quota").await.as_deref(), Some("1"));
    // Rate state lives until the bucket is full again plus a minute; a quota for its period.
    assert_between(pttl(&mut raw, "gh:{lim:fam:f1}:rate").await, 65_000, 66_000, "rate PTTL");
    assert_between(pttl(&mut raw, "gh:{lim:client:orders:c1}:rate").await, 59_334, 60_334, "rate PTTL");
    assert_between(pttl(&mut raw, "gh:{lim:fam:f1}:quota").await, 3_599_000, 3_600_000, "quota PTTL");
    assert_between(pttl(&mut raw, "gh:{lim:client:orders:c2}:quota").await, 59_000, 60_000, "quota PTTL");
}

#[tokio::test]
async fn redis_refused_and_unlimited_requests_write_nothing() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    for _ in 0..3 {
        store.check_limits("fam:f1", &Limits { rate: None, quota: None }, T0).await.unwrap();
        let refused = store.check_limits("fam:f1", &both(10.0, 60.0, 0, 60), T0).await.unwrap();
        assert_eq!(refused.refused_by, Some(LimitKind::Quota));
    }
    assert_eq!(all_keys(&mut raw).await, Vec::<String>::new());

    let limits = both(1.0, 60.0, 10, 60);
    store.check_limits("fam:f1", &limits, T0).await.unwrap();
    let (tat, count) =
        (get(&mut raw, "gh:{lim:fam:f1}:rate").await, get(&mut raw, "gh:{lim:fam:f1}:quota").await);
    let ttl = pttl(&mut raw, "gh:{lim:fam:f1}:rate").await;
    let refused = store.check_limits("fam:f1", &limits, T0 + 30_000).await.unwrap();
    assert_eq!(refused.refused_by, Some(LimitKind::Rate));
    assert_eq!(get(&mut raw, "gh:{lim:fam:f1}:rate").await, tat);
    assert_eq!(get(&mut raw, "gh:{lim:fam:f1}:quota").await, count);
    assert!(pttl(&mut raw, "gh:{lim:fam:f1}:rate").await <= ttl);
}

#[tokio::test]
async fn redis_damaged_state_is_corrupt_or_repaired() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    for bad in ["garbage", "1700000000000", "1700000000000.5", "-1.000", "1e12.000", ""] {
        set(&mut raw, "gh:{lim:fam:f1}:rate", bad).await;
        let checked = store.check_limits("fam:f1", &rate(1.0, 1.0), T0).await;
        assert!(
            matches!(&checked, Err(StoreError::Corrupt(m)) if m.contains("rate")),
            "{bad:?}: {checked:?}"
        );
        // Read only when there is a rate limit.
        assert!(store.check_limits("fam:f1", &quota(1, 60), T0).await.is_ok());
        redis::cmd("DEL").arg("gh:{lim:fam:f1}:quota").query_async::<()>(&mut raw).await.unwrap();
    }
    for bad in ["x", "1.5", "-1", ""] {
        set(&mut raw, "gh:{lim:fam:f2}:quota", bad).await;
        let checked = store.check_limits("fam:f2", &quota(5, 60), T0).await;
        assert!(
            matches!(&checked, Err(StoreError::Corrupt(m)) if m.contains("quota")),
            "{bad:?}: {checked:?}"
        );
    }
    // A count without expiry would refuse forever: it is given one.
    set(&mut raw, "gh:{lim:fam:f3}:quota", "3").await;
    let refused = store.check_limits("fam:f3", &quota(3, 60), T0).await.unwrap();
    assert_eq!(refused.refused_by, Some(LimitKind::Quota));
    assert_between(pttl(&mut raw, "gh:{lim:fam:f3}:quota").await, 59_000, 60_000, "repaired quota PTTL");
    // A TAT far ahead (a clock far ahead wrote it) counts as one window; the key's TTL, which
    // runs by Redis' clock, ends it.
    set(&mut raw, "gh:{lim:fam:f4}:rate", &format!("{}.000", T0 + 86_400_000)).await;
    for at in [T0, T0 + 5_000] {
        let refused = store.check_limits("fam:f4", &rate(2.0, 10.0), at).await.unwrap();
        assert_eq!((refused.refused_by, refused.rate_reset_ms), (Some(LimitKind::Rate), Some(at + 10_000)));
        assert_eq!(refused.rate_remaining, Some(0));
    }
}

#[tokio::test]
async fn redis_script_is_reloaded_after_a_flush() {
    let (store, server) = redis_fixture().await;
    let limits = rate(2.0, 60.0);
    assert_eq!(store.check_limits("fam:f1", &limits, T0).await.unwrap().rate_remaining, Some(1));
    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut raw_connection(&server).await).await.unwrap();
    assert_eq!(store.check_limits("fam:f1", &limits, T0).await.unwrap().rate_remaining, Some(0));
}

#[tokio::test]
async fn redis_dead_server_is_unavailable_quickly_but_no_limits_need_no_server() {
    let (store, server) = redis_fixture().await;
    store.check_limits("fam:f1", &rate(1.0, 1.0), T0).await.unwrap();
    server.freeze();
    // No round trip at all without limits.
    let unlimited = timeout(
        Duration::from_millis(100),
        store.check_limits("fam:f1", &Limits { rate: None, quota: None }, T0),
    )
    .await
    .expect("no limits must not wait for Redis");
    assert_eq!(unlimited.unwrap().refused_by, None);
    let checked = timeout(Duration::from_secs(3), store.check_limits("fam:f1", &rate(1.0, 1.0), T0))
        .await
        .expect("a dead Redis must turn into an error, not a hang");
    assert!(matches!(checked, Err(StoreError::Unavailable(_))), "{checked:?}");
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[tokio::test]
async fn redis_agrees_with_memory_over_a_long_run() {
    let (redis, _server) = redis_fixture().await;
    let memory = MemoryTokenStore::new();
    // Quota periods far longer than the run: they run by each store's own clock.
    let limits = [
        rate(10.0, 60.0),
        rate(3.0, 1.0),
        rate(2.5, 1.0),
        rate(0.7, 1.0),
        rate(1_000.0, 1.0),
        rate(7.0, 0.3),
        both(5.0, 1.0, 60, 3_600),
        quota(40, 600),
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut now = T0;
    let mut seen = [0usize; 3];
    for step in 0..3_000 {
        // Mostly bursts at one instant, sometimes a pause of up to 2 s.
        now += match random.below(4) {
            0 => random.below(2_000),
            1 => random.below(20),
            _ => 0,
        };
        let subject = random.below(limits.len() as u64 + 1) as usize;
        // The last subject's limit changes from request to request.
        let limit = limits.get(subject).copied().unwrap_or_else(|| limits[random.below(7) as usize]);
        let subject = format!("fam:{subject}");
        let from_redis = redis.check_limits(&subject, &limit, now).await.unwrap();
        let from_memory = memory.check_limits(&subject, &limit, now).await.unwrap();
        let quota_resets = (from_redis.quota_reset_ms, from_memory.quota_reset_ms);
        let without_quota_reset = |o: LimitOutcome| LimitOutcome { quota_reset_ms: None, ..o };
        assert_eq!(
            without_quota_reset(from_redis),
            without_quota_reset(from_memory),
            "step {step}, {limit:?}"
        );
        seen[match from_memory.refused_by {
            None => 0,
            Some(LimitKind::Rate) => 1,
            Some(LimitKind::Quota) => 2,
        }] += 1;
        if let (Some(a), Some(b)) = quota_resets {
            assert!(a.abs_diff(b) < 1_000, "step {step}: quota resets {a} and {b}");
        }
    }
    // The run went through every kind of answer, many times.
    assert!(seen.iter().all(|n| *n > 100), "allowed, refused by rate, by quota: {seen:?}");
}
