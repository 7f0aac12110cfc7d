//! State checks that only make sense for Redis: several replicas on one server, the change log
//! (following, waiting, truncation), key layout, damaged data, a dead server. The contract
//! itself is in `state_contract.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::{Change, ConfigState};
use gatehouse_store::RedisStateStore;
use support::RedisServer;
use tokio::sync::Barrier;
use tokio::time::{sleep, timeout};

/// A dead Redis must turn into an error well within this, not a hung call.
const DEAD_REDIS_DEADLINE: Duration = Duration::from_secs(3);
const LOG_KEY: &str = "gh:{gh-cp}:log";
const REV_KEY: &str = "gh:{gh-cp}:rev";
const STATE_KEY: &str = "gh:{gh-cp}:state";

fn gone(n: usize) -> Change {
    Change::ApiDeleted { api_id: format!("api{n}") }
}

async fn replica(server: &RedisServer) -> RedisStateStore {
    RedisStateStore::connect(&server.url()).await.expect("connect to test redis")
}

/// Two replicas on one fresh server.
async fn two_replicas() -> (RedisStateStore, RedisStateStore, RedisServer) {
    let server = RedisServer::start();
    (replica(&server).await, replica(&server).await, server)
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn raw(server: &RedisServer, cmd: &mut redis::Cmd) -> redis::Value {
    cmd.query_async(&mut raw_connection(server).await).await.unwrap()
}

/// Commits `change` on top of `*seen`, catching up through the log after each conflict.
async fn commit_following(s: &RedisStateStore, seen: &mut u64, change: &Change) -> u64 {
    loop {
        match s.commit(*seen, change).await {
            Ok(revision) => {
                *seen = revision;
                return revision;
            }
            Err(StoreError::Conflict { current }) => {
                let missed = s.changes_after(*seen, Duration::ZERO).await.unwrap();
                *seen = missed.last().map_or(*seen, |(revision, _)| *revision);
                assert!(*seen >= current, "caught up to {seen}, store was at {current}");
            }
            Err(e) => panic!("commit: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_share_one_store_id_and_token_key() {
    let server = RedisServer::start();
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, barrier) = (replica(&server).await, Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.load().await.unwrap()
        }));
    }
    let mut states = Vec::new();
    for task in tasks {
        states.push(task.await.unwrap());
    }
    assert_eq!(states[0].revision, 0);
    assert!(states.iter().all(|s| *s == states[0]), "replicas disagree on the fresh state");
    assert_eq!(replica(&server).await.load().await.unwrap(), states[0]);
}

#[tokio::test]
async fn a_commit_is_seen_by_the_other_replica() {
    let (a, b, _server) = two_replicas().await;
    assert!(a.is_shared());
    assert_eq!(a.commit(0, &gone(1)).await.unwrap(), 1);
    assert_eq!(b.changes_after(0, Duration::ZERO).await.unwrap(), [(1, gone(1))]);
    assert_eq!(b.load().await.unwrap(), a.load().await.unwrap());
}

