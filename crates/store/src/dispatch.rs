//! The stores chosen at start-up: [`AnyTokenStore`] and [`AnyStateStore`], enums over the
//! implementations, each contract implemented by passing every call to the variant's store.
//!
//! The token path is hot, so the dispatch is a `match` over the variants, monomorphised and
//! inlined like any generic call, rather than a `dyn` trait object: the contracts' methods
//! return `impl Future`, so a trait object would need every call's future boxed, one
//! allocation per store call on every request.

use std::time::Duration;

use gatehouse_model::storage::{
    AnalyticsStore, ClientRef, ClientTokenEntry, ClientTokenIndex, FailurePolicy, FailureStore, GrantStore,
    LimitOutcome, LimitStore, Limits, MinuteAggregate, SessionStore, StateStore, StoreError, TokenKey,
};
use gatehouse_model::{AuthorizationCode, Change, ConfigState, FamilyMembers, RefreshGrant, Session, Taken};

use crate::{FileStateStore, MemoryStateStore, MemoryTokenStore, Metered, RedisStateStore, RedisTokenStore};

/// Implements `$contract` for the enum `$store` by matching on its variants `{ A, B, … }` and
/// making the same call on the variant's store: one line per method.
macro_rules! dispatch {
    ($store:ident $variants:tt impl $contract:ident { $($methods:tt)* }) => {
        impl $contract for $store {
            dispatch!(@methods $store $variants $contract $($methods)*);
        }
    };
    (@methods $store:ident $variants:tt $contract:ident
        async fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; $($rest:tt)*) => {
        async fn $method(&self $(, $arg: $ty)*) -> $out {
            dispatch!(@match self, $store $variants, store => $contract::$method(store $(, $arg)*).await)
        }
        dispatch!(@methods $store $variants $contract $($rest)*);
    };
    (@methods $store:ident $variants:tt $contract:ident
        fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; $($rest:tt)*) => {
        fn $method(&self $(, $arg: $ty)*) -> $out {
            dispatch!(@match self, $store $variants, store => $contract::$method(store $(, $arg)*))
        }
        dispatch!(@methods $store $variants $contract $($rest)*);
    };
    (@methods $store:ident $variants:tt $contract:ident) => {};
    (@match $self:ident, $store:ident { $($variant:ident),+ }, $bound:ident => $call:expr) => {
        match $self {
            $( $store::$variant($bound) => $call, )+
        }
    };
}

/// The token store chosen at start-up. Build the Redis one with [`AnyTokenStore::redis`], which
/// meters it.
#[derive(Clone)]
pub enum AnyTokenStore {
    /// Not metered: the store metrics are Redis's.
    Memory(MemoryTokenStore),
    /// Every token-store call timed and its failures counted (see [`Metered`]).
    Redis(Metered<RedisTokenStore>),
}

impl AnyTokenStore {
    /// The Redis token store, metered.
    pub fn redis(store: RedisTokenStore) -> Self {
        AnyTokenStore::Redis(Metered::new(store))
    }

    /// Whether the store answers at all (one PING on Redis; the in-process store always does).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyTokenStore::Memory(_) => Ok(()),
            AnyTokenStore::Redis(s) => s.inner().ping().await,
        }
    }
}

dispatch!(AnyTokenStore { Memory, Redis } impl SessionStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError>;
    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError>;
    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError>;
});

dispatch!(AnyTokenStore { Memory, Redis } impl GrantStore {
    async fn put_code(&self, key: &TokenKey, code: &AuthorizationCode, ttl: Duration) -> Result<(), StoreError>;
    async fn redeem_code(&self, key: &TokenKey, family_id: &str, replay_window: Duration) -> Result<Taken<AuthorizationCode>, StoreError>;
    async fn put_refresh(&self, key: &TokenKey, grant: &RefreshGrant, ttl: Duration) -> Result<(), StoreError>;
    async fn use_refresh(&self, key: &TokenKey, replay_window: Duration) -> Result<Taken<RefreshGrant>, StoreError>;
    async fn get_refresh(&self, key: &TokenKey) -> Result<Option<RefreshGrant>, StoreError>;
    async fn set_family(&self, family_id: &str, members: &FamilyMembers, ttl: Duration) -> Result<(), StoreError>;
    async fn revoke_family(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError>;
    async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError>;
});

dispatch!(AnyTokenStore { Memory, Redis } impl ClientTokenIndex {
    async fn index_client_token(&self, client: &ClientRef<'_>, entry: &ClientTokenEntry, expires_at: u64) -> Result<(), StoreError>;
    async fn unindex_client_token(&self, client: &ClientRef<'_>, entry: &ClientTokenEntry) -> Result<bool, StoreError>;
    async fn list_client_tokens(&self, client: &ClientRef<'_>, now: u64, offset: usize, limit: usize) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError>;
    async fn revoke_client_tokens(&self, client: &ClientRef<'_>, family_window: Duration) -> Result<usize, StoreError>;
});

dispatch!(AnyTokenStore { Memory, Redis } impl LimitStore {
    async fn check_limits(&self, subject: &str, limits: &Limits, now_ms: u64) -> Result<LimitOutcome, StoreError>;
    async fn check_limits_batch(&self, subject: &str, limits: &Limits, now_ms: u64, count: u64) -> Result<Vec<LimitOutcome>, StoreError>;
    async fn refund_quota(&self, subject: &str, cells: u64, reset_ms: u64, now_ms: u64) -> Result<u64, StoreError>;
});

dispatch!(AnyTokenStore { Memory, Redis } impl FailureStore {
    async fn lockout(&self, subject: &str, now_ms: u64) -> Result<Option<Duration>, StoreError>;
    async fn record_failure(&self, subject: &str, policy: &FailurePolicy, now_ms: u64) -> Result<Option<Duration>, StoreError>;
});

dispatch!(AnyTokenStore { Memory, Redis } impl AnalyticsStore {
    async fn record(&self, batch: &[MinuteAggregate]) -> Result<(), StoreError>;
    async fn read(&self, client_id: &str, from_minute: u64, to_minute: u64) -> Result<Vec<MinuteAggregate>, StoreError>;
});

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

dispatch!(AnyStateStore { Memory, File, Redis } impl StateStore {
    async fn load(&self) -> Result<ConfigState, StoreError>;
    async fn commit(&self, expected: u64, change: &Change) -> Result<u64, StoreError>;
    async fn changes_after(&self, revision: u64, wait: Duration) -> Result<Vec<(u64, Change)>, StoreError>;
    fn is_shared(&self) -> bool;
});
