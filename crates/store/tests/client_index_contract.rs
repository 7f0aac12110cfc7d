//! The contract for clients' token indexes (`index_client_token`, `list_client_tokens`,
//! `revoke_client_tokens`), run against each `TokenStore`, plus the checks that only make sense
//! for Redis (key layout and expiry, damaged members, a large index, a dead server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::collections::HashSet;
use std::time::Duration;

use gatehouse_model::clock::unix_seconds as unix_now;
use gatehouse_model::storage::{
    ClientRef, ClientTokenEntry, ClientTokenIndex, SessionStore, StoreError, TokenKey, TokenStore,
};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore};
use support::RedisServer;
use support::grants::*;
use tokio::time::timeout;

const C1: ClientRef<'static> = ClientRef { api_id: "orders", client_id: "c1" };
const C2: ClientRef<'static> = ClientRef { api_id: "orders", client_id: "c2" };
/// The same client id under another API: a different client.
const C1_BILLING: ClientRef<'static> = ClientRef { api_id: "billing", client_id: "c1" };

fn access(n: u8) -> ClientTokenEntry {
    ClientTokenEntry::Access(key(n))
}

fn family(id: &str) -> ClientTokenEntry {
    ClientTokenEntry::Family(id.into())
}

/// Keys beyond the 256 that `key` makes.
fn wide_key(n: u16) -> TokenKey {
    let mut k = [0u8; 32];
    k[0] = 0xd0;
    k[30..].copy_from_slice(&n.to_be_bytes());
    k
}

/// The cases, generic over the store.
mod cases {
    use super::*;

    pub async fn pages_in_expiry_order(s: &impl TokenStore) {
        let now = unix_now();
        let mut expected = Vec::new();
        // Indexed out of expiry order (7 steps through 25 visits each n once).
        for i in 0..25u8 {
            let n = i * 7 % 25;
            let entry = if n % 2 == 0 { access(n) } else { family(&format!("fam-{n}")) };
            let expires_at = now + 100 + u64::from(n) * 10;
            s.index_client_token(&C1, &entry, expires_at).await.unwrap();
            expected.push((entry, expires_at));
        }
        expected.sort_by_key(|(_, expires_at)| *expires_at);
        let mut listed = Vec::new();
        for (offset, len) in [(0, 10), (10, 10), (20, 5)] {
            let (page, total) = s.list_client_tokens(&C1, now, offset, 10).await.unwrap();
            assert_eq!((page.len(), total), (len, 25), "offset {offset}");
            listed.extend(page);
        }
        assert_eq!(listed, expected);
        // Past the end, or an empty page, still counts every live entry.
        assert_eq!(s.list_client_tokens(&C1, now, 25, 10).await.unwrap(), (vec![], 25));
        assert_eq!(s.list_client_tokens(&C1, now, 0, 0).await.unwrap(), (vec![], 25));
    }