#[tokio::test]
async fn a_stale_replica_conflicts_then_catches_up() {
    let (a, b, _server) = two_replicas().await;
    let mut b_state: ConfigState = b.load().await.unwrap();
    assert_eq!(a.commit(0, &gone(1)).await.unwrap(), 1);

    let result = b.commit(b_state.revision, &gone(2)).await;
    assert!(matches!(result, Err(StoreError::Conflict { current: 1 })), "{result:?}");
    for (revision, change) in b.changes_after(b_state.revision, Duration::ZERO).await.unwrap() {
        b_state.apply(revision, &change);
    }
    assert_eq!(b_state, a.load().await.unwrap());
    assert_eq!(b.commit(b_state.revision, &gone(2)).await.unwrap(), 2);
    assert_eq!(a.changes_after(1, Duration::ZERO).await.unwrap(), [(2, gone(2))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_from_two_replicas_each_land_once() {
    let (a, b, _server) = two_replicas().await;
    let replicas = [Arc::new(a), Arc::new(b)];
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = Arc::clone(&replicas[n % 2]);
            tokio::spawn(async move { commit_following(&store, &mut 0, &gone(n)).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=20).collect::<Vec<u64>>());

    let log = replicas[1].changes_after(0, Duration::ZERO).await.unwrap();
    assert_eq!(log.iter().map(|(r, _)| *r).collect::<Vec<_>>(), (1..=20).collect::<Vec<u64>>());
    let mut changes: Vec<String> = log.iter().map(|(_, c)| format!("{c:?}")).collect();
    changes.sort();
    changes.dedup();
    assert_eq!(changes.len(), 20, "a change was logged twice");
    assert_eq!(replicas[0].load().await.unwrap().revision, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_after_returns_as_soon_as_another_replica_commits() {
    let (a, b, _server) = two_replicas().await;
    b.load().await.unwrap();
    let waiter = b.clone();
    let started = Instant::now();
    let waiting = tokio::spawn(async move { waiter.changes_after(0, Duration::from_secs(5)).await });

    // The wait has its own connection: the replica's other calls do not queue behind it.
    sleep(Duration::from_millis(100)).await;
    let load_started = Instant::now();
    b.load().await.unwrap();
    assert!(load_started.elapsed() < Duration::from_millis(500), "load stalled behind the wait");

    sleep(Duration::from_millis(200).saturating_sub(started.elapsed())).await;
    a.commit(0, &gone(1)).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), [(1, gone(1))]);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn changes_after_waits_up_to_wait_when_nothing_happens() {
    let (a, _b, _server) = two_replicas().await;
    a.commit(0, &gone(1)).await.unwrap();
    let started = Instant::now();
    assert!(a.changes_after(1, Duration::from_millis(300)).await.unwrap().is_empty());
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1300), "{elapsed:?}");
    // A caller behind the head gets its changes at once, whatever the wait.
    let started = Instant::now();
    assert_eq!(a.changes_after(0, Duration::from_secs(5)).await.unwrap(), [(1, gone(1))]);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn the_log_keeps_the_last_1024_revisions() {
    let (a, b, server) = two_replicas().await;
    let mut seen = 0;
    for n in 0..1030 {
        commit_following(&a, &mut seen, &gone(n)).await;
    }
    assert_eq!(RedisStateStore::LOG_LEN, 1024);
    assert_eq!(raw(&server, redis::cmd("XLEN").arg(LOG_KEY)).await, redis::Value::Int(1024));
    // Revisions 7..=1030 are kept: 6 is the oldest point to catch up from.
    let kept = b.changes_after(6, Duration::ZERO).await.unwrap();
    assert_eq!(kept.len(), 1024);
    assert_eq!((kept[0].0, kept[1023].0), (7, 1030));
    for revision in [0, 1, 5] {
        let result = b.changes_after(revision, Duration::from_secs(5)).await;
        assert!(matches!(result, Err(StoreError::Truncated(r)) if r == revision), "{revision}: {result:?}");
    }
    assert!(b.changes_after(1030, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test]
async fn keys_are_the_documented_ones_and_never_expire() {
    let (a, b, server) = two_replicas().await;
    let mut seen = 0;
    commit_following(&a, &mut seen, &gone(1)).await;
    commit_following(&b, &mut seen, &gone(2)).await;
    b.changes_after(0, Duration::from_millis(10)).await.unwrap();
    b.changes_after(2, Duration::from_millis(10)).await.unwrap();

    let mut conn = raw_connection(&server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    keys.sort();
    assert_eq!(keys, [LOG_KEY, REV_KEY, STATE_KEY]);
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert_eq!(ttl, -1, "{key} expires");
    }
    let state = a.load().await.unwrap();
    let rev: String = redis::cmd("GET").arg(REV_KEY).query_async(&mut conn).await.unwrap();
    assert_eq!(rev, format!("2:{}", state.store_id));
    let json: Vec<u8> = redis::cmd("GET").arg(STATE_KEY).query_async(&mut conn).await.unwrap();
    assert_eq!(serde_json::from_slice::<ConfigState>(&json).unwrap(), state);
}

#[tokio::test]
async fn a_wiped_redis_is_a_new_store() {
    let (a, b, server) = two_replicas().await;
    let old = a.load().await.unwrap();
    let mut seen = 0;
    for n in 0..3 {
        commit_following(&a, &mut seen, &gone(n)).await;
    }
    raw(&server, &mut redis::cmd("FLUSHALL")).await;

    let new = b.load().await.unwrap();
    assert_eq!(new.revision, 0);
    assert_ne!(new.store_id, old.store_id);
    assert_ne!(new.token_key, old.token_key);
    let result = a.commit(3, &gone(9)).await;
    assert!(matches!(result, Err(StoreError::Conflict { current: 0 })), "{result:?}");
    let result = a.changes_after(3, Duration::from_secs(5)).await;
    assert!(matches!(result, Err(StoreError::Truncated(3))), "{result:?}");
    assert_eq!(b.load().await.unwrap(), new);
}

#[tokio::test]
async fn damaged_data_is_corrupt() {
    let (a, _b, server) = two_replicas().await;
    a.commit(0, &gone(1)).await.unwrap();
    raw(&server, redis::cmd("XADD").arg(LOG_KEY).arg("2-0").arg("change").arg("{not json")).await;
    let result = a.changes_after(1, Duration::ZERO).await;
    assert!(matches!(&result, Err(StoreError::Corrupt(msg)) if msg.contains(LOG_KEY)), "{result:?}");
    // The log already holds the next id: the commit fails without writing anything.
    let before = a.load().await.unwrap();
    let result = a.commit(1, &gone(2)).await;
    assert!(matches!(&result, Err(StoreError::Corrupt(msg)) if msg.contains(LOG_KEY)), "{result:?}");
    assert_eq!(a.load().await.unwrap(), before);

    raw(&server, redis::cmd("DEL").arg(REV_KEY)).await;
    let result = a.commit(1, &gone(2)).await;
    assert!(matches!(&result, Err(StoreError::Corrupt(msg)) if msg.contains(REV_KEY)), "{result:?}");

    raw(&server, redis::cmd("SET").arg(STATE_KEY).arg("{not json")).await;
    for result in [a.load().await.map(drop), a.commit(1, &gone(2)).await.map(drop)] {
        assert!(matches!(&result, Err(StoreError::Corrupt(msg)) if msg.contains(STATE_KEY)), "{result:?}");
    }
    // Never silently reset.
    let kept = raw(&server, redis::cmd("GET").arg(STATE_KEY)).await;
    assert_eq!(kept, redis::Value::BulkString(b"{not json".to_vec()));
}

#[tokio::test]
async fn scripts_are_reloaded_after_a_flush() {
    let (a, _b, server) = two_replicas().await;
    a.commit(0, &gone(1)).await.unwrap();
    raw(&server, redis::cmd("SCRIPT").arg("FLUSH")).await;
    assert_eq!(a.commit(1, &gone(2)).await.unwrap(), 2);
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
async fn a_killed_redis_is_unavailable() {
    let (a, _b, server) = two_replicas().await;
    a.commit(0, &gone(1)).await.unwrap();
    drop(server);
    let d = DEAD_REDIS_DEADLINE;
    assert_unavailable(timeout(d, a.load()).await);
    assert_unavailable(timeout(d, a.commit(1, &gone(2))).await);
    assert_unavailable(timeout(d, a.changes_after(1, Duration::from_secs(30))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_frozen_during_a_wait_is_unavailable_soon_after_the_wait() {
    let (a, _b, server) = two_replicas().await;
    a.load().await.unwrap();
    let waiter = a.clone();
    let started = Instant::now();
    let waiting = tokio::spawn(async move { waiter.changes_after(0, Duration::from_millis(500)).await });
    sleep(Duration::from_millis(100)).await;
    server.freeze();
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, waiting).await.map(|joined| joined.unwrap()));
    // Reported by the blocked read itself, once its wait and the response timeout ran out.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(500) && elapsed < DEAD_REDIS_DEADLINE, "{elapsed:?}");
    // And a frozen Redis is reported within the deadline for the other calls too.
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, a.commit(0, &gone(1))).await);
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, a.changes_after(0, Duration::from_secs(30))).await);
}
