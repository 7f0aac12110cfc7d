//! Every way a store deletes a session announces it to eviction subscribers, in memory and on
//! a real Redis, and to this process's own hooks before the deletion returns; a Redis subscription survives a server restart and says so with a `Reset`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use gatehouse_model::storage::{
    ClientRef, ClientTokenEntry, ClientTokenIndex, GrantStore, SessionStore, TokenKey,
};
use gatehouse_model::test_util::SessionBuilder;
use gatehouse_model::{FamilyMembers, Session};
use gatehouse_store::{AnyTokenStore, EvictionEvent, Evictions, MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use support::grants::hex;
use tokio::time::timeout;

const LONG_TTL: Duration = Duration::from_secs(600);
/// Generous: a message normally arrives within a millisecond.
const DELIVERY: Duration = Duration::from_secs(5);

fn key(n: u8) -> TokenKey {
    let mut k = [0u8; 32];
    k[0] = 0xe1;
    k[31] = n;
    k
}

fn session() -> Session {
    SessionBuilder::new().expires_at(4_000_000_000).build()
}

async fn next(sub: &mut Evictions) -> EvictionEvent {
    timeout(DELIVERY, sub.recv()).await.expect("an eviction event in time").expect("subscription open")
}

/// A subscription that is live: its first event is the `Reset` saying so.
async fn subscribe(store: &AnyTokenStore) -> Evictions {
    let mut sub = store.evictions();
    assert_eq!(next(&mut sub).await, EvictionEvent::Reset);
    sub
}

/// The contract, for any store.
async fn deletions_are_announced(store: AnyTokenStore) {
    let mut sub = subscribe(&store).await;

    store.put_session(&key(1), &session(), LONG_TTL).await.unwrap();
    assert!(store.delete_session(&key(1)).await.unwrap());
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(1)));

    // A family: its access token is announced, the refresh token (never cached) is not.
    store.put_session(&key(2), &session(), LONG_TTL).await.unwrap();
    let members = FamilyMembers { access_key: hex(&key(2)), refresh_key: Some(hex(&key(3))) };
    store.set_family("fam-1", &members, LONG_TTL).await.unwrap();
    store.revoke_family("fam-1", LONG_TTL).await.unwrap();
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(2)));

    // Revoke-all: a plain access token and a family's access token, in either order.
    let client = ClientRef { api_id: "orders", client_id: "app" };
    store.put_session(&key(4), &session(), LONG_TTL).await.unwrap();
    store.index_client_token(&client, &ClientTokenEntry::Access(key(4)), 4_000_000_000).await.unwrap();
    store.put_session(&key(5), &session(), LONG_TTL).await.unwrap();
    let members = FamilyMembers { access_key: hex(&key(5)), refresh_key: None };
    store.set_family("fam-2", &members, LONG_TTL).await.unwrap();
    store
        .index_client_token(&client, &ClientTokenEntry::Family("fam-2".into()), 4_000_000_000)
        .await
        .unwrap();
    assert_eq!(store.revoke_client_tokens(&client, LONG_TTL).await.unwrap(), 2);
    let mut got = [next(&mut sub).await, next(&mut sub).await];
    got.sort_by_key(|e| match e {
        EvictionEvent::Evict(k) => k[31],
        _ => 0,
    });
    assert_eq!(got, [EvictionEvent::Evict(key(4)), EvictionEvent::Evict(key(5))]);

    // Deleting what is not there is still announced: a gateway may hold a copy of it.
    assert!(!store.delete_session(&key(6)).await.unwrap());
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(6)));

    // Every subscriber hears every eviction.
    let mut other = subscribe(&store).await;
    store.delete_session(&key(7)).await.unwrap();
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(7)));
    assert_eq!(next(&mut other).await, EvictionEvent::Evict(key(7)));
}

