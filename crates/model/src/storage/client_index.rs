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

    /// A page of a client's entries that are still live at `now`, soonest expiry first, and the
    /// number of live entries: O(log n + page), never a scan of all tokens.
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
