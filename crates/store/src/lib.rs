//! Storage behind Gatehouse: traits, and their Redis, file and in-memory implementations.
//!
//! # Layout
//! - [`TokenStore`]: token state shared by all gateways (sessions of access tokens, authorization
//!   codes, refresh tokens and their families; later counters). [`RedisTokenStore`] in
//!   production, [`MemoryTokenStore`] for `gatehouse dev`. Both pass the same contract tests
//!   (`tests/token_contract.rs`, `tests/grant_contract.rs`).
//! - [`StateStore`]: the control plane's durable state (APIs, clients) and its revision.
//!   [`FileStateStore`] (default: a data directory, atomic writes), [`MemoryStateStore`]
//!   (`dev`) and [`RedisStateStore`] (shared by control-plane replicas, which follow each
//!   other through its change log). Same contract tests for all (`tests/state_contract.rs`).
//! - [`AnalyticsStore`]: usage counters per client, API and minute, written in batches by
//!   gateways and read by the control plane (`analytics.rs`, `tests/analytics_contract.rs`).
//! - [`FailureStore`]: failed-authentication counters and lockouts, shared like the tokens
//!   (`throttle.rs`, `tests/throttle_contract.rs`); a trait of its own, implemented by the
//!   token stores.
//! - [`health`]: whether a store is reachable, for readiness probes, from one cached PING.
//! - [`AnyTokenStore`] / [`AnyStateStore`]: enums that pick an implementation at start-up. The
//!   token path is hot, so it dispatches through a `match` rather than a boxed trait object
//!   whose every call would allocate a boxed future.
//!
//! Tokens never reach storage in clear: callers pass a [`TokenKey`], a keyed hash of the token.

use std::future::Future;
use std::time::Duration;

use gatehouse_model::{AuthorizationCode, Change, ConfigState, FamilyMembers, RefreshGrant, Session, Taken};
use gatehouse_telemetry::metrics::RedisOp;

mod analytics;
mod common;
mod eviction;
mod file;
pub mod format;
pub mod health;
mod memory;
mod memory_tables;
mod redis_conn;
mod redis_state;
mod redis_token;
mod throttle;

pub use analytics::{AnalyticsStore, MinuteAggregate, unix_minute_now};
pub use eviction::{EVICTION_CHANNEL, EvictionEvent, Evictions};
pub use file::FileStateStore;
pub use memory::{MemoryStateStore, MemoryTokenStore};
pub use redis_state::RedisStateStore;
pub use redis_token::RedisTokenStore;
pub use throttle::{FailurePolicy, FailureStore};

/// HMAC-SHA-256 of a token under the cluster's token key: the only form in which a token is
/// stored or looked up.
pub type TokenKey = [u8; 32];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or answered with an error; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data read back could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Another writer (a control-plane replica) committed first; the store is at `current`.
    #[error("the state moved on to revision {current}")]
    Conflict { current: u64 },
    /// The change log no longer reaches back to the revision asked for: reload the state.
    #[error("the change log no longer reaches back to revision {0}")]
    Truncated(u64),
}

