//! The contract every `AnalyticsStore` meets, run against memory and a real redis-server, plus
//! the Redis key layout and behaviour with the server gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::storage::{AnalyticsStore, MinuteAggregate, StoreError};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use support::grants::redis_fixture;

/// A minute a day ago: recent, since the memory store drops minutes past the retention by its
/// own clock, as Redis expires them.
fn minute_a_day_ago() -> u64 {
    gatehouse_model::clock::unix_seconds() / 60 - 24 * 60
}

fn agg(client: &str, api: &str, minute: u64, hits: u64, errors: u64, latency: u64) -> MinuteAggregate {
    MinuteAggregate {
        client_id: client.into(),
        api_id: api.into(),
        minute,
        hits,
        success: hits - errors,
        errors,
        latency_ms_total: latency,
        ..MinuteAggregate::default()
    }
}

mod cases {
    use super::*;

    pub async fn batches_add_up(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        s.record(&[agg("c1", "orders", m0, 3, 1, 30), agg("c1", "orders", m0 + 1, 1, 0, 5)]).await.unwrap();
        s.record(&[agg("c1", "orders", m0, 2, 2, 20)]).await.unwrap();
        let read = s.read("c1", m0, m0 + 1).await.unwrap();
        assert_eq!(read, vec![agg("c1", "orders", m0, 5, 3, 50), agg("c1", "orders", m0 + 1, 1, 0, 5)]);
    }

    pub async fn apis_are_kept_apart_in_order(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        s.record(&[agg("c1", "zeta", m0, 1, 0, 1), agg("c1", "alpha", m0, 2, 0, 2)]).await.unwrap();
        let read = s.read("c1", m0, m0).await.unwrap();
        assert_eq!(read, vec![agg("c1", "alpha", m0, 2, 0, 2), agg("c1", "zeta", m0, 1, 0, 1)]);
    }

    /// Method, path, status and policy each make a separate endpoint, read back in the
    /// Dashboard's order (path, then method, then status, then policy).
    pub async fn endpoints_are_kept_apart_in_order(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        let at = |path: &str, method: &str, status: u16, policy: &str| MinuteAggregate {
            path: path.into(),
            method: method.into(),
            status,
            policy_id: policy.into(),
            ..agg("c1", "orders", m0, 1, u64::from(status >= 400), 3)
        };
        let written = vec![
            at("/b", "GET", 200, "p"),
            at("/a", "POST", 201, "p"),
            at("/a", "GET", 404, "p"),
            at("/a", "GET", 200, "q"),
            at("/a", "GET", 200, "p"),
        ];
        s.record(&written).await.unwrap();
        let mut expected = written;
        expected.reverse();
        assert_eq!(s.read("c1", m0, m0).await.unwrap(), expected);
    }

    pub async fn clients_and_ranges_are_respected(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        s.record(&[
            agg("c1", "a", m0 - 1, 1, 0, 1),
            agg("c1", "a", m0, 1, 0, 1),
            agg("c1", "a", m0 + 2, 1, 0, 1),
            agg("c2", "a", m0, 7, 0, 7),
        ])
        .await
        .unwrap();
        assert_eq!(s.read("c1", m0, m0 + 1).await.unwrap(), vec![agg("c1", "a", m0, 1, 0, 1)]);
        assert_eq!(s.read("c2", m0, m0).await.unwrap(), vec![agg("c2", "a", m0, 7, 0, 7)]);
        assert!(s.read("nobody", m0 - 10, m0 + 10).await.unwrap().is_empty());
        assert!(s.read("c1", m0 + 1, m0).await.unwrap().is_empty(), "from after to");
    }

    pub async fn an_empty_batch_is_fine(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        s.record(&[]).await.unwrap();
        assert!(s.read("c1", m0, m0).await.unwrap().is_empty());
    }

    /// A month-wide read spans more than one pipeline chunk and still finds every minute.
    pub async fn a_month_wide_read(s: &impl AnalyticsStore) {
        let m0 = minute_a_day_ago();
        let far = m0 + 31 * 24 * 60 - 1;
        s.record(&[
            agg("c1", "a", m0, 1, 0, 1),
            agg("c1", "a", m0 + 1500, 1, 0, 1),
            agg("c1", "a", far, 1, 0, 1),
        ])
        .await
        .unwrap();
        let read = s.read("c1", m0, far).await.unwrap();
        assert_eq!(read.iter().map(|a| a.minute).collect::<Vec<_>>(), [m0, m0 + 1500, far]);
        // Wider than the retention: cut to the last 31 days, which drops the oldest minute.
        let read = s.read("c1", 0, far + 1).await.unwrap();
        assert_eq!(read.iter().map(|a| a.minute).collect::<Vec<_>>(), [m0 + 1500, far]);
    }

    /// Concurrent batches from several gateways lose nothing.
    pub async fn concurrent_batches_all_count<S: AnalyticsStore + Clone>(s: &S) {
        let m0 = minute_a_day_ago();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let s = s.clone();
            tasks.spawn(async move { s.record(&[agg("c1", "a", m0, 2, 1, 3)]).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(s.read("c1", m0, m0).await.unwrap(), vec![agg("c1", "a", m0, 20, 10, 30)]);
    }
}

macro_rules! analytics_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            analytics_contract!(@cases $fixture; batches_add_up, apis_are_kept_apart_in_order,
                endpoints_are_kept_apart_in_order,
                clients_and_ranges_are_respected, an_empty_batch_is_fine, a_month_wide_read,
                concurrent_batches_all_count);
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

analytics_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
analytics_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
analytics_contract!(on_redis, async { redis_fixture().await });
analytics_contract!(on_any_redis, async {
    let (store, server) = redis_fixture().await;
    (AnyTokenStore::redis(store), server)
});

/// The documented key layout, hash tag on the client, with an expiry: other tools (and the
/// Redis Cluster slot of every key a read touches) depend on it.
#[tokio::test]
async fn redis_keys_are_tagged_by_client_and_expire() {
    let m0 = minute_a_day_ago();
    let (store, server) = redis_fixture().await;
    let aggregate = MinuteAggregate {
        policy_id: "gold".into(),
        method: "GET".into(),
        path: "/items".into(),
        status: 404,
        ..agg("c1", "orders", m0, 3, 1, 30)
    };
    store.record(&[aggregate]).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("gh:an:{{c1}}:{}", m0);
    let hits: u64 = redis::cmd("HGET").arg(&key).arg("hits").query_async(&mut conn).await.unwrap();
    let api_errors: u64 = redis::cmd("HGET")
        .arg(&key)
        .arg("ep\torders\tgold\tGET\t404\t/items\terror")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!((hits, api_errors), (3, 1));
    assert!(ttl > 30 * 24 * 3600 && ttl <= 31 * 24 * 3600, "ttl {ttl}");
}

#[tokio::test]
async fn a_dead_redis_is_an_error_not_a_hang() {
    let m0 = minute_a_day_ago();
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.unwrap();
    drop(server);
    let outcome =
        tokio::time::timeout(Duration::from_secs(5), store.record(&[agg("c", "a", m0, 1, 0, 1)])).await;
    assert!(matches!(outcome, Ok(Err(StoreError::Unavailable(_)))), "{outcome:?}");
    let outcome = tokio::time::timeout(Duration::from_secs(5), store.read("c", m0, m0)).await;
    assert!(matches!(outcome, Ok(Err(StoreError::Unavailable(_)))), "{outcome:?}");
}
