//! The contract for single-use grants (authorization codes, refresh tokens) and token families,
//! run against each `TokenStore`. Checks that only make sense for Redis are in `grant_redis.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::storage::{StoreError, TokenStore};
use gatehouse_model::{FamilyMembers, Taken};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore};
use support::grants::*;
use tokio::sync::Barrier;
use tokio::time::sleep;

/// The cases, generic over the store.
mod cases {
    use super::*;

    pub async fn code_is_fresh_then_replayed_then_missing(s: &impl TokenStore) {
        s.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
        assert_eq!(s.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Fresh(code("c1")));
        // The marker names the first redeemer's family, not the replaying caller's.
        let replayed = Taken::Replayed { family_id: "fam-1".into() };
        assert_eq!(s.redeem_code(&key(1), "fam-2", WINDOW).await.unwrap(), replayed);
        sleep(PAST_WINDOW).await;
        assert_eq!(s.redeem_code(&key(1), "fam-3", WINDOW).await.unwrap(), Taken::Missing);
    }

    pub async fn unknown_code_is_missing(s: &impl TokenStore) {
        s.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
        assert_eq!(s.redeem_code(&key(2), "fam-1", WINDOW).await.unwrap(), Taken::Missing);
        assert_eq!(s.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Fresh(code("c1")));
    }

    pub async fn code_expires_after_ttl(s: &impl TokenStore) {
        s.put_code(&key(1), &code("short"), WINDOW).await.unwrap();
        s.put_code(&key(2), &code("long"), LONG_TTL).await.unwrap();
        sleep(PAST_WINDOW).await;
        assert_eq!(s.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Missing);
        assert_eq!(s.redeem_code(&key(2), "fam-2", WINDOW).await.unwrap(), Taken::Fresh(code("long")));
    }

    pub async fn zero_ttl_stores_no_grant(s: &impl TokenStore) {
        s.put_code(&key(1), &code("c1"), Duration::ZERO).await.unwrap();
        assert_eq!(s.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Missing);
        s.put_refresh(&key(2), &grant("fam-2", &key(9)), Duration::ZERO).await.unwrap();
        assert_eq!(s.get_refresh(&key(2)).await.unwrap(), None);
        // Over an existing grant, a zero TTL ends it rather than making it permanent.
        s.put_refresh(&key(3), &grant("fam-3", &key(9)), LONG_TTL).await.unwrap();
        s.put_refresh(&key(3), &grant("fam-3", &key(9)), Duration::ZERO).await.unwrap();
        assert_eq!(s.use_refresh(&key(3), WINDOW).await.unwrap(), Taken::Missing);
    }

    pub async fn zero_replay_window_deletes(s: &impl TokenStore) {
        s.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
        assert_eq!(s.redeem_code(&key(1), "fam-1", Duration::ZERO).await.unwrap(), Taken::Fresh(code("c1")));
        assert_eq!(s.redeem_code(&key(1), "fam-1", WINDOW).await.unwrap(), Taken::Missing);
        let g = grant("fam-2", &key(9));
        s.put_refresh(&key(2), &g, LONG_TTL).await.unwrap();
        assert_eq!(s.use_refresh(&key(2), Duration::ZERO).await.unwrap(), Taken::Fresh(g));
        assert_eq!(s.use_refresh(&key(2), WINDOW).await.unwrap(), Taken::Missing);
    }