    pub async fn ties_page_without_duplicates(s: &impl TokenStore) {
        let now = unix_now();
        for n in 0..15 {
            s.index_client_token(&C1, &family(&format!("fam-{n:02}")), now + 60).await.unwrap();
        }
        let (first, total) = s.list_client_tokens(&C1, now, 0, 10).await.unwrap();
        let (second, _) = s.list_client_tokens(&C1, now, 10, 10).await.unwrap();
        assert_eq!((first.len(), second.len(), total), (10, 5, 15));
        let seen: HashSet<_> = first.iter().chain(&second).map(|(entry, _)| entry.clone()).collect();
        assert_eq!(seen.len(), 15);
        // The same order every time, so that pages fetched one after another fit together.
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap().0, first);
    }

    pub async fn expired_entries_are_neither_listed_nor_counted(s: &impl TokenStore) {
        let now = unix_now();
        s.index_client_token(&C1, &family("gone-long-ago"), now - 3600).await.unwrap();
        s.index_client_token(&C1, &access(1), now + 100).await.unwrap();
        s.index_client_token(&C1, &family("just-gone"), now - 1).await.unwrap();
        s.index_client_token(&C1, &family("last-second"), now).await.unwrap();
        let live = vec![(family("last-second"), now), (access(1), now + 100)];
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (live, 2));
        // Later, by the caller's clock, they are all gone.
        assert_eq!(s.list_client_tokens(&C1, now + 101, 0, 10).await.unwrap(), (vec![], 0));
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (vec![], 0));
    }

    pub async fn reindexing_moves_an_entry(s: &impl TokenStore) {
        let now = unix_now();
        s.index_client_token(&C1, &family("fam-1"), now + 100).await.unwrap();
        s.index_client_token(&C1, &access(1), now + 200).await.unwrap();
        s.index_client_token(&C1, &family("fam-1"), now + 300).await.unwrap();
        let moved_later = vec![(access(1), now + 200), (family("fam-1"), now + 300)];
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (moved_later, 2));
        s.index_client_token(&C1, &access(1), now + 50).await.unwrap();
        let moved_sooner = vec![(access(1), now + 50), (family("fam-1"), now + 300)];
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (moved_sooner, 2));
    }

    pub async fn revoked_families_are_neither_listed_nor_counted(s: &impl TokenStore) {
        let now = unix_now();
        for n in 0..15u64 {
            s.index_client_token(&C1, &family(&format!("fam-{n:02}")), now + 100 + n).await.unwrap();
        }
        s.index_client_token(&C1, &access(1), now + 200).await.unwrap();
        // As a replayed code or refresh token, or /oauth/revoke, revokes a family: by id alone.
        for n in [0, 3, 14] {
            s.revoke_family(&format!("fam-{n:02}"), LONG_TTL).await.unwrap();
        }
        let live: Vec<_> = (0..15u64)
            .filter(|n| ![0, 3, 14].contains(n))
            .map(|n| (family(&format!("fam-{n:02}")), now + 100 + n))
            .chain([(access(1), now + 200)])
            .collect();
        // The first page is full of live entries; the revoked ones it met are gone for good, while
        // one on a later page still counts until that page is read.
        let (first, total) = s.list_client_tokens(&C1, now, 0, 10).await.unwrap();
        assert_eq!((first.as_slice(), total), (&live[..10], 14));
        let (second, total) = s.list_client_tokens(&C1, now, 10, 10).await.unwrap();
        assert_eq!((second.as_slice(), total), (&live[10..], 13));
        assert_eq!(s.list_client_tokens(&C1, now, 0, 100).await.unwrap(), (live, 13));
    }

    pub async fn unindexing_drops_one_entry(s: &impl TokenStore) {
        let now = unix_now();
        s.index_client_token(&C1, &access(1), now + 100).await.unwrap();
        s.index_client_token(&C1, &access(2), now + 200).await.unwrap();
        s.index_client_token(&C2, &access(1), now + 100).await.unwrap();
        assert!(s.unindex_client_token(&C1, &access(1)).await.unwrap());
        assert!(!s.unindex_client_token(&C1, &access(1)).await.unwrap());
        assert!(!s.unindex_client_token(&C1_BILLING, &access(2)).await.unwrap());
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (vec![(access(2), now + 200)], 1));
        assert_eq!(s.list_client_tokens(&C2, now, 0, 10).await.unwrap().1, 1);
        assert!(s.unindex_client_token(&C1, &access(2)).await.unwrap());
        assert_eq!(s.list_client_tokens(&C1, now, 0, 10).await.unwrap(), (vec![], 0));
    }

    pub async fn revoke_ends_every_indexed_token_of_the_client(s: &impl TokenStore) {
        let expires_at = unix_now() + 600;
        // c1: two client_credentials tokens and two families, all indexed.
        for n in [1, 2] {
            s.put_session(&key(n), &session("unused"), LONG_TTL).await.unwrap();
            s.index_client_token(&C1, &access(n), expires_at).await.unwrap();
        }
        live_pair(s, "fam-1", &key(3), &key(4)).await;
        live_pair(s, "fam-2", &key(5), &key(6)).await;
        for id in ["fam-1", "fam-2"] {
            s.index_client_token(&C1, &family(id), expires_at).await.unwrap();
        }
        // A token of c1 that was never indexed, and the tokens of other clients.
        s.put_session(&key(10), &session("unused"), LONG_TTL).await.unwrap();
        s.put_session(&key(7), &session("unused"), LONG_TTL).await.unwrap();
        s.index_client_token(&C2, &access(7), expires_at).await.unwrap();
        live_pair(s, "fam-3", &key(8), &key(9)).await;
        s.index_client_token(&C1_BILLING, &family("fam-3"), expires_at).await.unwrap();

        assert_eq!(s.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 4);
        for n in [1, 2, 3, 5] {
            assert_eq!(s.get_session(&key(n)).await.unwrap(), None, "session {n}");
        }
        for n in [4, 6] {
            assert_eq!(s.get_refresh(&key(n)).await.unwrap(), None, "refresh token {n}");
        }
        assert!(s.family_revoked("fam-1").await.unwrap());
        assert!(s.family_revoked("fam-2").await.unwrap());
        assert_eq!(s.list_client_tokens(&C1, 0, 0, 10).await.unwrap(), (vec![], 0));

        assert!(s.get_session(&key(10)).await.unwrap().is_some());
        assert!(s.get_session(&key(7)).await.unwrap().is_some());
        assert!(s.get_session(&key(8)).await.unwrap().is_some());
        assert!(s.get_refresh(&key(9)).await.unwrap().is_some());
        assert!(!s.family_revoked("fam-3").await.unwrap());
        assert_eq!(s.list_client_tokens(&C2, 0, 0, 10).await.unwrap().1, 1);
        assert_eq!(s.list_client_tokens(&C1_BILLING, 0, 0, 10).await.unwrap().1, 1);
        // Nothing is left to find.
        assert_eq!(s.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 0);
    }

    pub async fn revoke_covers_a_large_index(s: &impl TokenStore) {
        let expires_at = unix_now() + 600;
        for n in 0..1_000u16 {
            if n % 2 == 0 {
                s.put_session(&wide_key(n), &session("unused"), LONG_TTL).await.unwrap();
                s.index_client_token(&C1, &ClientTokenEntry::Access(wide_key(n)), expires_at).await.unwrap();
            } else {
                s.index_client_token(&C1, &family(&format!("fam-{n}")), expires_at).await.unwrap();
            }
        }
        assert_eq!(s.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 1_000);
        for n in 0..1_000u16 {
            if n % 2 == 0 {
                assert_eq!(s.get_session(&wide_key(n)).await.unwrap(), None, "session {n}");
            } else {
                assert!(s.family_revoked(&format!("fam-{n}")).await.unwrap(), "family {n}");
            }
        }
        assert_eq!(s.list_client_tokens(&C1, 0, 0, 10).await.unwrap(), (vec![], 0));
    }

    pub async fn unknown_client_is_empty(s: &impl TokenStore) {
        s.index_client_token(&C1, &access(1), unix_now() + 60).await.unwrap();
        assert_eq!(s.list_client_tokens(&C2, 0, 0, 10).await.unwrap(), (vec![], 0));
        assert_eq!(s.list_client_tokens(&C1_BILLING, 0, 0, 10).await.unwrap(), (vec![], 0));
        assert_eq!(s.revoke_client_tokens(&C2, LONG_TTL).await.unwrap(), 0);
        assert_eq!(s.list_client_tokens(&C1, 0, 0, 10).await.unwrap().1, 1);
    }

    pub async fn ids_that_could_break_a_key_are_rejected(s: &impl TokenStore) {
        let expires_at = unix_now() + 60;
        for bad in ["a{b", "a}b", "a:b"] {
            for client in
                [ClientRef { api_id: bad, client_id: "c1" }, ClientRef { api_id: "orders", client_id: bad }]
            {
                let indexed = s.index_client_token(&client, &access(1), expires_at).await;
                assert!(matches!(indexed, Err(StoreError::Corrupt(_))), "{bad}: {indexed:?}");
                let listed = s.list_client_tokens(&client, 0, 0, 10).await;
                assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{bad}: {listed:?}");
                let revoked = s.revoke_client_tokens(&client, LONG_TTL).await;
                assert!(matches!(revoked, Err(StoreError::Corrupt(_))), "{bad}: {revoked:?}");
            }
        }
        let nameless = s.index_client_token(&C1, &family(""), expires_at).await;
        assert!(matches!(nameless, Err(StoreError::Corrupt(_))), "{nameless:?}");
        assert_eq!(s.list_client_tokens(&C1, 0, 0, 10).await.unwrap(), (vec![], 0));
    }
}

