//! Single-use grants (authorization codes, refresh tokens) and the token families they start.

use std::future::Future;
use std::time::Duration;

use super::{StoreError, TokenKey};
use crate::{AuthorizationCode, FamilyMembers, RefreshGrant, Taken};

/// Codes, refresh tokens and token families, shared by every gateway.
pub trait GrantStore: Send + Sync + 'static {
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

    /// Uses a refresh token, atomically and once, like [`GrantStore::redeem_code`]; the marker
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
    /// [`GrantStore::family_revoked`]), then deletes the live access token and refresh token
    /// the family record names, and the record.
    fn revoke_family(
        &self,
        family_id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the family was revoked. A refresh checks this after writing its new tokens, so a
    /// revocation racing with it cannot leave the new pair alive.
    fn family_revoked(&self, family_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
