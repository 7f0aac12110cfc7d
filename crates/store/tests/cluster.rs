//! The token store on a real three-node Redis Cluster (`redis+cluster://…`): the core flows,
//! with keys spread over the nodes. Needs `redis-server` and `redis-cli` with cluster support;
//! without them these tests fail, they are never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use gatehouse_model::Taken;
use gatehouse_model::storage::{
    ClientRef, ClientTokenEntry, ClientTokenIndex, GrantStore, LimitStore, Limits, RateLimit, SessionStore,
    StoreError,
};
use gatehouse_store::{RedisStateStore, RedisTokenStore};
use gatehouse_testkit::RedisCluster;
use support::free_port;
use support::grants::{LONG_TTL, RACERS, WINDOW, code, key, live_pair, session};

async fn cluster_store() -> (RedisTokenStore, RedisCluster) {
    let cluster = RedisCluster::start();
    let store = RedisTokenStore::connect(&cluster.url()).await.expect("connect to the test cluster");
    (store, cluster)
}

const C1: ClientRef<'static> = ClientRef { api_id: "orders", client_id: "c1" };

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_live_on_several_nodes() {
    let (store, cluster) = cluster_store().await;
    for n in 0..30 {
        store.put_session(&key(n), &session(&format!("f{n}")), LONG_TTL).await.unwrap();
    }
    for n in 0..30 {
        assert_eq!(store.get_session(&key(n)).await.unwrap(), Some(session(&format!("f{n}"))));
    }
    let counts = cluster.key_counts();
    assert_eq!(counts.iter().sum::<u64>(), 30, "{counts:?}");
    assert!(counts.iter().filter(|&&c| c > 0).count() >= 2, "keys all on one node: {counts:?}");
    for n in 0..30 {
        assert!(store.delete_session(&key(n)).await.unwrap());
        assert_eq!(store.get_session(&key(n)).await.unwrap(), None);
        assert!(!store.delete_session(&key(n)).await.unwrap());
    }
    assert_eq!(cluster.key_counts().iter().sum::<u64>(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_are_single_use_and_families_revoke_across_slots() {
    let (store, cluster) = cluster_store().await;
    store.put_code(&key(1), &code("c1"), LONG_TTL).await.unwrap();
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        racers.spawn(async move { store.redeem_code(&key(1), "fam-new", WINDOW).await.unwrap() });
    }
    let (mut fresh, mut replayed) = (0, 0);
    while let Some(taken) = racers.join_next().await {
        match taken.unwrap() {
            Taken::Fresh(got) => {
                assert_eq!(got, code("c1"));
                fresh += 1;
            }
            Taken::Replayed { family_id } => {
                assert_eq!(family_id, "fam-new");
                replayed += 1;
            }
            Taken::Missing => panic!("the code vanished instead of being marked spent"),
        }
    }
    assert_eq!((fresh, replayed), (1, RACERS - 1));

    // A family whose access token, refresh token and record sit in different slots.
    let (access, refresh) = (key(10), key(11));
    live_pair(&store, "fam-1", &access, &refresh).await;
    assert!(cluster.key_counts().iter().filter(|&&c| c > 0).count() >= 2);
    match store.use_refresh(&refresh, WINDOW).await.unwrap() {
        Taken::Fresh(grant) => assert_eq!(grant.family_id, "fam-1"),
        other => panic!("expected a fresh grant, got {other:?}"),
    }
    let replay = store.use_refresh(&refresh, WINDOW).await.unwrap();
    assert_eq!(replay, Taken::Replayed { family_id: "fam-1".into() });

    let (access2, refresh2) = (key(12), key(13));
    live_pair(&store, "fam-1", &access2, &refresh2).await;
    assert!(!store.family_revoked("fam-1").await.unwrap());
    store.revoke_family("fam-1", LONG_TTL).await.unwrap();
    assert!(store.family_revoked("fam-1").await.unwrap());
    assert_eq!(store.get_session(&access2).await.unwrap(), None);
    assert_eq!(store.get_refresh(&refresh2).await.unwrap(), None);
    assert_eq!(store.use_refresh(&refresh2, WINDOW).await.unwrap(), Taken::Missing);
    assert!(!store.delete_session(&access2).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_index_lists_and_revokes_across_slots() {
    let (store, cluster) = cluster_store().await;
    let expires_at = 4_000_000_000;
    for n in 0..10 {
        store.put_session(&key(n), &session("none"), LONG_TTL).await.unwrap();
        store
            .index_client_token(&C1, &ClientTokenEntry::Access(key(n)), expires_at + u64::from(n))
            .await
            .unwrap();
    }
    for f in 0..5u8 {
        let family_id = format!("fam-{f}");
        live_pair(&store, &family_id, &key(100 + 2 * f), &key(101 + 2 * f)).await;
        let entry = ClientTokenEntry::Family(family_id);
        store.index_client_token(&C1, &entry, expires_at + 100 + u64::from(f)).await.unwrap();
    }
    assert!(cluster.key_counts().iter().filter(|&&c| c > 0).count() >= 2);

    let (page, total) = store.list_client_tokens(&C1, 1_700_000_000, 8, 4).await.unwrap();
    assert_eq!(total, 15);
    let expected = vec![
        (ClientTokenEntry::Access(key(8)), expires_at + 8),
        (ClientTokenEntry::Access(key(9)), expires_at + 9),
        (ClientTokenEntry::Family("fam-0".into()), expires_at + 100),
        (ClientTokenEntry::Family("fam-1".into()), expires_at + 101),
    ];
    assert_eq!(page, expected);

    assert_eq!(store.revoke_client_tokens(&C1, LONG_TTL).await.unwrap(), 15);
    for n in 0..10 {
        assert_eq!(store.get_session(&key(n)).await.unwrap(), None);
    }
    for f in 0..5u8 {
        assert!(store.family_revoked(&format!("fam-{f}")).await.unwrap());
        assert_eq!(store.get_session(&key(100 + 2 * f)).await.unwrap(), None);
        assert_eq!(store.get_refresh(&key(101 + 2 * f)).await.unwrap(), None);
    }
    assert_eq!(store.list_client_tokens(&C1, 1_700_000_000, 0, 10).await.unwrap(), (vec![], 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_exactly_under_concurrency() {
    let (store, _cluster) = cluster_store().await;
    let limits = Limits { rate: Some(RateLimit { rate: 10.0, per_secs: 60.0 }), quota: None };
    let now_ms = 1_700_000_000_000;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let store = store.clone();
        requests.spawn(async move { store.check_limits("fam:f1", &limits, now_ms).await.unwrap() });
    }
    let mut allowed = 0;
    while let Some(outcome) = requests.join_next().await {
        allowed += usize::from(outcome.unwrap().refused_by.is_none());
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn bad_or_unreachable_cluster_urls_fail_fast() {
    for bad in ["redis+cluster://", "redis+cluster://127.0.0.1:1,,127.0.0.1:2", "redis+cluster://h:1/3"] {
        let err = RedisTokenStore::connect(bad).await.expect_err(bad);
        assert!(matches!(err, StoreError::Unavailable(_)), "{bad}: {err:?}");
    }
    let url = format!("redis+cluster://127.0.0.1:{},127.0.0.1:{}", free_port(), free_port());
    let started = Instant::now();
    let err = RedisTokenStore::connect(&url).await.expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_state_store_rejects_a_cluster_url() {
    let err =
        RedisStateStore::connect("redis+cluster://127.0.0.1:7000,127.0.0.1:7001").await.expect_err("cluster");
    assert!(matches!(&err, StoreError::Unavailable(m) if m.contains("single Redis")), "{err:?}");
}
