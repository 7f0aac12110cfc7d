//! The contract every `TokenStore` meets, run against each implementation, plus the checks that
//! only make sense for Redis (key layout, behaviour when the server is gone).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::Session;
use gatehouse_model::storage::{SessionStore, StoreError, TokenKey};
use gatehouse_model::test_util::SessionBuilder;
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use tokio::time::timeout;

/// A dead Redis must turn into an error well within this, not a hung request.
const DEAD_REDIS_DEADLINE: Duration = Duration::from_secs(3);
const LONG_TTL: Duration = Duration::from_secs(600);

fn key(n: u8) -> TokenKey {
    let mut k = [0u8; 32];
    k[0] = 0xfe;
    k[31] = n;
    k
}

fn session(client_id: &str) -> Session {
    SessionBuilder::new().client(client_id).meta("tenant", "acme").build()
}

/// The cases, generic over the store.
mod cases {
    use super::*;

    pub async fn round_trip(s: &impl SessionStore) {
        s.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
        assert_eq!(s.get_session(&key(1)).await.unwrap(), Some(session("c1")));
    }

    pub async fn unknown_key_is_none(s: &impl SessionStore) {
        s.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
        assert_eq!(s.get_session(&key(2)).await.unwrap(), None);
    }

    pub async fn expires_after_ttl(s: &impl SessionStore) {
        s.put_session(&key(1), &session("short"), Duration::from_secs(1)).await.unwrap();
        s.put_session(&key(2), &session("long"), LONG_TTL).await.unwrap();
        assert!(s.get_session(&key(1)).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
        assert_eq!(s.get_session(&key(2)).await.unwrap(), Some(session("long")));
    }

    pub async fn zero_ttl_stores_nothing(s: &impl SessionStore) {
        s.put_session(&key(1), &session("c1"), Duration::ZERO).await.unwrap();
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
        // Over an existing entry, a zero TTL ends it rather than making it permanent.
        s.put_session(&key(2), &session("c2"), LONG_TTL).await.unwrap();
        s.put_session(&key(2), &session("c2"), Duration::ZERO).await.unwrap();
        assert_eq!(s.get_session(&key(2)).await.unwrap(), None);
    }

    pub async fn delete_reports_presence(s: &impl SessionStore) {
        s.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
        assert!(s.delete_session(&key(1)).await.unwrap());
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
        assert!(!s.delete_session(&key(1)).await.unwrap());
        assert!(!s.delete_session(&key(9)).await.unwrap());
    }

    pub async fn put_overwrites(s: &impl SessionStore) {
        s.put_session(&key(1), &session("old"), LONG_TTL).await.unwrap();
        s.put_session(&key(1), &session("new"), LONG_TTL).await.unwrap();
        assert_eq!(s.get_session(&key(1)).await.unwrap(), Some(session("new")));
    }

    pub async fn overwrite_replaces_ttl(s: &impl SessionStore) {
        s.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
        s.put_session(&key(1), &session("c1"), Duration::from_millis(300)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
    }

    pub async fn keys_are_independent(s: &impl SessionStore) {
        for n in 0..20 {
            s.put_session(&key(n), &session(&format!("c{n}")), LONG_TTL).await.unwrap();
        }
        assert!(s.delete_session(&key(7)).await.unwrap());
        for n in 0..20 {
            let expected = (n != 7).then(|| session(&format!("c{n}")));
            assert_eq!(s.get_session(&key(n)).await.unwrap(), expected);
        }
    }
}

/// One test per case for a store built by `$fixture`, an async block returning
/// `(store, guard)`; the guard lives until the test ends.
macro_rules! token_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            token_contract!(@cases $fixture;
                round_trip, unknown_key_is_none, expires_after_ttl, zero_ttl_stores_nothing,
                delete_reports_presence, put_overwrites, overwrite_replaces_ttl,
                keys_are_independent);
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

token_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
token_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
token_contract!(on_redis, async { redis_fixture().await });

async fn redis_fixture() -> (RedisTokenStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.expect("connect to test redis");
    (store, server)
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

#[tokio::test]
async fn redis_key_holds_only_the_hex_of_the_token_key() {
    let (store, server) = redis_fixture().await;
    let k: TokenKey = std::array::from_fn(|i| i as u8 * 7);
    store.put_session(&k, &session("client-in-clear"), LONG_TTL).await.unwrap();

    let mut raw = raw_connection(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut raw).await.unwrap();
    let hex = hex::encode(k);
    assert_eq!(keys, vec![format!("gh:at:{{{hex}}}")]);

    let ttl_ms: i64 = redis::cmd("PTTL").arg(&keys[0]).query_async(&mut raw).await.unwrap();
    assert!(ttl_ms > 0 && ttl_ms <= LONG_TTL.as_millis() as i64, "PTTL {ttl_ms}");
}

#[tokio::test]
async fn redis_zero_ttl_leaves_no_key_behind() {
    let (store, server) = redis_fixture().await;
    store.put_session(&key(1), &session("c1"), Duration::ZERO).await.unwrap();
    let mut raw = raw_connection(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut raw).await.unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn redis_undecodable_session_is_corrupt() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    redis::cmd("SET")
        .arg(RedisTokenStore::session_key(&key(1)))
        .arg("{not json")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    match store.get_session(&key(1)).await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("gh:at:{"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
) {
    match result {
        Ok(Err(StoreError::Unavailable(_))) => {}
        Ok(other) => panic!("expected Unavailable, got {other:?}"),
        Err(_) => {
            panic!("no answer within {DEAD_REDIS_DEADLINE:?}: the store hangs on a dead Redis")
        }
    }
}

#[tokio::test]
async fn connect_to_nothing_is_unavailable_quickly() {
    let url = format!("redis://127.0.0.1:{}/", support::free_port());
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, RedisTokenStore::connect(&url)).await);
}

#[tokio::test]
async fn connect_to_a_silent_server_is_unavailable_quickly() {
    // Accepts TCP connections (the kernel completes the handshake) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", listener.local_addr().unwrap());
    let attempt = async {
        let store = RedisTokenStore::connect(&url).await?;
        store.get_session(&key(1)).await
    };
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, attempt).await);
}

#[tokio::test]
async fn killed_redis_is_unavailable_quickly() {
    let (store, server) = redis_fixture().await;
    store.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
    drop(server);
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, store.get_session(&key(1))).await);
    assert_unavailable(
        timeout(DEAD_REDIS_DEADLINE, store.put_session(&key(2), &session("c2"), LONG_TTL)).await,
    );
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, store.delete_session(&key(1))).await);
}

#[tokio::test]
async fn frozen_redis_is_unavailable_quickly() {
    let (store, server) = redis_fixture().await;
    store.put_session(&key(1), &session("c1"), LONG_TTL).await.unwrap();
    server.freeze();
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, store.get_session(&key(1))).await);
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, store.get_session(&key(1))).await);
}

#[tokio::test]
async fn reconnects_after_redis_comes_back() {
    let (store, server) = redis_fixture().await;
    let port = server.port();
    drop(server);
    assert_unavailable(timeout(DEAD_REDIS_DEADLINE, store.get_session(&key(1))).await);
    // A new server on the same port stands in for a restarted Redis.
    let _server = RedisServer::start_on(port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.get_session(&key(1)).await {
            Ok(found) => break assert_eq!(found, None),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("store did not reconnect: {e}"),
        }
    }
}
