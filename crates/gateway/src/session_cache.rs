//! A gateway's local copy of recently used sessions, so a busy token does not cost a Redis
//! round trip on every request.
//!
//! Safe only because every deletion of a session is announced (see
//! [`gatehouse_store::Evictions`]): a background task follows the store's evictions and drops
//! the entry named, clears everything on `Reset`, and bypasses the cache entirely while the
//! subscription is down (`Lost` until the next `Reset`), so a revocation is never missed, only
//! possibly seen through Redis instead of the cache. Deletions made by this process evict here
//! before they return ([`AnyTokenStore::on_local_eviction`]); those of other processes arrive
//! over pub/sub within milliseconds. What the cache cannot know about it does
//! not hold: only sessions found are cached (a token issued a moment later on another gateway
//! must not be refused), and client and policy checks run on every request against the live
//! config, cached session or not.
//!
//! Every serving thread reads it on every authenticated request, so it has no lock of its own:
//! the entries live in a sharded [`quick_cache`] map (short per-shard locks, bounded in count)
//! and trust and generation are one atomic word. A disabled cache holds nothing at all and
//! every call on it returns at once.
//!
//! # Why no stale session is served
//! An eviction first bumps the generation, then removes the key. A lookup that went to the
//! store took a [`Ticket`] (the generation) before asking it, inserts its answer tagged with
//! the ticket, and then reads the generation again: unchanged, it marks the entry confirmed;
//! changed, it takes the entry out again. A reader serves an entry only if it is confirmed or
//! the generation still equals its tag. So an answer read from the store before a deletion
//! was announced is either in the map before the eviction's removal (and removed by it), or
//! inserted after it, when its re-check sees the bump and nobody serves it meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use gatehouse_model::Session;
use gatehouse_model::storage::TokenKey;
use gatehouse_store::{AnyTokenStore, EvictionEvent, Evictions};
use tokio::task::JoinHandle;

/// Entries held at most; when full, older and less used entries go first.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How long an entry is served from the cache at most. Revocations do not depend on it (they
/// are pushed); it bounds what a missed message could cost should pub/sub ever lose one
/// without the connection dropping.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// The low bit of the state word: the eviction subscription is live and every entry predates
/// no missed message. The rest is the generation, bumped (by 2) on every eviction, reset and
/// loss.
const TRUSTED: u64 = 1;
const ONE_GENERATION: u64 = 2;

pub struct SessionCache {
    /// `None`: disabled, nothing cached and no shared state touched.
    live: Option<Live>,
}

struct Live {
    state: AtomicU64,
    entries: quick_cache::sync::Cache<TokenKey, Arc<Entry>>,
    max_age: Duration,
}

struct Entry {
    session: Session,
    cached_at: Instant,
    /// The state word the inserting lookup's ticket held.
    ticket: u64,
    /// Set once the inserter saw no eviction between its ticket and its insert.
    confirmed: AtomicBool,
}