/// One test per case for a store built by `$fixture`, an async block returning
/// `(store, guard)`; the guard lives until the test ends.
macro_rules! client_index_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            client_index_contract!(@cases $fixture;
                pages_in_expiry_order, ties_page_without_duplicates,
                expired_entries_are_neither_listed_nor_counted, reindexing_moves_an_entry,
                revoked_families_are_neither_listed_nor_counted, unindexing_drops_one_entry,
                revoke_ends_every_indexed_token_of_the_client, revoke_covers_a_large_index,
                unknown_client_is_empty,
                ids_that_could_break_a_key_are_rejected);
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

client_index_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
client_index_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
client_index_contract!(on_redis, async { redis_fixture().await });

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn all_keys(raw: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(raw).await.unwrap();
    keys.sort();
    keys
}

async fn expire_time(raw: &mut redis::aio::MultiplexedConnection, redis_key: &str) -> i64 {
    redis::cmd("EXPIRETIME").arg(redis_key).query_async(raw).await.unwrap()
}

#[tokio::test]
async fn redis_index_has_the_documented_form_and_outlives_its_latest_entry() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    let now = unix_now();
    store.index_client_token(&C1, &access(1), now + 500).await.unwrap();
    store.index_client_token(&C1, &family("fam-1"), now + 100).await.unwrap();
    assert_eq!(all_keys(&mut raw).await, ["gh:ct:{orders:c1}"]);
    assert_eq!(RedisTokenStore::client_index_key(&C1).unwrap(), "gh:ct:{orders:c1}");
    let members: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg("gh:ct:{orders:c1}")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut raw)
        .await
        .unwrap();
    let expected = [("fam:fam-1".to_owned(), now + 100), (format!("at:{}", hex(&key(1))), now + 500)];
    assert_eq!(members, expected);
    // A sooner entry leaves the expiry alone; moving the latest one later extends it.
    let deadline = expire_time(&mut raw, "gh:ct:{orders:c1}").await;
    assert!(deadline >= (now + 500) as i64, "expires at {deadline}, latest entry at {}", now + 500);
    store.index_client_token(&C1, &access(1), now + 900).await.unwrap();
    let deadline = expire_time(&mut raw, "gh:ct:{orders:c1}").await;
    assert!(deadline >= (now + 900) as i64, "expires at {deadline}, latest entry at {}", now + 900);
}

