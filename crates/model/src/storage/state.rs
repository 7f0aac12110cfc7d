//! The control plane's durable state.

use std::future::Future;
use std::time::Duration;

use super::StoreError;
use crate::{Change, ConfigState};

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
