//! The contract every `StateStore` meets, run against each implementation, plus the
//! durability and failure checks of the file store.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use gatehouse_model::{Api, Change, Client, ClientKey, ConfigState, SecretHash};
use gatehouse_store::{AnyStateStore, FileStateStore, MemoryStateStore, StateStore, StoreError};

fn api(id: &str) -> Api {
    Api {
        api_id: id.into(),
        name: format!("API {id}"),
        listen_path: format!("/{id}/"),
        strip_listen_path: true,
        upstream: "http://127.0.0.1:9000/base".parse().unwrap(),
        oauth: None,
    }
}

fn client(api_id: &str, id: &str) -> Client {
    Client {
        client_id: id.into(),
        api_id: api_id.into(),
        client_name: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        policy_id: "gold".into(),
        meta_data: [("tier".to_owned(), "1".to_owned())].into(),
        description: String::new(),
        secret_hash: Some(SecretHash::Sha256([3; 32])),
    }
}

/// The same three changes, for any store.
async fn commit_three(s: &impl StateStore) -> ConfigState {
    assert_eq!(s.commit(&Change::ApiPut(api("orders"))).await.unwrap(), 1);
    assert_eq!(s.commit(&Change::ClientPut(client("orders", "c1"))).await.unwrap(), 2);
    assert_eq!(s.commit(&Change::ApiPut(api("users"))).await.unwrap(), 3);
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
        assert_eq!(s.commit(&Change::ClientDeleted(key)).await.unwrap(), 4);
        assert_eq!(s.commit(&Change::ApiDeleted { api_id: "users".into() }).await.unwrap(), 5);
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 5);
        assert_eq!(state.apis.keys().collect::<Vec<_>>(), ["orders"]);
        assert!(state.clients.is_empty());
    }

    pub async fn commit_before_load_starts_from_fresh(s: &impl StateStore) {
        assert_eq!(s.commit(&Change::ApiPut(api("a"))).await.unwrap(), 1);
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 1);
        assert!(state.apis.contains_key("a"));
    }

    pub async fn concurrent_commits_get_distinct_revisions<S: StateStore>(s: S) {
        let s = Arc::new(s);
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let s = Arc::clone(&s);
                tokio::spawn(async move { s.commit(&Change::ApiPut(api(&format!("api{n}")))).await })
            })
            .collect();
        let mut revisions = Vec::new();
        for task in tasks {
            revisions.push(task.await.unwrap().unwrap());
        }
        revisions.sort_unstable();
        assert_eq!(revisions, (1..=20).collect::<Vec<u64>>());
        let state = s.load().await.unwrap();
        assert_eq!(state.revision, 20);
        assert_eq!(state.apis.len(), 20);
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

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_commits_get_distinct_revisions() {
                let (store, _guard) = $fixture.await;
                cases::concurrent_commits_get_distinct_revisions(store).await;
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
    assert_eq!(store.commit(&Change::ApiDeleted { api_id: "users".into() }).await.unwrap(), 4);
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
    for result in [store.load().await.map(|_| ()), store.commit(&Change::ApiPut(api("a"))).await.map(|_| ())]
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
    let result = store.commit(&Change::ApiPut(api("lost"))).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert_eq!(store.load().await.unwrap(), before);

    unblock_temp_file(tmp.path());
    assert_eq!(store.commit(&Change::ApiPut(api("kept"))).await.unwrap(), 4);
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
