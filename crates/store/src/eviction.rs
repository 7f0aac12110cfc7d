//! Revocation propagation: every session a token store deletes is announced, so that gateways
//! caching sessions locally can drop their copy.
//!
//! # Protocol
//! - Redis: each deletion of `gh:at:{<hex>}` is followed, on the same connection (one pipeline
//!   on a single server), by `PUBLISH gh:evict <hex>`. The DEL comes first, so a gateway that
//!   reacts to the message by reading Redis again never finds the old session there. On Redis
//!   Cluster, PUBLISH reaches subscribers on every node.
//! - Memory (`gatehouse dev`, gateway and control plane in one process): a broadcast channel
//!   inside the store.
//!
//! Pub/sub arrives a moment after the deletion, so a process that deletes a session also tells
//! its own consumers at once, in the deleting task ([`AnyTokenStore::on_local_eviction`]): a
//! gateway that revokes a token, or rotates a refresh token, never serves the old session from
//! its own cache afterwards, and `gatehouse dev` (one process) revokes synchronously everywhere.
//! Other processes learn of it through the channel, milliseconds later.
//!
//! Pub/sub is fire and forget: a subscriber that is disconnected misses messages for good. So a
//! subscription reports, besides each eviction, when it (re)starts ([`EvictionEvent::Reset`]:
//! anything cached before may be stale) and when it is lost ([`EvictionEvent::Lost`]: trust
//! nothing until the next `Reset`). Client and policy deletions need no event: gateways read
//! those from their live config on every request.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use gatehouse_model::storage::TokenKey;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::AnyTokenStore;

/// The Redis channel deleted sessions are announced on; messages are the 64 hex digits of the
/// session's [`TokenKey`].
pub const EVICTION_CHANNEL: &str = "gh:evict";

/// Events a subscriber queues before the consumer reads them. Full means the consumer is behind:
/// the Redis follower then stops reading, Redis buffers for it and, past its pub/sub output
/// limit, drops the connection, which ends in a `Reset`; the memory channel reports a lag, which
/// becomes a `Reset` too. Either way nothing is lost silently.
pub(crate) const EVENT_BUFFER: usize = 4096;

/// Backoff between attempts to (re)subscribe to Redis.
pub(crate) const RESUBSCRIBE_MIN_DELAY: Duration = Duration::from_millis(50);
pub(crate) const RESUBSCRIBE_MAX_DELAY: Duration = Duration::from_secs(2);

/// What a subscription tells its consumer, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionEvent {
    /// The session under this key was deleted (revoked, or replaced by a refresh).
    Evict(TokenKey),
    /// The subscription is (again) live from here on, but messages may have been missed before:
    /// drop everything cached, then trust the events that follow.
    Reset,
    /// The subscription is down: evictions are being missed right now, so nothing cached may be
    /// trusted until the next `Reset`.
    Lost,
}

/// A subscription to a token store's evictions; see [`AnyTokenStore::evictions`]. Dropping it
/// ends the subscription (and its Redis connection).
pub struct Evictions {
    source: Source,
}

enum Source {
    Memory { rx: broadcast::Receiver<TokenKey>, started: bool },
    Redis { rx: mpsc::Receiver<EvictionEvent>, follower: JoinHandle<()> },
}

impl AnyTokenStore {
    /// Subscribes to the sessions this store (and, for Redis, every other process sharing the
    /// server) deletes from now on. The first event is [`EvictionEvent::Reset`] once the
    /// subscription is live; until then the consumer must not trust any cache. Needs a Tokio
    /// runtime (Redis: the subscription runs as a task that reconnects with backoff).
    pub fn evictions(&self) -> Evictions {
        let source = match self {
            AnyTokenStore::Memory(s) => Source::Memory { rx: s.subscribe_evictions(), started: false },
            AnyTokenStore::Redis(s) => {
                let (tx, rx) = mpsc::channel(EVENT_BUFFER);
                Source::Redis { rx, follower: tokio::spawn(s.inner().follow_evictions(tx)) }
            }
        };
        Evictions { source }
    }
}

impl AnyTokenStore {
    /// Runs `hook` with the key of every session this process deletes through this store (or a
    /// clone of it), in the deleting task, before the deleting call returns. For a cache in the
    /// same process: what it was told by the time a revocation answers is never served again.
    /// Hooks must be quick and must not call the store.
    pub fn on_local_eviction(&self, hook: impl Fn(&TokenKey) + Send + Sync + 'static) {
        let hooks = match self {
            AnyTokenStore::Memory(s) => s.local_evictions(),
            AnyTokenStore::Redis(s) => s.inner().local_evictions.clone(),
        };
        hooks.add(Arc::new(hook));
    }
}

/// The synchronous side of announcing deletions, for consumers in the deleting process; shared
/// by a store's clones. Registration is rare (start-up) and calls are per deletion, so a
/// read-mostly lock suffices.
#[derive(Clone, Default)]
pub(crate) struct LocalEvictionHooks(Arc<RwLock<Vec<LocalEvictionHook>>>);

type LocalEvictionHook = Arc<dyn Fn(&TokenKey) + Send + Sync>;

impl LocalEvictionHooks {
    fn add(&self, hook: LocalEvictionHook) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).push(hook);
    }

    pub(crate) fn run(&self, keys: &[TokenKey]) {
        let hooks = self.0.read().unwrap_or_else(PoisonError::into_inner);
        for hook in hooks.iter() {
            for key in keys {
                hook(key);
            }
        }
    }
}

impl Evictions {
    /// The next event; `None` only once the store is gone (memory) or the follower stopped,
    /// which callers should treat like [`EvictionEvent::Lost`] for good.
    pub async fn recv(&mut self) -> Option<EvictionEvent> {
        match &mut self.source {
            Source::Memory { rx, started } => {
                // In-process delivery cannot drop out, so the subscription is live the moment it
                // exists: say so first, like a Redis subscription does once connected.
                if !*started {
                    *started = true;
                    return Some(EvictionEvent::Reset);
                }
                match rx.recv().await {
                    Ok(key) => Some(EvictionEvent::Evict(key)),
                    // Messages were dropped for this slow receiver: what it cached may be stale.
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "eviction subscriber lagged; resetting");
                        Some(EvictionEvent::Reset)
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            }
            Source::Redis { rx, .. } => rx.recv().await,
        }
    }
}

impl Drop for Evictions {
    fn drop(&mut self) {
        if let Source::Redis { follower, .. } = &self.source {
            // The follower would notice the closed channel only at its next message.
            follower.abort();
        }
    }
}

impl std::fmt::Debug for Evictions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.source {
            Source::Memory { .. } => "memory",
            Source::Redis { .. } => "redis",
        };
        f.debug_struct("Evictions").field("source", &kind).finish()
    }
}

/// The memory store's side of the channel, held in its tables so that each removal announces
/// itself under the same lock.
pub(crate) struct EvictionSender {
    channel: broadcast::Sender<TokenKey>,
    local: LocalEvictionHooks,
}

impl Default for EvictionSender {
    fn default() -> Self {
        Self { channel: broadcast::channel(EVENT_BUFFER).0, local: LocalEvictionHooks::default() }
    }
}

impl EvictionSender {
    pub(crate) fn send(&self, key: &TokenKey) {
        self.local.run(std::slice::from_ref(key));
        // No receiver (no gateway in this process) is not an error.
        let _ = self.channel.send(*key);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TokenKey> {
        self.channel.subscribe()
    }

    pub(crate) fn local(&self) -> LocalEvictionHooks {
        self.local.clone()
    }
}
