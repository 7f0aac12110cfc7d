//! Two gateways caching sessions over one real Redis: a revocation made elsewhere evicts the
//! session from both caches within milliseconds, and a Redis restart clears them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_gateway::session_cache::SessionCache;
use gatehouse_model::Session;
use gatehouse_model::storage::{SessionStore, TokenKey};
use gatehouse_model::test_util::SessionBuilder;
use gatehouse_store::{AnyTokenStore, RedisTokenStore};
use gatehouse_testkit::RedisServer;

/// A behaviour check with a generous bound, not a benchmark: delivery is normally well under a
/// millisecond on loopback.
const PROPAGATION_BOUND: Duration = Duration::from_millis(200);
const LONG_TTL: Duration = Duration::from_secs(600);
const NOW: u64 = 1_700_000_100;

fn session() -> Session {
    SessionBuilder::new().build()
}

struct Node {
    tokens: AnyTokenStore,
    cache: Arc<SessionCache>,
}

impl Node {
    async fn start(url: &str) -> Self {
        let tokens = AnyTokenStore::redis(RedisTokenStore::connect(url).await.unwrap());
        let cache = SessionCache::start(&tokens);
        let node = Self { tokens, cache };
        node.wait_until("the subscription is live", |n| n.cache.is_trusted()).await;
        node
    }

    /// The lookup `bearer::check` makes: the cache, else the store (and cache what it found).
    async fn lookup(&self, key: &TokenKey) -> Option<Session> {
        if let Some(session) = self.cache.get(key, NOW) {
            return Some(session);
        }
        let ticket = self.cache.ticket();
        let session = self.tokens.get_session(key).await.unwrap()?;
        self.cache.insert(ticket, key, &session);
        Some(session)
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) -> Duration {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        start.elapsed()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_evicts_on_every_gateway() {
    let server = RedisServer::start();
    let (a, b) = (Node::start(&server.url()).await, Node::start(&server.url()).await);
    let control = RedisTokenStore::connect(&server.url()).await.unwrap();
    let key = [0x42; 32];

    control.put_session(&key, &session(), LONG_TTL).await.unwrap();
    for node in [&a, &b] {
        assert_eq!(node.lookup(&key).await, Some(session()));
        assert!(node.cache.contains(&key), "a found session is cached");
    }
    // Served from the caches from now on.
    for node in [&a, &b] {
        assert_eq!(node.cache.get(&key, NOW), Some(session()));
    }

    let revoked = Instant::now();
    control.delete_session(&key).await.unwrap();
    for (name, node) in [("a", &a), ("b", &b)] {
        node.wait_until("the session is evicted", |n| !n.cache.contains(&key)).await;
        let took = revoked.elapsed();
        eprintln!("revocation reached gateway {name}'s cache in {took:?}");
        assert!(took < PROPAGATION_BOUND, "gateway {name} took {took:?}");
        assert_eq!(node.lookup(&key).await, None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tokens_are_not_cached() {
    let server = RedisServer::start();
    let a = Node::start(&server.url()).await;
    let key = [0x43; 32];
    assert_eq!(a.lookup(&key).await, None);
    // Issued a moment later, through another process: accepted at once.
    let control = RedisTokenStore::connect(&server.url()).await.unwrap();
    control.put_session(&key, &session(), LONG_TTL).await.unwrap();
    assert_eq!(a.lookup(&key).await, Some(session()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_restart_clears_the_caches() {
    let server = RedisServer::start();
    let port = server.port();
    let (a, b) = (Node::start(&server.url()).await, Node::start(&server.url()).await);
    let key = [0x44; 32];
    a.tokens.put_session(&key, &session(), LONG_TTL).await.unwrap();
    for node in [&a, &b] {
        node.lookup(&key).await;
        assert!(node.cache.contains(&key));
    }

    drop(server);
    for node in [&a, &b] {
        // While the subscription is down the cache is bypassed and empty.
        node.wait_until("the cache stops trusting itself", |n| !n.cache.is_trusted()).await;
        assert!(node.cache.is_empty());
        assert_eq!(node.cache.get(&key, NOW), None);
    }
    let _server = RedisServer::start_on(port);
    for node in [&a, &b] {
        let took = node.wait_until("the subscription is back", |n| n.cache.is_trusted()).await;
        eprintln!("cache trusted again {took:?} after the restart");
        assert!(node.cache.is_empty(), "nothing from before the restart survives");
    }
}
