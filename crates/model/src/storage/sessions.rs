//! Access tokens' sessions.

use std::future::Future;
use std::time::Duration;

use super::{StoreError, TokenKey};
use crate::Session;

/// The sessions of access tokens, shared by every gateway.
pub trait SessionStore: Send + Sync + 'static {
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
