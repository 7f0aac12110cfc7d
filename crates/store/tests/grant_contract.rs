//! The contract for single-use grants (authorization codes, refresh tokens) and token families,
//! run against each `TokenStore`, plus the checks that only make sense for Redis (key layout,
//! corrupt records, script reloading, dead server).

mod support;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::{AuthorizationCode, FamilyMembers, GrantType, RefreshGrant, Session, Taken};
use gatehouse_store::{AnyTokenStore, MemoryTokenStore, RedisTokenStore, StoreError, TokenKey, TokenStore};
use support::RedisServer;
use tokio::sync::Barrier;
use tokio::time::{sleep, timeout};

const LONG_TTL: Duration = Duration::from_secs(600);
const WINDOW: Duration = Duration::from_millis(300);
/// Comfortably past `WINDOW` (and the short TTLs below), so expiry is certain.
const PAST_WINDOW: Duration = Duration::from_millis(500);
const RACERS: usize = 20;
const DEAD_REDIS_DEADLINE: Duration = Duration::from_secs(3);

fn key(n: u8) -> TokenKey {
    let mut k = [0u8; 32];
    k[0] = 0xc0;
    k[31] = n;
    k
}

fn hex(k: &TokenKey) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn code(client_id: &str) -> AuthorizationCode {
    AuthorizationCode {
        api_id: "orders".into(),
        client_id: client_id.into(),
        redirect_uri: "https://app.example/callback".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        scope: Some("read write".into()),
        policy_id: "gold".into(),
        meta_data: [("tenant".to_owned(), "acme".to_owned())].into(),
        issued_at: 1_700_000_000,
    }
}

fn grant(family_id: &str, access: &TokenKey) -> RefreshGrant {
    RefreshGrant {
        api_id: "orders".into(),
        client_id: "c1".into(),
        family_id: family_id.into(),
        origin: GrantType::Password,
        policy_id: "gold".into(),
        meta_data: [("tenant".to_owned(), "acme".to_owned())].into(),
        scope: Some("read".into()),
        username: Some("alice".into()),
        access_key: hex(access),
        issued_at: 1_700_000_000,
        expires_at: 1_700_086_400,
    }
}

fn session(family_id: &str) -> Session {
    Session {
        api_id: "orders".into(),
        client_id: "c1".into(),
        policy_id: "gold".into(),
        grant: GrantType::Password,
        meta_data: Default::default(),
        issued_at: 1_700_000_000,
        expires_at: 1_700_003_600,
        family_id: Some(family_id.into()),
        scope: Some("read".into()),
        username: Some("alice".into()),
    }
}

fn members(access: &TokenKey, refresh: Option<&TokenKey>) -> FamilyMembers {
    FamilyMembers { access_key: hex(access), refresh_key: refresh.map(hex) }
}

/// Stores an access token and a refresh token for `family_id` and records them as its members.
async fn live_pair(s: &impl TokenStore, family_id: &str, access: &TokenKey, refresh: &TokenKey) {
    s.put_session(access, &session(family_id), LONG_TTL).await.unwrap();
    s.put_refresh(refresh, &grant(family_id, access), LONG_TTL).await.unwrap();
    s.set_family(family_id, &members(access, Some(refresh)), LONG_TTL).await.unwrap();
}

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

async fn redis_fixture() -> (RedisTokenStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.expect("connect to test redis");
    (store, server)
}

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