#[tokio::test]
async fn redis_revoke_leaves_only_tombstones() {
    let (store, server) = redis_fixture().await;
    let expires_at = unix_now() + 600;
    store.put_session(&key(1), &session("unused"), LONG_TTL).await.unwrap();
    store.index_client_token(&C1, &access(1), expires_at).await.unwrap();
    live_pair(&store, "fam-1", &key(2), &key(3)).await;
    store.index_client_token(&C1, &family("fam-1"), expires_at).await.unwrap();
    assert_eq!(store.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 2);
    assert_eq!(all_keys(&mut raw_connection(&server).await).await, ["gh:famrev:{fam-1}"]);
}

#[tokio::test]
async fn redis_damaged_members_are_corrupt_and_not_acted_on() {
    let (store, server) = redis_fixture().await;
    let mut raw = raw_connection(&server).await;
    let expires_at = unix_now() + 600;
    store.put_session(&key(1), &session("unused"), LONG_TTL).await.unwrap();
    store.index_client_token(&C1, &access(1), expires_at).await.unwrap();
    for bad in [format!("at:{}", hex(&key(2)).to_uppercase()), "fam:".into(), "gh:at:{x}".into()] {
        redis::cmd("ZADD")
            .arg("gh:ct:{orders:c1}")
            .arg(expires_at)
            .arg(&bad)
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
        let listed = store.list_client_tokens(&C1, 0, 0, 10).await;
        assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{bad}: {listed:?}");
        let revoked = store.revoke_client_tokens(&C1, LONG_TTL).await;
        assert!(matches!(revoked, Err(StoreError::Corrupt(_))), "{bad}: {revoked:?}");
        assert!(
            store.get_session(&key(1)).await.unwrap().is_some(),
            "{bad}: revoked part of a damaged index"
        );
        redis::cmd("ZREM").arg("gh:ct:{orders:c1}").arg(&bad).query_async::<()>(&mut raw).await.unwrap();
    }
    assert_eq!(store.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 1);
}

#[tokio::test]
async fn redis_large_index_lists_the_right_page() {
    let (store, _server) = redis_fixture().await;
    let now = unix_now();
    for n in 0..10_000u64 {
        store.index_client_token(&C1, &family(&format!("fam-{n:05}")), now + 60 + n).await.unwrap();
    }
    let (page, total) = store.list_client_tokens(&C1, now, 5_000, 10).await.unwrap();
    let expected: Vec<_> = (5_000..5_010).map(|n| (family(&format!("fam-{n:05}")), now + 60 + n)).collect();
    assert_eq!((page, total), (expected, 10_000));
    let (first, _) = store.list_client_tokens(&C1, now, 0, 10).await.unwrap();
    assert_eq!(first.first(), Some(&(family("fam-00000"), now + 60)));
}

#[tokio::test]
async fn redis_dead_server_is_unavailable_quickly() {
    const DEADLINE: Duration = Duration::from_secs(3);
    let (store, server) = redis_fixture().await;
    drop(server);
    let indexed = timeout(DEADLINE, store.index_client_token(&C1, &access(1), unix_now() + 60)).await;
    assert!(matches!(indexed, Ok(Err(StoreError::Unavailable(_)))), "{indexed:?}");
    let listed = timeout(DEADLINE, store.list_client_tokens(&C1, 0, 0, 10)).await;
    assert!(matches!(listed, Ok(Err(StoreError::Unavailable(_)))), "{listed:?}");
    let revoked = timeout(DEADLINE, store.revoke_client_tokens(&C1, LONG_TTL)).await;
    assert!(matches!(revoked, Ok(Err(StoreError::Unavailable(_)))), "{revoked:?}");
}