/// What [`SessionCache::ticket`] hands out before a Redis lookup, for [`SessionCache::insert`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl SessionCache {
    /// A cache that serves nothing until it is [`SessionCache::follow`]ing a subscription that
    /// reports itself live. A `capacity` of 0 is a disabled cache.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        let live = (capacity > 0).then(|| Live {
            state: AtomicU64::new(0),
            entries: quick_cache::sync::Cache::new(capacity),
            max_age,
        });
        Self { live }
    }

    /// A cache that is never trusted, so every lookup goes to the store: revocation is then
    /// immediate, at the price of a store round trip per request.
    pub fn disabled() -> Arc<Self> {
        Arc::new(Self { live: None })
    }

    /// A cache with the default bounds, following `tokens`' evictions. Needs a Tokio runtime.
    pub fn start(tokens: &AnyTokenStore) -> Arc<Self> {
        let cache = Arc::new(Self::new(DEFAULT_CAPACITY, DEFAULT_MAX_AGE));
        // The task ends with the cache; the handle is not needed to stop it.
        drop(cache.follow(tokens.evictions()));
        cache.hear_local_deletions(tokens);
        cache
    }

    /// Evicts what this process deletes through `tokens` (or a clone of it) before the deleting
    /// call returns, so this node's own revocations and rotations take effect here at once;
    /// pub/sub brings the same key again a moment later, which is harmless. Each separately
    /// connected store this process deletes through (one per serving thread) must be passed.
    pub fn hear_local_deletions(self: &Arc<Self>, tokens: &AnyTokenStore) {
        if self.live.is_none() {
            return;
        }
        let cache = Arc::downgrade(self);
        tokens.on_local_eviction(move |key| {
            if let Some(cache) = cache.upgrade() {
                cache.apply(EvictionEvent::Evict(*key));
            }
        });
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
        let Some(live) = &self.live else { return };
        // The bump comes first, so that a lookup racing with the removal below cannot confirm
        // an answer it read before the deletion (see the module doc).
        let bump = |state: u64| {
            let next = state.wrapping_add(ONE_GENERATION);
            Some(match event {
                EvictionEvent::Evict(_) => next,
                EvictionEvent::Reset => next | TRUSTED,
                EvictionEvent::Lost => next & !TRUSTED,
            })
        };
        // `bump` always answers Some, so this cannot fail.
        let _ = live.state.fetch_update(Ordering::SeqCst, Ordering::SeqCst, bump);
        match event {
            EvictionEvent::Evict(key) => {
                live.entries.remove(&key);
            }
            EvictionEvent::Reset | EvictionEvent::Lost => live.entries.clear(),
        }
    }

    /// The cached session under `key`, unless it is older than the max age, expired at `now`
    /// (unix seconds; left to the store, which answers as it always did), or the cache is not
    /// trusted right now.
    pub fn get(&self, key: &TokenKey, now: u64) -> Option<Session> {
        let live = self.live.as_ref()?;
        let state = live.state.load(Ordering::SeqCst);
        if state & TRUSTED == 0 {
            return None;
        }
        let entry = live.entries.get(key)?;
        if !entry.confirmed.load(Ordering::SeqCst) && live.state.load(Ordering::SeqCst) != entry.ticket {
            // Its inserter has not confirmed it, and an eviction came in since its ticket.
            return None;
        }
        if entry.cached_at.elapsed() < live.max_age && !entry.session.is_expired(now) {
            return Some(entry.session.clone());
        }
        // Only this entry: a fresh one that replaced it meanwhile stays.
        live.entries.remove_if(key, |current| Arc::ptr_eq(current, &entry));
        None
    }

    /// Taken before asking the store, so that [`SessionCache::insert`] can tell whether an
    /// eviction came in meanwhile.
    pub fn ticket(&self) -> Ticket {
        let Some(live) = &self.live else { return Ticket(None) };
        let state = live.state.load(Ordering::SeqCst);
        Ticket((state & TRUSTED != 0).then_some(state))
    }

    /// Caches what the store answered for `key`, unless anything was evicted (or the
    /// subscription reset or lost) since `ticket` was taken.
    pub fn insert(&self, ticket: Ticket, key: &TokenKey, session: &Session) {
        let (Some(live), Some(ticket)) = (&self.live, ticket.0) else { return };
        if live.state.load(Ordering::SeqCst) != ticket {
            return;
        }
        let entry = Arc::new(Entry {
            session: session.clone(),
            cached_at: Instant::now(),
            ticket,
            confirmed: AtomicBool::new(false),
        });
        live.entries.insert(*key, Arc::clone(&entry));
        // An eviction between the check above and the insert may already have run its removal
        // and missed this entry: it is confirmed only if none did, else taken out again.
        if live.state.load(Ordering::SeqCst) == ticket {
            entry.confirmed.store(true, Ordering::SeqCst);
        } else {
            live.entries.remove_if(key, |current| Arc::ptr_eq(current, &entry));
        }
    }

    /// Whether lookups are served from the cache right now (the subscription is live).
    pub fn is_trusted(&self) -> bool {
        self.live.as_ref().is_some_and(|live| live.state.load(Ordering::SeqCst) & TRUSTED != 0)
    }

    /// Entries held, possibly aged out but not yet dropped.
    pub fn len(&self) -> usize {
        self.live.as_ref().map_or(0, |live| live.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, key: &TokenKey) -> bool {
        self.live.as_ref().is_some_and(|live| live.entries.contains_key(key))
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sessions stay out of logs.
        f.debug_struct("SessionCache")
            .field("enabled", &self.live.is_some())
            .field("entries", &self.len())
            .field("trusted", &self.is_trusted())
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
    fn a_full_cache_stays_within_its_bound_and_admits_the_newest() {
        // Which older entry goes is quick_cache's policy (entries read since they were cached
        // are kept over those that were not); the bound and the admission are ours.
        let cache = live(2);
        for n in 1..=3 {
            cache.insert(cache.ticket(), &key(n), &session(100));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.contains(&key(3)));
        for n in 4..=200 {
            cache.insert(cache.ticket(), &key(n), &session(100));
            assert!(cache.contains(&key(n)));
            cache.apply(EvictionEvent::Evict(key(n - 1)));
            assert!(cache.len() <= 2);
        }
    }

    #[test]
    fn a_disabled_cache_holds_and_serves_nothing() {
        for cache in [SessionCache::disabled(), Arc::new(SessionCache::new(0, Duration::from_secs(60)))] {
            cache.apply(EvictionEvent::Reset);
            assert!(!cache.is_trusted());
            cache.insert(cache.ticket(), &key(1), &session(100));
            assert!(cache.is_empty());
            assert_eq!(cache.get(&key(1), 50), None);
        }
    }

    /// Real threads on one real cache, as serving threads and the eviction follower use it:
    /// readers look sessions up (the cache, else the "store" and insert), one thread deletes
    /// and announces them, at times losing the subscription, missing deletions and resetting.
    /// Once a deletion is announced (or a reset after a missed one has been applied) no lookup
    /// may return that session, whatever the interleaving; the bound holds throughout.
    #[test]
    fn threads_never_see_an_announced_revocation_and_the_bound_holds() {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        const KEYS: usize = 3000;
        const CAPACITY: usize = 256;
        const READERS: usize = 4;
        const NOW: u64 = 50;
        let key_of = |k: usize| -> TokenKey {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(k as u64).to_le_bytes());
            key
        };
        // Each key's session says which key it is, so a mix-up shows too.
        let session_of = |k: usize| session(1_000 + k as u64);
        let cache = live(CAPACITY);
        let stored: Vec<AtomicBool> = (0..KEYS).map(|_| AtomicBool::new(true)).collect();
        let announced: Vec<AtomicBool> = (0..KEYS).map(|_| AtomicBool::new(false)).collect();
        let done = AtomicBool::new(false);
        // The next key the deleter deletes: readers look up the few keys from there on, so
        // their lookups race with its deletions.
        let next = AtomicUsize::new(0);
        let (hits, raced) = (AtomicUsize::new(0), AtomicUsize::new(0));

        std::thread::scope(|scope| {
            for reader in 0..READERS {
                let (cache, stored, announced, done, next, hits, raced) =
                    (&cache, &stored, &announced, &done, &next, &hits, &raced);
                scope.spawn(move || {
                    let mut i = reader;
                    while !done.load(Ordering::SeqCst) {
                        // Mostly the keys just deleted or about to be, some far behind.
                        let k = match i % 16 {
                            0 => i * 7,
                            near => next.load(Ordering::SeqCst) + near % 6,
                        }
                        .saturating_sub(2)
                            % KEYS;
                        i += 1;
                        let was_announced = announced[k].load(Ordering::SeqCst);
                        let found = match cache.get(&key_of(k), NOW) {
                            Some(session) => {
                                hits.fetch_add(1, Ordering::Relaxed);
                                Some(session)
                            }
                            None => {
                                let ticket = cache.ticket();
                                if stored[k].load(Ordering::SeqCst) {
                                    // Widen the window between the store's answer and the insert.
                                    std::thread::yield_now();
                                    if !stored[k].load(Ordering::SeqCst) {
                                        raced.fetch_add(1, Ordering::Relaxed);
                                    }
                                    cache.insert(ticket, &key_of(k), &session_of(k));
                                    Some(session_of(k))
                                } else {
                                    None
                                }
                            }
                        };
                        if was_announced {
                            assert_eq!(found, None, "key {k}: served after its deletion was announced");
                        }
                        if let Some(found) = found {
                            assert_eq!(found, session_of(k), "key {k}: another key's session");
                        }
                        assert!(cache.len() <= CAPACITY, "{} entries", cache.len());
                    }
                });
            }
            let (cache, stored, announced, done, next) = (&cache, &stored, &announced, &done, &next);
            scope.spawn(move || {
                let mut missed = Vec::new();
                for k in 0..KEYS {
                    next.store(k, Ordering::SeqCst);
                    stored[k].store(false, Ordering::SeqCst);
                    if k % 300 == 150 {
                        cache.apply(EvictionEvent::Lost);
                    }
                    if cache.is_trusted() {
                        cache.apply(EvictionEvent::Evict(key_of(k)));
                        announced[k].store(true, Ordering::SeqCst);
                    } else {
                        // Deleted while the subscription is down: never announced.
                        missed.push(k);
                        if missed.len() == 20 {
                            cache.apply(EvictionEvent::Reset);
                            for k in missed.drain(..) {
                                announced[k].store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    for _ in 0..20 {
                        std::thread::yield_now();
                    }
                }
                done.store(true, Ordering::SeqCst);
            });
        });
        let (hits, raced) = (hits.into_inner(), raced.into_inner());
        eprintln!("{hits} cache hits, {raced} store answers outlived by their deletion");
        assert!(hits > 0, "the cache served nothing: the test proved nothing");
    }
}