/// Token state shared by every gateway.
pub trait TokenStore: Send + Sync + 'static {
    /// Stores `session` under `key`, expiring after `ttl`.
    fn put_session(
        &self,
        key: &TokenKey,
        session: &Session,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live session under `key`, if any (expired entries are never returned).
    fn get_session(&self, key: &TokenKey)
    -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Removes the session; `true` when one was there.
    fn delete_session(&self, key: &TokenKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores an authorization code until it is redeemed or `ttl` passes.
    fn put_code(
        &self,
        key: &TokenKey,
        code: &AuthorizationCode,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Redeems a code, atomically: of any number of concurrent calls exactly one gets `Fresh`.
    /// The code is replaced by a marker naming `family_id` (the family the caller is about to
    /// issue), kept for `replay_window`, so a later call gets `Replayed { family_id }`.
    fn redeem_code(
        &self,
        key: &TokenKey,
        family_id: &str,
        replay_window: Duration,
    ) -> impl Future<Output = Result<Taken<AuthorizationCode>, StoreError>> + Send;

    /// Stores a refresh token's grant until it is used or `ttl` passes.
    fn put_refresh(
        &self,
        key: &TokenKey,
        grant: &RefreshGrant,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Uses a refresh token, atomically and once, like [`TokenStore::redeem_code`]; the marker
    /// names the grant's own `family_id`.
    fn use_refresh(
        &self,
        key: &TokenKey,
        replay_window: Duration,
    ) -> impl Future<Output = Result<Taken<RefreshGrant>, StoreError>> + Send;

    /// Reads a live (unused) refresh token's grant without spending it (introspection).
    fn get_refresh(
        &self,
        key: &TokenKey,
    ) -> impl Future<Output = Result<Option<RefreshGrant>, StoreError>> + Send;

    /// Records the live tokens of a family (replacing the previous record) for `ttl`.
    fn set_family(
        &self,
        family_id: &str,
        members: &FamilyMembers,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes a family: first remembers the revocation for `ttl` (see
    /// [`TokenStore::family_revoked`]), then deletes the live access token and refresh token
    /// the family record names, and the record.
    fn revoke_family(
        &self,
        family_id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the family was revoked. A refresh checks this after writing its new tokens, so a
    /// revocation racing with it cannot leave the new pair alive.
    fn family_revoked(&self, family_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Indexes a token of a client, for listing and revoke-all: `entry` lives until
    /// `expires_at` (unix seconds). Indexing the same entry again moves its expiry.
    fn index_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of a client's entries that are still live at `now`, soonest expiry first, and the
    /// number of live entries: O(log n + page), never a scan of all tokens.
    fn list_client_tokens(
        &self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError>> + Send;

    /// Counts one request of `subject` against its rate limit and quota, atomically and in one
    /// round trip, so any number of gateways enforce one limit exactly. A request refused by
    /// either limit consumes neither.
    fn check_limits(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> impl Future<Output = Result<LimitOutcome, StoreError>> + Send;

    /// Counts `count` requests of `subject` at once, as [`TokenStore::check_limits`] would one
    /// after another, atomically and in one round trip: their outcomes, in order. For a gateway
    /// that gathers the concurrent checks of one subject into one.
    fn check_limits_batch(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
        count: u64,
    ) -> impl Future<Output = Result<Vec<LimitOutcome>, StoreError>> + Send;

    /// Revokes every indexed token of a client: deletes access-token sessions, revokes families
    /// (remembered for `family_window`), and drops the index. Returns how many entries it found.
    fn revoke_client_tokens(
        &self,
        client: &ClientRef<'_>,
        family_window: Duration,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

/// The limits of one subject (a token family, or a client acting on its own behalf).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `rate` requests per `per` seconds, smoothed (GCRA with a burst of `rate` rounded down,
    /// at least 1).
    pub rate: Option<RateLimit>,
    /// `max` requests per fixed period of `period_secs`, counted from the first request.
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub per_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u64,
    pub period_secs: u64,
}

/// What a limit check decided, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOutcome {
    /// `None`: allowed (and counted).
    pub refused_by: Option<LimitKind>,
    /// Requests the rate limit still allows right now (its burst left), when there is one.
    pub rate_remaining: Option<u64>,
    /// Unix milliseconds when the rate limit allows a full burst again.
    pub rate_reset_ms: Option<u64>,
    pub quota_remaining: Option<u64>,
    /// Unix milliseconds when the quota period ends.
    pub quota_reset_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rate,
    Quota,
}

/// A client app, as the token index names it (client ids are unique within an API).
#[derive(Debug, Clone, Copy)]
pub struct ClientRef<'a> {
    pub api_id: &'a str,
    pub client_id: &'a str,
}

/// One entry of a client's token index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientTokenEntry {
    /// An access token without a family (client_credentials), by storage key.
    Access(TokenKey),
    /// A token family (code and password grants), whose live members change on refresh.
    Family(String),
}

/// The control plane's durable state.
pub trait StateStore: Send + Sync + 'static {
    /// The current state; on first use an empty one with a fresh random store id and token key,
    /// which is persisted before it is returned.
    fn load(&self) -> impl Future<Output = Result<ConfigState, StoreError>> + Send;

    /// Durably applies `change` as revision `expected + 1` if the store is still at revision
    /// `expected`, and returns the new revision; when this returns `Ok`, the change survives a
    /// crash. [`StoreError::Conflict`] when another writer committed first: the caller catches
    /// up (see [`StateStore::changes_after`]), re-validates and retries.
    fn commit(&self, expected: u64, change: &Change) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Whether other processes write to this store too (control-plane replicas), so that a
    /// control plane must follow it with [`StateStore::changes_after`].
    fn is_shared(&self) -> bool {
        false
    }

    /// The changes committed after `revision`, oldest first, waiting up to `wait` while there
    /// are none. [`StoreError::Truncated`] when the log no longer reaches back that far.
    /// Single-writer stores keep no log: they answer with an error.
    fn changes_after(
        &self,
        revision: u64,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<(u64, Change)>, StoreError>> + Send {
        let _ = wait;
        std::future::ready(Err(StoreError::Truncated(revision)))
    }
}

/// Times a call to Redis and counts its failure: only `Unavailable` means Redis could not
/// answer; the other errors are about the data and are counted where they are handled.
async fn timed<T>(
    op: &'static RedisOp,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = call.await;
    op.record(started.elapsed(), matches!(result, Err(StoreError::Unavailable(_))));
    result
}

/// One metric handle set per token-store operation, registered on first use.
mod redis_ops {
    use gatehouse_telemetry::metrics::RedisOp;

    pub(crate) static PUT_SESSION: RedisOp = RedisOp::new("put_session");
    pub(crate) static GET_SESSION: RedisOp = RedisOp::new("get_session");
    pub(crate) static DELETE_SESSION: RedisOp = RedisOp::new("delete_session");
    pub(crate) static PUT_CODE: RedisOp = RedisOp::new("put_code");
    pub(crate) static REDEEM_CODE: RedisOp = RedisOp::new("redeem_code");
    pub(crate) static PUT_REFRESH: RedisOp = RedisOp::new("put_refresh");
    pub(crate) static USE_REFRESH: RedisOp = RedisOp::new("use_refresh");
    pub(crate) static GET_REFRESH: RedisOp = RedisOp::new("get_refresh");
    pub(crate) static SET_FAMILY: RedisOp = RedisOp::new("set_family");
    pub(crate) static REVOKE_FAMILY: RedisOp = RedisOp::new("revoke_family");
    pub(crate) static FAMILY_REVOKED: RedisOp = RedisOp::new("family_revoked");
    pub(crate) static INDEX_CLIENT_TOKEN: RedisOp = RedisOp::new("index_client_token");
    pub(crate) static LIST_CLIENT_TOKENS: RedisOp = RedisOp::new("list_client_tokens");
    pub(crate) static CHECK_LIMITS: RedisOp = RedisOp::new("check_limits");
    pub(crate) static REVOKE_CLIENT_TOKENS: RedisOp = RedisOp::new("revoke_client_tokens");
}

/// The token store chosen at start-up.
#[derive(Clone)]
pub enum AnyTokenStore {
    Memory(MemoryTokenStore),
    Redis(RedisTokenStore),
}

impl TokenStore for AnyTokenStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.put_session(key, session, ttl).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::PUT_SESSION, s.put_session(key, session, ttl)).await,
        }
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.get_session(key).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::GET_SESSION, s.get_session(key)).await,
        }
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.delete_session(key).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::DELETE_SESSION, s.delete_session(key)).await,
        }
    }

    async fn put_code(
        &self,
        key: &TokenKey,
        code: &AuthorizationCode,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.put_code(key, code, ttl).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::PUT_CODE, s.put_code(key, code, ttl)).await,
        }
    }

    async fn redeem_code(
        &self,
        key: &TokenKey,
        family_id: &str,
        replay_window: Duration,
    ) -> Result<Taken<AuthorizationCode>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.redeem_code(key, family_id, replay_window).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::REDEEM_CODE, s.redeem_code(key, family_id, replay_window)).await
            }
        }
    }

    async fn put_refresh(
        &self,
        key: &TokenKey,
        grant: &RefreshGrant,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.put_refresh(key, grant, ttl).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::PUT_REFRESH, s.put_refresh(key, grant, ttl)).await,
        }
    }

    async fn use_refresh(
        &self,
        key: &TokenKey,
        replay_window: Duration,
    ) -> Result<Taken<RefreshGrant>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.use_refresh(key, replay_window).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::USE_REFRESH, s.use_refresh(key, replay_window)).await
            }
        }
    }

    async fn get_refresh(&self, key: &TokenKey) -> Result<Option<RefreshGrant>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.get_refresh(key).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::GET_REFRESH, s.get_refresh(key)).await,
        }
    }

    async fn set_family(
        &self,
        family_id: &str,
        members: &FamilyMembers,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.set_family(family_id, members, ttl).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::SET_FAMILY, s.set_family(family_id, members, ttl)).await
            }
        }
    }

    async fn revoke_family(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.revoke_family(family_id, ttl).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::REVOKE_FAMILY, s.revoke_family(family_id, ttl)).await
            }
        }
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.family_revoked(family_id).await,
            AnyTokenStore::Redis(s) => timed(&redis_ops::FAMILY_REVOKED, s.family_revoked(family_id)).await,
        }
    }

    async fn index_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.index_client_token(client, entry, expires_at).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::INDEX_CLIENT_TOKEN, s.index_client_token(client, entry, expires_at)).await
            }
        }
    }

    async fn list_client_tokens(
        &self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.list_client_tokens(client, now, offset, limit).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::LIST_CLIENT_TOKENS, s.list_client_tokens(client, now, offset, limit)).await
            }
        }
    }

    async fn check_limits(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<LimitOutcome, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.check_limits(subject, limits, now_ms).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::CHECK_LIMITS, s.check_limits(subject, limits, now_ms)).await
            }
        }
    }

    async fn check_limits_batch(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
        count: u64,
    ) -> Result<Vec<LimitOutcome>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.check_limits_batch(subject, limits, now_ms, count).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::CHECK_LIMITS, s.check_limits_batch(subject, limits, now_ms, count)).await
            }
        }
    }

    async fn revoke_client_tokens(
        &self,
        client: &ClientRef<'_>,
        family_window: Duration,
    ) -> Result<usize, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.revoke_client_tokens(client, family_window).await,
            AnyTokenStore::Redis(s) => {
                timed(&redis_ops::REVOKE_CLIENT_TOKENS, s.revoke_client_tokens(client, family_window)).await
            }
        }
    }
}

