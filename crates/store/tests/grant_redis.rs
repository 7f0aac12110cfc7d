//! Grant checks that only make sense for Redis: key layout and expiry, corrupt records, script
//! reloading, several connections racing, a dead server. The contract itself is in
//! `grant_contract.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::Taken;
use gatehouse_model::storage::{GrantStore, StoreError};
use gatehouse_store::RedisTokenStore;
use support::RedisServer;
use support::grants::*;
use tokio::sync::Barrier;
use tokio::time::timeout;

/// A dead Redis must turn into an error well within this, not a hung request.
const DEAD_REDIS_DEADLINE: Duration = Duration::from_secs(3);

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn all_keys(raw: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap();
    keys.sort();
    keys
}

async fn raw_set(raw: &mut redis::aio::MultiplexedConnection, key: &str, value: &str) {
    redis::cmd("SET").arg(key).arg(value).arg("PX").arg(60_000).query_async::<()>(raw).await.unwrap();
}

#[tokio::test]
async fn redis_keys_have_the_documented_forms_and_all_expire() {
    let (store, server) = redis_fixture().await;
    live_pair(&store, "fam-live", &key(1), &key(2)).await;
    store.put_code(&key(3), &code("c1"), LONG_TTL).await.unwrap();
    store.put_code(&key(4), &code("c1"), LONG_TTL).await.unwrap();
    assert!(matches!(store.redeem_code(&key(4), "fam-4", LONG_TTL).await.unwrap(), Taken::Fresh(_)));
    store.put_refresh(&key(5), &grant("fam-5", &key(9)), LONG_TTL).await.unwrap();
    assert!(matches!(store.use_refresh(&key(5), LONG_TTL).await.unwrap(), Taken::Fresh(_)));
    store.revoke_family("fam-gone", LONG_TTL).await.unwrap();
    store.set_family("fam-zero", &members(&key(6), None), Duration::ZERO).await.unwrap();

    let mut raw = raw_connection(&server).await;
    let mut expected = vec![
        format!("gh:at:{{{}}}", hex(&key(1))),
        format!("gh:rt:{{{}}}", hex(&key(2))),
        "gh:fam:{fam-live}".to_owned(),
        format!("gh:code:{{{}}}", hex(&key(3))),
        format!("gh:code:{{{}}}", hex(&key(4))),
        format!("gh:rt:{{{}}}", hex(&key(5))),
        "gh:famrev:{fam-gone}".to_owned(),
    ];
    expected.sort();
    let keys = all_keys(&mut raw).await;
    assert_eq!(keys, expected);
    for k in &keys {
        let ttl_ms: i64 = redis::cmd("PTTL").arg(k).query_async(&mut raw).await.unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= LONG_TTL.as_millis() as i64, "{k}: PTTL {ttl_ms}");
    }
}

#[tokio::test]
async fn redis_zero_replay_window_leaves_no_key() {
    let (store, server) = redis_fixture().await;
    store.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
    store.put_refresh(&key(2), &grant("fam-2", &key(9)), LONG_TTL).await.unwrap();
    assert!(matches!(store.redeem_code(&key(1), "fam-1", Duration::ZERO).await.unwrap(), Taken::Fresh(_)));
    assert!(matches!(store.use_refresh(&key(2), Duration::ZERO).await.unwrap(), Taken::Fresh(_)));
    let keys = all_keys(&mut raw_connection(&server).await).await;
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_one_winner_across_gateways() {
    // Each racer has its own connection, as separate gateway processes would.
    let server = RedisServer::start();
    let mut stores = Vec::new();
    for _ in 0..RACERS {
        stores.push(RedisTokenStore::connect(&server.url()).await.unwrap());
    }
    stores[0].put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = stores
        .into_iter()
        .map(|s| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                s.redeem_code(&key(1), "fam", LONG_TTL).await.unwrap()
            })
        })
        .collect();
    let mut fresh = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Taken::Fresh(_) => fresh += 1,
            Taken::Replayed { family_id } => assert_eq!(family_id, "fam"),
            Taken::Missing => panic!("a racer found the code missing"),
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn redis_script_is_reloaded_after_a_flush() {
    let (store, server) = redis_fixture().await;
    store.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
    store.put_code(&key(2), &code("c2"), LONG_TTL).await.unwrap();
    assert!(matches!(store.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Fresh(_)));
    // What a restarted Redis looks like to a client whose connection survived: no scripts.
    let mut raw = raw_connection(&server).await;
    redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut raw).await.unwrap();
    assert_eq!(store.redeem_code(&key(2), "fam-2", WINDOW).await.unwrap(), Taken::Fresh(code("c2")));
}

