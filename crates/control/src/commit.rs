//! How a change becomes durable and visible, with one control plane or several.
//!
//! A mutation validates against the in-memory state at revision R and asks the store to commit
//! R+1 only if the store is still at R. With one control plane that always holds. With
//! replicas on a shared store, another replica may have committed first: the store answers
//! `Conflict`, this replica catches up from the store's change log and validates again.
//! Replicas also follow the store in the background, so changes made through any replica reach
//! the gateways connected to every replica.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::{Change, ConfigState};

use crate::watch::{LOG_CAPACITY, Published};
use crate::{ControlError, ControlPlane};

tokio::task_local! {
    /// The latest revision committed by the admin call running in this task, when the call is
    /// run through [`noting_commits`].
    static COMMITTED: std::cell::Cell<Option<u64>>;
}

/// Runs `call` (one admin call) and returns, with its output, the latest revision it
/// committed, if any: what the call's caller must wait for gateways to apply before saying
/// it is done. A call that spawns its commit into another task is not seen.
pub async fn noting_commits<F: std::future::Future>(call: F) -> (F::Output, Option<u64>) {
    COMMITTED
        .scope(std::cell::Cell::new(None), async {
            let output = call.await;
            (output, COMMITTED.with(std::cell::Cell::get))
        })
        .await
}

/// Commit attempts before giving up under a storm of concurrent writes on other replicas.
const MAX_ATTEMPTS: usize = 8;
/// How long one poll of a shared store's change log waits for news.
const FOLLOW_WAIT: Duration = Duration::from_secs(5);

impl ControlPlane {
    /// Runs `decide` against the current state and commits the change it returns; `decide` runs
    /// again on the newer state if a replica committed first.
    pub(crate) async fn mutate<T>(
        &self,
        mut decide: impl FnMut(&ConfigState) -> Result<(Change, T), ControlError>,
    ) -> Result<T, ControlError> {
        let _writer = self.write.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let (expected, change, outcome) = {
                let current = self.current.read().await;
                let (change, outcome) = decide(&current.state)?;
                (current.state.revision, change, outcome)
            };
            match self.store.commit(expected, &change).await {
                Ok(revision) => {
                    self.publish(revision, Arc::new(change)).await;
                    // Outside `noting_commits` (tests, the follower) nobody is asking.
                    let _ = COMMITTED.try_with(|committed| committed.set(Some(revision)));
                    tracing::info!(revision, "config change committed");
                    return Ok(outcome);
                }
                Err(StoreError::Conflict { current }) => {
                    tracing::debug!(expected, current, "another replica committed first; catching up");
                    self.catch_up(Duration::ZERO).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ControlError::Conflict("the configuration kept changing under concurrent writers; retry".into()))
    }

    /// Makes a committed change visible: in memory, in the log, to watchers. Idempotent, since
    /// both the committer and the follower may see the same revision; a change from the future
    /// is left for `catch_up` to fetch in order.
    async fn publish(&self, revision: u64, change: Arc<Change>) -> bool {
        let mut current = self.current.write().await;
        if revision != current.state.revision + 1 {
            return revision <= current.state.revision;
        }
        current.state.apply(revision, &change);
        gatehouse_telemetry::metrics::control::config_revision(revision);
        let published = Published { revision, change: Some(change) };
        if current.log.len() == LOG_CAPACITY {
            current.log.pop_front();
        }
        current.log.push_back(published.clone());
        // Sent while holding the state lock, so a watcher that reads the state and then
        // subscribes cannot miss or double-see a revision (see `watch`).
        let _ = self.events.send(published);
        true
    }

    /// Applies what a shared store has that this replica lacks, waiting up to `wait` for news.
    pub(crate) async fn catch_up(&self, wait: Duration) -> Result<(), ControlError> {
        let from = self.current.read().await.state.revision;
        match self.store.changes_after(from, wait).await {
            Ok(changes) => {
                for (revision, change) in changes {
                    if !self.publish(revision, Arc::new(change)).await {
                        break;
                    }
                }
                Ok(())
            }
            Err(StoreError::Truncated(_)) => self.reload().await,
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the in-memory state with the store's when the change log no longer reaches
    /// back; watchers are told to take a snapshot.
    async fn reload(&self) -> Result<(), ControlError> {
        let state = self.store.load().await?;
        let mut current = self.current.write().await;
        let revision = state.revision;
        current.state = state;
        current.log.clear();
        gatehouse_telemetry::metrics::control::config_revision(revision);
        let _ = self.events.send(Published { revision, change: None });
        tracing::warn!(revision, "fell behind the shared store's change log; reloaded the state");
        Ok(())
    }

    /// With a shared store, follows it in the background for as long as the control plane lives.
    pub(crate) fn follow_store(self: &Arc<Self>) {
        if !self.store.is_shared() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(control) = weak.upgrade() else { return };
                if let Err(e) = control.catch_up(FOLLOW_WAIT).await {
                    tracing::warn!(error = %e, "cannot follow the shared state store; retrying");
                    drop(control);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }
}
