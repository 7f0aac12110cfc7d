//! The contract every `FailureStore` meets, run against memory and a real redis-server, plus
//! the Redis key layout (one key per subject, always with a TTL).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::clock::unix_millis as now_ms;
use gatehouse_model::storage::{FailurePolicy, FailureStore};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore};
use support::grants::redis_fixture;

fn policy() -> FailurePolicy {
    FailurePolicy {
        limit: 3,
        window: Duration::from_secs(300),
        lockout: Duration::from_secs(30),
        max_lockout: Duration::from_secs(100),
    }
}

const SECOND: u64 = 1000;

mod cases {
    use super::*;

    pub async fn below_the_limit_nothing_is_locked(s: &impl FailureStore) {
        let now = now_ms();
        assert_eq!(s.lockout("a", now).await.unwrap(), None);
        assert_eq!(s.record_failure("a", &policy(), now).await.unwrap(), None);
        assert_eq!(s.record_failure("a", &policy(), now).await.unwrap(), None);
        assert_eq!(s.lockout("a", now).await.unwrap(), None);
    }

    pub async fn the_limit_locks_out_and_each_failure_doubles_up_to_the_cap(s: &impl FailureStore) {
        let now = now_ms();
        for _ in 0..2 {
            s.record_failure("a", &policy(), now).await.unwrap();
        }
        assert_eq!(s.record_failure("a", &policy(), now).await.unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(s.lockout("a", now).await.unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(s.lockout("a", now + 10 * SECOND).await.unwrap(), Some(Duration::from_secs(20)));
        assert_eq!(s.lockout("a", now + 30 * SECOND).await.unwrap(), None);
        // A failure after the lockout ended doubles it, counted from then.
        let later = now + 31 * SECOND;
        assert_eq!(s.record_failure("a", &policy(), later).await.unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(s.lockout("a", later).await.unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(s.record_failure("a", &policy(), later).await.unwrap(), Some(Duration::from_secs(100)));
        assert_eq!(s.record_failure("a", &policy(), later).await.unwrap(), Some(Duration::from_secs(100)));
    }

    pub async fn subjects_are_counted_apart(s: &impl FailureStore) {
        let now = now_ms();
        for _ in 0..3 {
            s.record_failure("a", &policy(), now).await.unwrap();
        }
        assert!(s.lockout("a", now).await.unwrap().is_some());
        assert_eq!(s.lockout("b", now).await.unwrap(), None);
        assert_eq!(s.record_failure("b", &policy(), now).await.unwrap(), None);
    }

    pub async fn the_count_ends_with_its_window(s: &impl FailureStore) {
        let short = FailurePolicy { window: Duration::from_millis(300), ..policy() };
        let now = now_ms();
        s.record_failure("a", &short, now).await.unwrap();
        s.record_failure("a", &short, now).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        // A new window: two more failures are still below the limit of three.
        assert_eq!(s.record_failure("a", &short, now_ms()).await.unwrap(), None);
        assert_eq!(s.record_failure("a", &short, now_ms()).await.unwrap(), None);
    }

    pub async fn a_zero_limit_never_locks(s: &impl FailureStore) {
        let off = FailurePolicy { limit: 0, ..policy() };
        let now = now_ms();
        for _ in 0..20 {
            assert_eq!(s.record_failure("a", &off, now).await.unwrap(), None);
        }
        assert_eq!(s.lockout("a", now).await.unwrap(), None);
    }

    pub async fn concurrent_failures_all_count<S: FailureStore + Clone>(s: &S) {
        let now = now_ms();
        let many = FailurePolicy { limit: 40, ..policy() };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..39 {
            let s = s.clone();
            tasks.spawn(async move { s.record_failure("a", &many, now).await.unwrap() });
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.unwrap(), None);
        }
        assert_eq!(s.record_failure("a", &many, now).await.unwrap(), Some(Duration::from_secs(30)));
    }
}

macro_rules! throttle_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            throttle_contract!(@cases $fixture; below_the_limit_nothing_is_locked,
                the_limit_locks_out_and_each_failure_doubles_up_to_the_cap, subjects_are_counted_apart,
                the_count_ends_with_its_window,
                a_zero_limit_never_locks, concurrent_failures_all_count);
        }
    };
    (@cases $fixture:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $fixture.await;
                cases::$case(&store).await;
            }
        )*
    };
}

throttle_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
throttle_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
throttle_contract!(on_redis, async { redis_fixture().await });
throttle_contract!(on_any_redis, async {
    let (store, server) = redis_fixture().await;
    (AnyTokenStore::redis(store), server)
});

/// One key per subject, hash-tagged on it, never without a TTL: the lockout's plus a window.
#[tokio::test]
async fn redis_keys_are_tagged_by_subject_and_expire() {
    let (store, server) = redis_fixture().await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = RedisTokenStore::failure_key("s1");
    assert_eq!(key, "gh:{fail:s1}");
    store.record_failure("s1", &policy(), now_ms()).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl > 290_000 && ttl <= 300_000, "ttl {ttl}");
    for _ in 0..4 {
        store.record_failure("s1", &policy(), now_ms()).await.unwrap();
    }
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    // The last lockout (capped at 100 s) plus a window.
    assert!(ttl > 390_000 && ttl <= 400_000, "ttl {ttl}");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert_eq!(keys, vec![key]);
}
