//! Redis latency and errors, per token-store operation: one decorator, [`Metered`], around the
//! Redis token store (see [`AnyTokenStore::redis`](crate::AnyTokenStore::redis)), instead of a
//! timer in every dispatch arm.
//!
//! Metric names are the operations' (`put_session`, `get_session`, …); both limit checks count
//! as `check_limits`. The failure counters and analytics pass through unmetered, as they always
//! have.

use std::future::Future;
use std::time::Duration;

use gatehouse_model::storage::{
    AnalyticsStore, ClientRef, ClientTokenEntry, ClientTokenIndex, FailurePolicy, FailureStore, GrantStore,
    LimitOutcome, LimitStore, Limits, MinuteAggregate, SessionStore, StoreError, TokenKey,
};
use gatehouse_model::{AuthorizationCode, FamilyMembers, RefreshGrant, Session, Taken};
use gatehouse_telemetry::metrics::RedisOp;

/// A store whose token-store calls are timed and whose failures are counted.
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
}

impl<S> Metered<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The store itself, for what is not a metered contract call (PING, eviction follower).
    pub fn inner(&self) -> &S {
        &self.inner
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

    pub(super) static PUT_SESSION: RedisOp = RedisOp::new("put_session");
    pub(super) static GET_SESSION: RedisOp = RedisOp::new("get_session");
    pub(super) static DELETE_SESSION: RedisOp = RedisOp::new("delete_session");
    pub(super) static PUT_CODE: RedisOp = RedisOp::new("put_code");
    pub(super) static REDEEM_CODE: RedisOp = RedisOp::new("redeem_code");
    pub(super) static PUT_REFRESH: RedisOp = RedisOp::new("put_refresh");
    pub(super) static USE_REFRESH: RedisOp = RedisOp::new("use_refresh");
    pub(super) static GET_REFRESH: RedisOp = RedisOp::new("get_refresh");
    pub(super) static SET_FAMILY: RedisOp = RedisOp::new("set_family");
    pub(super) static REVOKE_FAMILY: RedisOp = RedisOp::new("revoke_family");
    pub(super) static FAMILY_REVOKED: RedisOp = RedisOp::new("family_revoked");
    pub(super) static INDEX_CLIENT_TOKEN: RedisOp = RedisOp::new("index_client_token");
    pub(super) static UNINDEX_CLIENT_TOKEN: RedisOp = RedisOp::new("unindex_client_token");
    pub(super) static LIST_CLIENT_TOKENS: RedisOp = RedisOp::new("list_client_tokens");
    pub(super) static CHECK_LIMITS: RedisOp = RedisOp::new("check_limits");
    pub(super) static REFUND_QUOTA: RedisOp = RedisOp::new("refund_quota");
    pub(super) static REVOKE_CLIENT_TOKENS: RedisOp = RedisOp::new("revoke_client_tokens");
}

/// Implements `$contract` for `Metered<S>` by calling `S`'s: each method timed under the
/// `redis_ops` handle it names after `=>`, or, with `unmetered`, passed straight through.
macro_rules! metered {
    (impl $contract:ident { $( async fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty => $op:ident; )* }) => {
        impl<S: $contract> $contract for Metered<S> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $out {
                    timed(&redis_ops::$op, $contract::$method(&self.inner $(, $arg)*)).await
                }
            )*
        }
    };
    (unmetered impl $contract:ident { $( async fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; )* }) => {
        impl<S: $contract> $contract for Metered<S> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $out {
                    $contract::$method(&self.inner $(, $arg)*).await
                }
            )*
        }
    };
}

metered!(impl SessionStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> => PUT_SESSION;
    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> => GET_SESSION;
    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> => DELETE_SESSION;
});

metered!(impl GrantStore {
    async fn put_code(&self, key: &TokenKey, code: &AuthorizationCode, ttl: Duration) -> Result<(), StoreError> => PUT_CODE;
    async fn redeem_code(&self, key: &TokenKey, family_id: &str, replay_window: Duration) -> Result<Taken<AuthorizationCode>, StoreError> => REDEEM_CODE;
    async fn put_refresh(&self, key: &TokenKey, grant: &RefreshGrant, ttl: Duration) -> Result<(), StoreError> => PUT_REFRESH;
    async fn use_refresh(&self, key: &TokenKey, replay_window: Duration) -> Result<Taken<RefreshGrant>, StoreError> => USE_REFRESH;
    async fn get_refresh(&self, key: &TokenKey) -> Result<Option<RefreshGrant>, StoreError> => GET_REFRESH;
    async fn set_family(&self, family_id: &str, members: &FamilyMembers, ttl: Duration) -> Result<(), StoreError> => SET_FAMILY;
    async fn revoke_family(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError> => REVOKE_FAMILY;
    async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError> => FAMILY_REVOKED;
});

metered!(impl ClientTokenIndex {
    async fn index_client_token(&self, client: &ClientRef<'_>, entry: &ClientTokenEntry, expires_at: u64) -> Result<(), StoreError> => INDEX_CLIENT_TOKEN;
    async fn unindex_client_token(&self, client: &ClientRef<'_>, entry: &ClientTokenEntry) -> Result<bool, StoreError> => UNINDEX_CLIENT_TOKEN;
    async fn list_client_tokens(&self, client: &ClientRef<'_>, now: u64, offset: usize, limit: usize) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> => LIST_CLIENT_TOKENS;
    async fn revoke_client_tokens(&self, client: &ClientRef<'_>, family_window: Duration) -> Result<usize, StoreError> => REVOKE_CLIENT_TOKENS;
});

metered!(impl LimitStore {
    async fn check_limits(&self, subject: &str, limits: &Limits, now_ms: u64) -> Result<LimitOutcome, StoreError> => CHECK_LIMITS;
    async fn check_limits_batch(&self, subject: &str, limits: &Limits, now_ms: u64, count: u64) -> Result<Vec<LimitOutcome>, StoreError> => CHECK_LIMITS;
    async fn refund_quota(&self, subject: &str, cells: u64, reset_ms: u64, now_ms: u64) -> Result<u64, StoreError> => REFUND_QUOTA;
});

metered!(unmetered impl FailureStore {
    async fn lockout(&self, subject: &str, now_ms: u64) -> Result<Option<Duration>, StoreError>;
    async fn record_failure(&self, subject: &str, policy: &FailurePolicy, now_ms: u64) -> Result<Option<Duration>, StoreError>;
});

metered!(unmetered impl AnalyticsStore {
    async fn record(&self, batch: &[MinuteAggregate]) -> Result<(), StoreError>;
    async fn read(&self, client_id: &str, from_minute: u64, to_minute: u64) -> Result<Vec<MinuteAggregate>, StoreError>;
});
