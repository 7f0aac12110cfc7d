//! Storage behind Gatehouse: traits, and their Redis, file and in-memory implementations.
//!
//! # Layout
//! - [`TokenStore`]: token state shared by all gateways (sessions of access tokens; later codes,
//!   refresh tokens, counters). [`RedisTokenStore`] in production, [`MemoryTokenStore`] for
//!   `gatehouse dev`. Both pass the same contract tests (`tests/token_contract.rs`).
//! - [`StateStore`]: the control plane's durable state (APIs, clients) and its revision.
//!   [`FileStateStore`] (default: a data directory, atomic writes) and [`MemoryStateStore`]
//!   (`dev`); a Redis implementation for replicas comes later. Same contract tests for all.
//! - [`AnyTokenStore`] / [`AnyStateStore`]: enums that pick an implementation at start-up. The
//!   token path is hot, so it dispatches through a `match` rather than a boxed trait object
//!   whose every call would allocate a boxed future.
//!
//! Tokens never reach storage in clear: callers pass a [`TokenKey`], a keyed hash of the token.

use std::future::Future;
use std::time::Duration;

use gatehouse_model::{Change, ConfigState, Session};

mod common;
mod file;
mod memory;
mod redis_token;

pub use file::FileStateStore;
pub use memory::{MemoryStateStore, MemoryTokenStore};
pub use redis_token::RedisTokenStore;

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
}

/// The control plane's durable state.
pub trait StateStore: Send + Sync + 'static {
    /// The current state; on first use an empty one with a fresh random store id and token key,
    /// which is persisted before it is returned.
    fn load(&self) -> impl Future<Output = Result<ConfigState, StoreError>> + Send;

    /// Durably applies `change` as the next revision and returns that revision. When this
    /// returns `Ok`, the change survives a crash.
    fn commit(&self, change: &Change) -> impl Future<Output = Result<u64, StoreError>> + Send;
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
            AnyTokenStore::Redis(s) => s.put_session(key, session, ttl).await,
        }
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.get_session(key).await,
            AnyTokenStore::Redis(s) => s.get_session(key).await,
        }
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        match self {
            AnyTokenStore::Memory(s) => s.delete_session(key).await,
            AnyTokenStore::Redis(s) => s.delete_session(key).await,
        }
    }
}

/// The state store chosen at start-up.
pub enum AnyStateStore {
    Memory(MemoryStateStore),
    File(FileStateStore),
}

impl StateStore for AnyStateStore {
    async fn load(&self) -> Result<ConfigState, StoreError> {
        match self {
            AnyStateStore::Memory(s) => s.load().await,
            AnyStateStore::File(s) => s.load().await,
        }
    }

    async fn commit(&self, change: &Change) -> Result<u64, StoreError> {
        match self {
            AnyStateStore::Memory(s) => s.commit(change).await,
            AnyStateStore::File(s) => s.commit(change).await,
        }
    }
}
