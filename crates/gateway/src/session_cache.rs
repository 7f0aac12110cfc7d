//! A gateway's local copy of recently used sessions, so a busy token does not cost a Redis
//! round trip on every request.
//!
//! Safe only because every deletion of a session is announced (see
//! [`gatehouse_store::Evictions`]): a background task follows the store's evictions and drops
//! the entry named, clears everything on `Reset`, and bypasses the cache entirely while the
//! subscription is down (`Lost` until the next `Reset`), so a revocation is never missed, only
//! possibly seen through Redis instead of the cache. What the cache cannot know about it does
//! not hold: only sessions found are cached (a token issued a moment later on another gateway
//! must not be refused), and client and policy checks run on every request against the live
//! config, cached session or not.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use gatehouse_model::Session;
use gatehouse_model::storage::TokenKey;
use gatehouse_store::{AnyTokenStore, EvictionEvent, Evictions};
use tokio::task::JoinHandle;

/// Entries held at most; when full, the oldest goes.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How long an entry is served from the cache at most. Revocations do not depend on it (they
/// are pushed); it bounds what a missed message could cost should pub/sub ever lose one
/// without the connection dropping.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

pub struct SessionCache {
    inner: Mutex<Inner>,
    capacity: usize,
    max_age: Duration,
}

struct Inner {
    /// Whether the eviction subscription is live and every entry predates no missed message.
    trusted: bool,
    /// Bumped on every eviction, reset and loss: a lookup that went to Redis caches its answer
    /// only if nothing was evicted meanwhile, since the eviction may have been of that very
    /// session and been processed before the insert (which it would then fail to remove).
    generation: u64,
    entries: HashMap<TokenKey, Entry>,
    /// Insertion order, oldest first, for dropping the oldest when full; pairs whose entry is
    /// gone or was replaced (stamp differs) are skipped.
    order: VecDeque<(TokenKey, u64)>,
    next_stamp: u64,
}

struct Entry {
    session: Session,
    cached_at: Instant,
    stamp: u64,
}