/// The contract for this process's own consumers: every deletion, made through the store or a
/// clone of it, has run the hooks by the time the deleting call returns (no waiting here).
async fn own_deletions_are_told_before_returning(store: AnyTokenStore) {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&told);
    store.on_local_eviction(move |key| sink.lock().unwrap().push(key[31]));
    let take = || std::mem::take(&mut *told.lock().unwrap());
    let clone = store.clone();

    store.put_session(&key(1), &session(), LONG_TTL).await.unwrap();
    clone.delete_session(&key(1)).await.unwrap();
    assert_eq!(take(), [1]);

    store.put_session(&key(2), &session(), LONG_TTL).await.unwrap();
    let members = FamilyMembers { access_key: hex(&key(2)), refresh_key: Some(hex(&key(3))) };
    store.set_family("fam-1", &members, LONG_TTL).await.unwrap();
    store.revoke_family("fam-1", LONG_TTL).await.unwrap();
    assert_eq!(take(), [2]);

    let client = ClientRef { api_id: "orders", client_id: "app" };
    store.put_session(&key(4), &session(), LONG_TTL).await.unwrap();
    store.index_client_token(&client, &ClientTokenEntry::Access(key(4)), 4_000_000_000).await.unwrap();
    assert_eq!(store.revoke_client_tokens(&client, LONG_TTL).await.unwrap(), 1);
    assert_eq!(take(), [4]);
}

#[tokio::test]
async fn memory_tells_its_own_process_before_returning() {
    own_deletions_are_told_before_returning(AnyTokenStore::Memory(MemoryTokenStore::new())).await;
}

#[tokio::test]
async fn redis_tells_its_own_process_before_returning() {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.unwrap();
    own_deletions_are_told_before_returning(AnyTokenStore::redis(store)).await;
}

#[tokio::test]
async fn memory_announces_deletions() {
    deletions_are_announced(AnyTokenStore::Memory(MemoryTokenStore::new())).await;
}

#[tokio::test]
async fn redis_announces_deletions() {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.unwrap();
    deletions_are_announced(AnyTokenStore::redis(store)).await;
}

#[tokio::test]
async fn redis_deletions_reach_subscribers_of_other_connections() {
    let server = RedisServer::start();
    let gateway = AnyTokenStore::redis(RedisTokenStore::connect(&server.url()).await.unwrap());
    let control = RedisTokenStore::connect(&server.url()).await.unwrap();
    let mut sub = subscribe(&gateway).await;
    control.delete_session(&key(9)).await.unwrap();
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(9)));
}

#[tokio::test]
async fn a_slow_memory_subscriber_is_told_to_reset() {
    let store = AnyTokenStore::Memory(MemoryTokenStore::new());
    let mut sub = subscribe(&store).await;
    for n in 0..=u8::MAX {
        for _ in 0..20 {
            store.delete_session(&key(n)).await.unwrap();
        }
    }
    assert_eq!(next(&mut sub).await, EvictionEvent::Reset);
}

#[tokio::test]
async fn a_redis_restart_is_reported_lost_then_reset() {
    let server = RedisServer::start();
    let port = server.port();
    let store = AnyTokenStore::redis(RedisTokenStore::connect(&server.url()).await.unwrap());
    let mut sub = subscribe(&store).await;

    drop(server);
    assert_eq!(next(&mut sub).await, EvictionEvent::Lost);
    let _server = RedisServer::start_on(port);
    assert_eq!(next(&mut sub).await, EvictionEvent::Reset);

    // And the new subscription works. The store's own connection notices the restart on its
    // first command, which fails (callers retry), so this retries too.
    let mut attempts = 0;
    while store.delete_session(&key(1)).await.is_err() {
        attempts += 1;
        assert!(attempts < 20, "the store did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(next(&mut sub).await, EvictionEvent::Evict(key(1)));
}

#[tokio::test]
async fn a_frozen_redis_is_reported_lost() {
    let server = RedisServer::start();
    let store = AnyTokenStore::redis(RedisTokenStore::connect(&server.url()).await.unwrap());
    let mut sub = subscribe(&store).await;
    // No FIN, no RST: only the subscription's ping can tell.
    server.freeze();
    assert_eq!(next(&mut sub).await, EvictionEvent::Lost);
}