    pub async fn concurrent_redeems_have_one_winner(s: &(impl TokenStore + Clone)) {
        s.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    let family_id = format!("fam-{n}");
                    barrier.wait().await;
                    (family_id.clone(), s.redeem_code(&key(1), &family_id, LONG_TTL).await.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut replays = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                (family_id, Taken::Fresh(c)) => winners.push((family_id, c)),
                (_, Taken::Replayed { family_id }) => replays.push(family_id),
                (_, Taken::Missing) => panic!("a racer found the code missing"),
            }
        }
        let [(winner_family, won)] = winners.as_slice() else { panic!("winners: {winners:?}") };
        assert_eq!(*won, code("c1"));
        assert_eq!(replays.len(), RACERS - 1);
        assert!(replays.iter().all(|f| f == winner_family), "{winner_family}: {replays:?}");
    }

    pub async fn concurrent_refreshes_have_one_winner(s: &(impl TokenStore + Clone)) {
        let g = grant("fam-r", &key(9));
        s.put_refresh(&key(1), &g, LONG_TTL).await.unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.use_refresh(&key(1), LONG_TTL).await.unwrap()
                })
            })
            .collect();
        let mut fresh = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Taken::Fresh(won) => {
                    assert_eq!(won, g);
                    fresh += 1;
                }
                Taken::Replayed { family_id } => assert_eq!(family_id, "fam-r"),
                Taken::Missing => panic!("a racer found the refresh token missing"),
            }
        }
        assert_eq!(fresh, 1);
    }

    pub async fn refresh_is_fresh_then_replayed_then_missing(s: &impl TokenStore) {
        let g = grant("fam-1", &key(9));
        s.put_refresh(&key(1), &g, LONG_TTL).await.unwrap();
        assert_eq!(s.use_refresh(&key(1), WINDOW).await.unwrap(), Taken::Fresh(g));
        let replayed = Taken::Replayed { family_id: "fam-1".into() };
        assert_eq!(s.use_refresh(&key(1), WINDOW).await.unwrap(), replayed);
        assert_eq!(s.get_refresh(&key(1)).await.unwrap(), None);
        sleep(PAST_WINDOW).await;
        assert_eq!(s.use_refresh(&key(1), WINDOW).await.unwrap(), Taken::Missing);
    }

    pub async fn get_refresh_does_not_spend(s: &impl TokenStore) {
        let g = grant("fam-1", &key(9));
        s.put_refresh(&key(1), &g, LONG_TTL).await.unwrap();
        for _ in 0..3 {
            assert_eq!(s.get_refresh(&key(1)).await.unwrap(), Some(g.clone()));
        }
        assert_eq!(s.get_refresh(&key(2)).await.unwrap(), None);
        assert_eq!(s.use_refresh(&key(1), WINDOW).await.unwrap(), Taken::Fresh(g));
    }

    pub async fn grants_and_sessions_do_not_share_keys(s: &impl TokenStore) {
        let k = key(1);
        s.put_session(&k, &session("fam-1"), LONG_TTL).await.unwrap();
        s.put_code(&k, &code("c1"), LONG_TTL).await.unwrap();
        s.put_refresh(&k, &grant("fam-1", &k), LONG_TTL).await.unwrap();
        assert_eq!(s.redeem_code(&k, "fam-1", WINDOW).await.unwrap(), Taken::Fresh(code("c1")));
        assert_eq!(s.get_refresh(&k).await.unwrap(), Some(grant("fam-1", &k)));
        assert_eq!(s.get_session(&k).await.unwrap(), Some(session("fam-1")));
    }

    pub async fn revoke_deletes_the_family_members(s: &impl TokenStore) {
        live_pair(s, "fam-1", &key(1), &key(2)).await;
        live_pair(s, "fam-2", &key(3), &key(4)).await;
        assert!(!s.family_revoked("fam-1").await.unwrap());

        s.revoke_family("fam-1", LONG_TTL).await.unwrap();
        assert!(s.family_revoked("fam-1").await.unwrap());
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
        assert_eq!(s.get_refresh(&key(2)).await.unwrap(), None);
        assert_eq!(s.use_refresh(&key(2), WINDOW).await.unwrap(), Taken::Missing);

        assert!(!s.family_revoked("fam-2").await.unwrap());
        assert_eq!(s.get_session(&key(3)).await.unwrap(), Some(session("fam-2")));
        assert_eq!(s.get_refresh(&key(4)).await.unwrap(), Some(grant("fam-2", &key(3))));
        // Revoking again finds no record left, and that is fine.
        s.revoke_family("fam-1", LONG_TTL).await.unwrap();
    }

    pub async fn revoke_without_refresh_token(s: &impl TokenStore) {
        s.put_session(&key(1), &session("fam-1"), LONG_TTL).await.unwrap();
        s.set_family("fam-1", &members(&key(1), None), LONG_TTL).await.unwrap();
        s.revoke_family("fam-1", LONG_TTL).await.unwrap();
        assert_eq!(s.get_session(&key(1)).await.unwrap(), None);
    }

    pub async fn set_family_replaces_the_record(s: &impl TokenStore) {
        live_pair(s, "fam-1", &key(1), &key(2)).await;
        live_pair(s, "fam-1", &key(3), &key(4)).await;
        s.revoke_family("fam-1", LONG_TTL).await.unwrap();
        assert_eq!(s.get_session(&key(3)).await.unwrap(), None);
        assert_eq!(s.get_refresh(&key(4)).await.unwrap(), None);
        // No longer named by the record, so left to the refresh that replaced it.
        assert!(s.get_session(&key(1)).await.unwrap().is_some());
    }

    pub async fn unknown_family(s: &impl TokenStore) {
        assert!(!s.family_revoked("nobody").await.unwrap());
        s.revoke_family("nobody", LONG_TTL).await.unwrap();
        // Remembered even without a record: a refresh racing with it may be about to write one.
        assert!(s.family_revoked("nobody").await.unwrap());
        assert!(!s.family_revoked("somebody").await.unwrap());
    }

    pub async fn revocation_expires(s: &impl TokenStore) {
        s.revoke_family("fam-1", WINDOW).await.unwrap();
        s.revoke_family("fam-2", LONG_TTL).await.unwrap();
        // Zero records nothing, and does not lift the revocation above.
        s.revoke_family("fam-2", Duration::ZERO).await.unwrap();
        s.revoke_family("fam-3", Duration::ZERO).await.unwrap();
        assert!(s.family_revoked("fam-1").await.unwrap());
        sleep(PAST_WINDOW).await;
        assert!(!s.family_revoked("fam-1").await.unwrap());
        assert!(s.family_revoked("fam-2").await.unwrap());
        assert!(!s.family_revoked("fam-3").await.unwrap());
    }

    pub async fn set_family_rejects_bad_keys(s: &impl TokenStore) {
        let good = hex(&key(1));
        let bad = [good.to_uppercase(), good[..63].to_owned(), format!("{}}}", &good[..63]), "*".into()];
        for bad in bad {
            let access_bad = FamilyMembers { access_key: bad.clone(), refresh_key: None };
            let refresh_bad = FamilyMembers { access_key: good.clone(), refresh_key: Some(bad) };
            for m in [access_bad, refresh_bad] {
                let result = s.set_family("fam-1", &m, LONG_TTL).await;
                assert!(matches!(result, Err(StoreError::Corrupt(_))), "{m:?}: {result:?}");
            }
        }
    }
}