/// What [`SessionCache::ticket`] hands out before a Redis lookup, for [`SessionCache::insert`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl SessionCache {
    /// A cache that serves nothing until it is [`SessionCache::follow`]ing a subscription that
    /// reports itself live.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                trusted: false,
                generation: 0,
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_stamp: 0,
            }),
            capacity,
            max_age,
        }
    }

    /// A cache that is never trusted, so every lookup goes to the store: revocation is then
    /// immediate, at the price of a store round trip per request.
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self::new(0, Duration::ZERO))
    }

    /// A cache with the default bounds, following `tokens`' evictions. Needs a Tokio runtime.
    pub fn start(tokens: &AnyTokenStore) -> Arc<Self> {
        let cache = Arc::new(Self::new(DEFAULT_CAPACITY, DEFAULT_MAX_AGE));
        // The task ends with the cache; the handle is not needed to stop it.
        drop(cache.follow(tokens.evictions()));
        cache
    }

    /// Applies `evictions` to this cache in a background task, which ends when the cache is
    /// dropped or the subscription ends (the cache is then bypassed for good).
    pub fn follow(self: &Arc<Self>, mut evictions: Evictions) -> JoinHandle<()> {
        let cache: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let event = evictions.recv().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                match event {
                    Some(event) => cache.apply(event),
                    None => {
                        tracing::warn!("eviction subscription ended; session cache disabled");
                        cache.apply(EvictionEvent::Lost);
                        return;
                    }
                }
            }
        })
    }

    /// Applies one event; public so tests and embedders can drive a cache directly.
    pub fn apply(&self, event: EvictionEvent) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        match event {
            EvictionEvent::Evict(key) => {
                inner.entries.remove(&key);
            }
            EvictionEvent::Reset | EvictionEvent::Lost => {
                inner.entries.clear();
                inner.order.clear();
                inner.trusted = event == EvictionEvent::Reset;
            }
        }
    }

    /// The cached session under `key`, unless it is older than the max age, expired at `now`
    /// (unix seconds; left to the store, which answers as it always did), or the cache is not
    /// trusted right now.
    pub fn get(&self, key: &TokenKey, now: u64) -> Option<Session> {
        let mut inner = self.lock();
        if !inner.trusted {
            return None;
        }
        let entry = inner.entries.get(key)?;
        if entry.cached_at.elapsed() < self.max_age && !entry.session.is_expired(now) {
            return Some(entry.session.clone());
        }
        inner.entries.remove(key);
        None
    }

    /// Taken before asking the store, so that [`SessionCache::insert`] can tell whether an
    /// eviction came in meanwhile.
    pub fn ticket(&self) -> Ticket {
        let inner = self.lock();
        Ticket(inner.trusted.then_some(inner.generation))
    }

    /// Caches what the store answered for `key`, unless anything was evicted (or the
    /// subscription reset or lost) since `ticket` was taken.
    pub fn insert(&self, ticket: Ticket, key: &TokenKey, session: &Session) {
        let mut inner = self.lock();
        if !inner.trusted || ticket.0 != Some(inner.generation) || self.capacity == 0 {
            return;
        }
        let inner = &mut *inner;
        while inner.entries.len() >= self.capacity {
            let Some((oldest, stamp)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&oldest).is_some_and(|entry| entry.stamp == stamp) {
                inner.entries.remove(&oldest);
            }
        }
        let stamp = inner.next_stamp;
        inner.next_stamp = inner.next_stamp.wrapping_add(1);
        let entry = Entry { session: session.clone(), cached_at: Instant::now(), stamp };
        inner.entries.insert(*key, entry);
        inner.order.push_back((*key, stamp));
        // Evictions leave their keys in `order`; compact once it is twice the live size, so
        // it stays bounded at amortised O(1) per insert.
        if inner.order.len() > 2 * self.capacity.max(inner.entries.len()) {
            let entries = &inner.entries;
            inner.order.retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    /// Whether lookups are served from the cache right now (the subscription is live).
    pub fn is_trusted(&self) -> bool {
        self.lock().trusted
    }

    /// Entries held, possibly aged out but not yet dropped.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, key: &TokenKey) -> bool {
        self.lock().entries.contains_key(key)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent, so a panic elsewhere while the lock
        // was held does not make the cache unusable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sessions stay out of logs.
        let inner = self.lock();
        f.debug_struct("SessionCache")
            .field("entries", &inner.entries.len())
            .field("trusted", &inner.trusted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::test_util::SessionBuilder;

    use super::*;

    fn session(expires_at: u64) -> Session {
        SessionBuilder::new().api("a").client("c").policy("").issued_at(0).expires_at(expires_at).build()
    }

    fn key(n: u8) -> TokenKey {
        [n; 32]
    }

    fn live(capacity: usize) -> SessionCache {
        let cache = SessionCache::new(capacity, Duration::from_secs(60));
        cache.apply(EvictionEvent::Reset);
        cache
    }

    #[test]
    fn nothing_is_cached_before_the_subscription_is_live() {
        let cache = SessionCache::new(10, Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.insert(ticket, &key(1), &session(100));
        assert!(cache.is_empty());
        cache.apply(EvictionEvent::Reset);
        cache.insert(cache.ticket(), &key(1), &session(100));
        assert_eq!(cache.get(&key(1), 50), Some(session(100)));
    }

    #[test]
    fn an_eviction_during_the_lookup_keeps_the_answer_out() {
        let cache = live(10);
        let ticket = cache.ticket();
        cache.apply(EvictionEvent::Evict(key(1)));
        cache.insert(ticket, &key(1), &session(100));
        assert!(!cache.contains(&key(1)));
    }

    #[test]
    fn loss_bypasses_until_reset() {
        let cache = live(10);
        cache.insert(cache.ticket(), &key(1), &session(100));
        cache.apply(EvictionEvent::Lost);
        assert_eq!(cache.get(&key(1), 50), None);
        cache.insert(cache.ticket(), &key(1), &session(100));
        assert!(cache.is_empty());
        cache.apply(EvictionEvent::Reset);
        assert!(cache.is_trusted());
    }

    #[test]
    fn expired_and_aged_entries_are_not_served() {
        let cache = live(10);
        cache.insert(cache.ticket(), &key(1), &session(100));
        // Live through its last second, second 100.
        assert!(cache.get(&key(1), 100).is_some());
        assert_eq!(cache.get(&key(1), 101), None);
        let aged = SessionCache::new(10, Duration::ZERO);
        aged.apply(EvictionEvent::Reset);
        aged.insert(aged.ticket(), &key(1), &session(100));
        assert_eq!(aged.get(&key(1), 50), None);
    }

    #[test]
    fn the_oldest_goes_when_full() {
        let cache = live(2);
        for n in 1..=3 {
            cache.insert(cache.ticket(), &key(n), &session(100));
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.contains(&key(1)) && cache.contains(&key(3)));
        // Evicted keys left in the order queue do not let the cache grow past its bound.
        for n in 4..=200 {
            cache.insert(cache.ticket(), &key(n), &session(100));
            cache.apply(EvictionEvent::Evict(key(n - 1)));
        }
        assert!(cache.len() <= 2);
        assert!(cache.lock().order.len() <= 4);
    }
}