#[tokio::test]
async fn redis_undecodable_grants_are_corrupt() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    let code_key = RedisTokenStore::code_key(&key(1));
    raw_set(&mut raw, &code_key, "{not json").await;
    match store.redeem_code(&key(1), "fam-1", WINDOW).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains(&code_key), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    raw_set(&mut raw, &RedisTokenStore::refresh_key(&key(2)), "{not json").await;
    assert!(matches!(store.get_refresh(&key(2)).await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.use_refresh(&key(2), WINDOW).await, Err(StoreError::Corrupt(_))));
    // Its family unreadable, it was deleted rather than left to be spent again.
    assert_eq!(store.use_refresh(&key(2), WINDOW).await.unwrap(), Taken::Missing);

    // Lua can read the family, serde cannot read the grant: spent, and replays name the family.
    raw_set(&mut raw, &RedisTokenStore::refresh_key(&key(3)), r#"{"family_id":"fam-3"}"#).await;
    assert!(matches!(store.use_refresh(&key(3), WINDOW).await, Err(StoreError::Corrupt(_))));
    let replayed = Taken::Replayed { family_id: "fam-3".into() };
    assert_eq!(store.use_refresh(&key(3), WINDOW).await.unwrap(), replayed);
}

#[tokio::test]
async fn redis_corrupt_family_record_still_leaves_a_tombstone() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    raw_set(&mut raw, &RedisTokenStore::family_key("fam-1"), "{not json").await;
    assert!(matches!(store.revoke_family("fam-1", LONG_TTL).await, Err(StoreError::Corrupt(_))));
    assert!(store.family_revoked("fam-1").await.unwrap());

    // A record naming something other than a token key must not steer the deletion.
    raw_set(&mut raw, "victim", "precious").await;
    raw_set(
        &mut raw,
        &RedisTokenStore::family_key("fam-2"),
        r#"{"access_key":"x} victim","refresh_key":null}"#,
    )
    .await;
    assert!(matches!(store.revoke_family("fam-2", LONG_TTL).await, Err(StoreError::Corrupt(_))));
    assert!(store.family_revoked("fam-2").await.unwrap());
    let victim: Option<String> = redis::cmd("GET").arg("victim").query_async(&mut raw).await.unwrap();
    assert_eq!(victim.as_deref(), Some("precious"));
}

fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
) {
    match result {
        Ok(Err(StoreError::Unavailable(_))) => {}
        Ok(other) => panic!("expected Unavailable, got {other:?}"),
        Err(_) => panic!("no answer within {DEAD_REDIS_DEADLINE:?}: the store hangs on a dead Redis"),
    }
}

#[tokio::test]
async fn redis_killed_is_unavailable_for_grants() {
    let (store, server) = redis_fixture().await;
    store.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
    drop(server);
    let d = DEAD_REDIS_DEADLINE;
    assert_unavailable(timeout(d, store.redeem_code(&key(1), "fam-1", WINDOW)).await);
    assert_unavailable(timeout(d, store.put_refresh(&key(2), &grant("fam-2", &key(9)), LONG_TTL)).await);
    assert_unavailable(timeout(d, store.use_refresh(&key(2), WINDOW)).await);
    assert_unavailable(timeout(d, store.get_refresh(&key(2))).await);
    assert_unavailable(timeout(d, store.set_family("fam-1", &members(&key(1), None), LONG_TTL)).await);
    assert_unavailable(timeout(d, store.revoke_family("fam-1", LONG_TTL)).await);
    assert_unavailable(timeout(d, store.family_revoked("fam-1")).await);
}