/// One test per case for a store built by `$fixture`, an async block returning
/// `(store, guard)`; the guard lives until the test ends. Multi-threaded, so that the racing
/// cases really run in parallel.
macro_rules! grant_contract {
    ($name:ident, $fixture:expr) => {
        mod $name {
            use super::*;

            grant_contract!(@cases $fixture;
                code_is_fresh_then_replayed_then_missing, unknown_code_is_missing,
                code_expires_after_ttl, zero_ttl_stores_no_grant, zero_replay_window_deletes,
                concurrent_redeems_have_one_winner, concurrent_refreshes_have_one_winner,
                refresh_is_fresh_then_replayed_then_missing, get_refresh_does_not_spend,
                grants_and_sessions_do_not_share_keys, revoke_deletes_the_family_members,
                revoke_without_refresh_token, set_family_replaces_the_record, unknown_family,
                revocation_expires, set_family_rejects_bad_keys);
        }
    };
    (@cases $fixture:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = $fixture.await;
                cases::$case(&store).await;
            }
        )*
    };
}

grant_contract!(on_memory, async { (MemoryTokenStore::new(), ()) });
grant_contract!(on_any_memory, async { (AnyTokenStore::Memory(MemoryTokenStore::new()), ()) });
grant_contract!(on_redis, async { redis_fixture().await });
