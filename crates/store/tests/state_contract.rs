//! The contract every `StateStore` meets, run against each implementation (Redis included, on
//! a private `redis-server` per test), plus the durability and failure checks of the file
//! store. Checks only Redis needs (replicas, the change log) are in `state_redis.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::test_util::ApiBuilder;
use gatehouse_model::{Api, Change, Client, ClientKey, ConfigState, RedirectUris, SecretHash};
use gatehouse_store::{AnyStateStore, FileStateStore, MemoryStateStore, RedisStateStore};
use support::RedisServer;

fn api(id: &str) -> Api {
    ApiBuilder::new(id).name(format!("API {id}")).upstream("http://127.0.0.1:9000/base").build()
}

fn client(api_id: &str, id: &str) -> Client {
    Client {
        client_id: id.into(),
        api_id: api_id.into(),
        client_name: "app".into(),
        redirect_uris: RedirectUris::one("https://app.example/cb"),
        policy_id: "gold".into(),
        meta_data: [("tier".to_owned(), "1".to_owned())].into(),
        description: String::new(),
        secret_hash: Some(SecretHash::Sha256([3; 32])),
    }
}

/// The same three changes, for any store.
async fn commit_three(s: &impl StateStore) -> ConfigState {
    assert_eq!(s.commit(0, &Change::ApiPut(api("orders"))).await.unwrap(), 1);
    assert_eq!(s.commit(1, &Change::ClientPut(client("orders", "c1"))).await.unwrap(), 2);
    assert_eq!(s.commit(2, &Change::ApiPut(api("users"))).await.unwrap(), 3);
    s.load().await.unwrap()
}

mod cases {
    use super::*;

    pub async fn first_load_is_fresh(s: &impl StateStore) {
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 0);
        assert_eq!(state.store_id.len(), 32);
        assert!(state.store_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(state.token_key, [0u8; 32]);
        assert!(state.apis.is_empty() && state.clients.is_empty());
        // Drawn once, not on every load.
        assert_eq!(s.load().await.unwrap(), state);
    }