impl AnyTokenStore {
    /// Whether the store answers at all (one PING on Redis; the in-process store always does).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(_) => Ok(()),
            AnyTokenStore::Redis(s) => s.ping().await,
        }
    }
}

/// The state store chosen at start-up.
pub enum AnyStateStore {
    Memory(MemoryStateStore),
    File(FileStateStore),
    Redis(RedisStateStore),
}

impl AnyStateStore {
    /// Whether the store answers at all: one PING on Redis. The file store lives in this
    /// process's data dir, and its writes report their own failures, so it is always reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyStateStore::Memory(_) | AnyStateStore::File(_) => Ok(()),
            AnyStateStore::Redis(s) => s.ping().await,
        }
    }
}

impl StateStore for AnyStateStore {
    async fn load(&self) -> Result<ConfigState, StoreError> {
        match self {
            AnyStateStore::Memory(s) => s.load().await,
            AnyStateStore::File(s) => s.load().await,
            AnyStateStore::Redis(s) => s.load().await,
        }
    }

    async fn commit(&self, expected: u64, change: &Change) -> Result<u64, StoreError> {
        match self {
            AnyStateStore::Memory(s) => s.commit(expected, change).await,
            AnyStateStore::File(s) => s.commit(expected, change).await,
            AnyStateStore::Redis(s) => s.commit(expected, change).await,
        }
    }

    fn is_shared(&self) -> bool {
        match self {
            AnyStateStore::Memory(s) => s.is_shared(),
            AnyStateStore::File(s) => s.is_shared(),
            AnyStateStore::Redis(s) => s.is_shared(),
        }
    }

    async fn changes_after(&self, revision: u64, wait: Duration) -> Result<Vec<(u64, Change)>, StoreError> {
        match self {
            AnyStateStore::Memory(s) => s.changes_after(revision, wait).await,
            AnyStateStore::File(s) => s.changes_after(revision, wait).await,
            AnyStateStore::Redis(s) => s.changes_after(revision, wait).await,
        }
    }
}
