//! Each client's tokens, indexed for listing and revoke-all.

use std::future::Future;
use std::time::Duration;

use super::{StoreError, TokenKey};

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

/// The index of each client's live tokens.
pub trait ClientTokenIndex: Send + Sync + 'static {
    /// Indexes a token of a client, for listing and revoke-all: `entry` lives until
    /// `expires_at` (unix seconds). Indexing the same entry again moves its expiry.
    fn index_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops one entry from a client's index (its token was revoked on its own); `true` when it
    /// was there. Revoked families need no call: listing drops them by their tombstone.
    fn unindex_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A page of a client's entries that are still live at `now`, soonest expiry first, and the
    /// number of live entries: O(log n + page), never a scan of all tokens. Entries of families
    /// revoked since they were indexed (a replayed code or refresh token, `/oauth/revoke`) are
    /// neither listed nor counted: the page's are dropped from the index as it is read, so the
    /// count is exact once every page has been read and may be high until then.
    fn list_client_tokens(
        &self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError>> + Send;

    /// Revokes every indexed token of a client: deletes access-token sessions, revokes families
    /// (remembered for `family_window`), and drops the index. Returns how many entries it found.
    fn revoke_client_tokens(
        &self,
        client: &ClientRef<'_>,
        family_window: Duration,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