    pub async fn commits_advance_the_revision(s: &impl StateStore) {
        let fresh = s.load().await.unwrap();
        let state = commit_three(s).await;
        assert_eq!(state.revision, 3);
        assert_eq!(state.store_id, fresh.store_id);
        assert_eq!(state.token_key, fresh.token_key);
        assert_eq!(state.apis.keys().collect::<Vec<_>>(), ["orders", "users"]);
        assert_eq!(state.client("orders", "c1"), Some(&client("orders", "c1")));

        let key = ClientKey { api_id: "orders".into(), client_id: "c1".into() };
        assert_eq!(s.commit(3, &Change::ClientDeleted(key)).await.unwrap(), 4);
        assert_eq!(s.commit(4, &Change::ApiDeleted { api_id: "users".into() }).await.unwrap(), 5);
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 5);
        assert_eq!(state.apis.keys().collect::<Vec<_>>(), ["orders"]);
        assert!(state.clients.is_empty());
    }

    pub async fn commit_before_load_starts_from_fresh(s: &impl StateStore) {
        assert_eq!(s.commit(0, &Change::ApiPut(api("a"))).await.unwrap(), 1);
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 1);
        assert!(state.apis.contains_key("a"));
    }

    pub async fn stale_commit_conflicts_and_changes_nothing(s: &impl StateStore) {
        // Before anything is stored, the store is at 0.
        let result = s.commit(5, &Change::ApiPut(api("early"))).await;
        assert!(matches!(result, Err(StoreError::Conflict { current: 0 })), "{result:?}");
        assert_eq!(s.load().await.unwrap().revision, 0);

        let before = commit_three(s).await;
        for expected in [0, 2, 4, u64::MAX] {
            let result = s.commit(expected, &Change::ApiPut(api("stale"))).await;
            assert!(matches!(result, Err(StoreError::Conflict { current: 3 })), "{expected}: {result:?}");
            assert_eq!(s.load().await.unwrap(), before);
        }
        assert_eq!(s.commit(3, &Change::ApiPut(api("fresh"))).await.unwrap(), 4);
        let after = s.load().await.unwrap();
        assert!(after.apis.contains_key("fresh") && !after.apis.contains_key("stale"));
    }

    pub async fn racing_commits_from_one_revision_have_one_winner<S: StateStore>(s: S) {
        let s = Arc::new(s);
        s.load().await.unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|n| {
                let s = Arc::clone(&s);
                tokio::spawn(async move { (n, s.commit(0, &Change::ApiPut(api(&format!("api{n}")))).await) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (n, Ok(1)) => winners.push(format!("api{n}")),
                (_, Err(StoreError::Conflict { current: 1 })) => {}
                (n, other) => panic!("racer {n}: {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 1);
        assert_eq!(state.apis.keys().collect::<Vec<_>>(), [&winners[0]]);
    }

    /// Each writer reloads and retries after a conflict, as the control plane does.
    pub async fn concurrent_commits_with_retry_get_distinct_revisions<S: StateStore>(s: S) {
        let s = Arc::new(s);
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let change = Change::ApiPut(api(&format!("api{n}")));
                    loop {
                        let seen = s.load().await.unwrap().revision;
                        match s.commit(seen, &change).await {
                            Ok(revision) => return revision,
                            Err(StoreError::Conflict { current }) => assert!(current > seen),
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut revisions = Vec::new();
        for task in tasks {
            revisions.push(task.await.unwrap());
        }
        revisions.sort_unstable();
        assert_eq!(revisions, (1..=20).collect::<Vec<u64>>());
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 20);
        assert_eq!(state.apis.len(), 20);
    }

    /// A single-writer store keeps no log and says so; a shared one replays every commit.
    pub async fn changes_after_matches_is_shared(s: &impl StateStore) {
        let state = commit_three(s).await;
        let result = s.changes_after(1, Duration::from_millis(100)).await;
        if !s.is_shared() {
            assert!(matches!(result, Err(StoreError::Truncated(1))), "{result:?}");
            return;
        }
        let changes = result.unwrap();
        assert_eq!(changes.iter().map(|(r, _)| *r).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(changes[1].1, Change::ApiPut(api("users")));
        let mut replayed = s.changes_after(0, Duration::ZERO).await.unwrap();
        assert_eq!(replayed.len(), 3);
        assert_eq!(replayed.remove(0), (1, Change::ApiPut(api("orders"))));
        assert!(s.changes_after(state.revision, Duration::ZERO).await.unwrap().is_empty());
    }
}

/// One test per case for a store built by `$fixture`, an async block returning
/// `(store, guard)`; the guard lives until the test ends.
macro_rules! state_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn first_load_is_fresh() {
                let (store, _guard) = $fixture.await;
                cases::first_load_is_fresh(&store).await;
            }

            #[tokio::test]
            async fn commits_advance_the_revision() {
                let (store, _guard) = $fixture.await;
                cases::commits_advance_the_revision(&store).await;
            }

            #[tokio::test]
            async fn commit_before_load_starts_from_fresh() {
                let (store, _guard) = $fixture.await;
                cases::commit_before_load_starts_from_fresh(&store).await;
            }

            #[tokio::test]
            async fn stale_commit_conflicts_and_changes_nothing() {
                let (store, _guard) = $fixture.await;
                cases::stale_commit_conflicts_and_changes_nothing(&store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn racing_commits_from_one_revision_have_one_winner() {
                let (store, _guard) = $fixture.await;
                cases::racing_commits_from_one_revision_have_one_winner(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_commits_with_retry_get_distinct_revisions() {
                let (store, _guard) = $fixture.await;
                cases::concurrent_commits_with_retry_get_distinct_revisions(store).await;
            }

            #[tokio::test]
            async fn changes_after_matches_is_shared() {
                let (store, _guard) = $fixture.await;
                cases::changes_after_matches_is_shared(&store).await;
            }
        }
    };
}

state_contract!(on_memory, async { (MemoryStateStore::new(), ()) });
state_contract!(on_file, async { file_fixture() });
state_contract!(on_any_file, async {
    let (store, dir) = file_fixture();
    (AnyStateStore::File(store), dir)
});
state_contract!(on_redis, redis_fixture());
state_contract!(on_any_redis, async {
    let (store, server) = redis_fixture().await;
    (AnyStateStore::Redis(store), server)
});

async fn redis_fixture() -> (RedisStateStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisStateStore::connect(&server.url()).await.expect("connect to test redis");
    (store, server)
}

fn file_fixture() -> (FileStateStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(dir.path().join("data")).unwrap();
    (store, dir)
}

#[tokio::test]
async fn two_memory_stores_have_different_ids_and_keys() {
    let a = MemoryStateStore::new().load().await.unwrap();
    let b = MemoryStateStore::new().load().await.unwrap();
    assert_ne!(a.store_id, b.store_id);
    assert_ne!(a.token_key, b.token_key);
}

#[tokio::test]
async fn file_state_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let before = {
        let store = FileStateStore::open(tmp.path()).unwrap();
        commit_three(&store).await
    };
    let store = FileStateStore::open(tmp.path()).unwrap();
    assert_eq!(store.load().await.unwrap(), before);
    assert_eq!(store.commit(3, &Change::ApiDeleted { api_id: "users".into() }).await.unwrap(), 4);
}

#[tokio::test]
async fn file_first_load_is_persisted_before_it_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    let fresh = store.load().await.unwrap();
    // Read behind the store's back: the token key must already be on disk.
    let on_disk: ConfigState =
        serde_json::from_slice(&fs::read(tmp.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(on_disk, fresh);
    drop(store);
    assert_eq!(FileStateStore::open(tmp.path()).unwrap().load().await.unwrap(), fresh);
}

#[tokio::test]
async fn file_dir_is_exclusive_while_open() {
    let tmp = tempfile::tempdir().unwrap();
    let first = FileStateStore::open(tmp.path()).unwrap();
    match FileStateStore::open(tmp.path()) {
        Err(StoreError::Unavailable(msg)) => {
            assert!(msg.contains("in use by another process"), "{msg}");
            assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
        }
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("a second store opened a data dir that is in use"),
    }
    drop(first);
    FileStateStore::open(tmp.path()).unwrap();
}

#[tokio::test]
async fn file_corrupt_state_is_reported_precisely() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state.json");
    fs::write(&path, "{\n  \"store_id\": \"abc\",\n  \"revision\": oops\n}\n").unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    for result in
        [store.load().await.map(|_| ()), store.commit(0, &Change::ApiPut(api("a"))).await.map(|_| ())]
    {
        match result {
            Err(StoreError::Corrupt(msg)) => {
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains("line 3 column"), "{msg}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    // Never silently reset: the damaged file is left for the operator.
    assert!(fs::read_to_string(&path).unwrap().contains("oops"));
}

/// Running as root, permissions do not stop writes; a directory where the temporary file
/// should go does.
fn block_temp_file(dir: &Path) {
    fs::create_dir(dir.join("state.json.tmp")).unwrap();
}

fn unblock_temp_file(dir: &Path) {
    fs::remove_dir(dir.join("state.json.tmp")).unwrap();
}

#[tokio::test]
async fn file_failed_commit_does_not_advance() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    let before = commit_three(&store).await;

    block_temp_file(tmp.path());
    let result = store.commit(3, &Change::ApiPut(api("lost"))).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert_eq!(store.load().await.unwrap(), before);

    unblock_temp_file(tmp.path());
    assert_eq!(store.commit(3, &Change::ApiPut(api("kept"))).await.unwrap(), 4);
    drop(store);
    let state = FileStateStore::open(tmp.path()).unwrap().load().await.unwrap();
    assert_eq!(state.revision, 4);
    assert!(state.apis.contains_key("kept") && !state.apis.contains_key("lost"));
}

#[tokio::test]
async fn file_failed_first_write_returns_no_state() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStateStore::open(tmp.path()).unwrap();
    block_temp_file(tmp.path());
    // A token key that was never persisted must not be handed out.
    assert!(matches!(store.load().await, Err(StoreError::Unavailable(_))));
    assert!(!tmp.path().join("state.json").exists());

    unblock_temp_file(tmp.path());
    let fresh = store.load().await.unwrap();
    drop(store);
    assert_eq!(FileStateStore::open(tmp.path()).unwrap().load().await.unwrap(), fresh);
}
