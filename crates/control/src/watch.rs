//! Bringing a gateway up to date, then keeping it there.

use std::sync::Arc;

use gatehouse_model::{Change, ConfigState};
use tokio::sync::broadcast;

use crate::ControlPlane;

/// Changes kept in memory for resuming watchers, and the depth of the fan-out channel. A
/// gateway further behind than this gets a snapshot instead.
pub const LOG_CAPACITY: usize = 1024;

/// One committed change, or (`change: None`) word that the state was replaced wholesale and
/// watchers need a snapshot.
#[derive(Debug, Clone)]
pub struct Published {
    pub revision: u64,
    pub change: Option<Arc<Change>>,
}

/// What a watcher receives first.
pub enum WatchStart {
    Snapshot(Box<ConfigState>),
    /// The changes after the watcher's revision, oldest first (possibly none).
    Deltas(Vec<Published>),
}

/// A watcher's subscription to changes after its start.
pub struct Watcher {
    pub start: WatchStart,
    /// Revision the watcher is at once it has applied `start`.
    pub revision: u64,
    pub updates: broadcast::Receiver<Published>,
}

impl ControlPlane {
    /// Starts a watch for a gateway holding `(store_id, revision)`, or nothing.
    pub async fn watch(&self, held: Option<(&str, u64)>) -> Watcher {
        // Subscribing under the read lock pairs with `commit` publishing under the write lock:
        // every revision after `current.state.revision` is in `updates`, none before it.
        let current = self.current.read().await;
        let updates = self.events.subscribe();
        let revision = current.state.revision;
        let start = match held {
            Some((store_id, held_rev)) if store_id == current.state.store_id && held_rev <= revision => {
                let oldest_needed = held_rev + 1;
                let reaches_back = held_rev == revision
                    || current.log.front().is_some_and(|first| first.revision <= oldest_needed);
                if reaches_back {
                    WatchStart::Deltas(
                        current.log.iter().filter(|p| p.revision > held_rev).cloned().collect(),
                    )
                } else {
                    WatchStart::Snapshot(Box::new(current.state.clone()))
                }
            }
            _ => WatchStart::Snapshot(Box::new(current.state.clone())),
        };
        Watcher { start, revision, updates }
    }

    /// The whole state, for a watcher that fell behind the fan-out channel.
    pub async fn snapshot(&self) -> ConfigState {
        self.current.read().await.state.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_model::Api;
    use gatehouse_model::test_util::ApiBuilder;
    use gatehouse_store::{AnyStateStore, MemoryStateStore};

    fn api(id: &str) -> Api {
        ApiBuilder::new(id).build()
    }

    #[tokio::test]
    async fn resumes_with_missed_deltas_or_snapshot() {
        let cp = ControlPlane::open(AnyStateStore::Memory(MemoryStateStore::new()), None).await.unwrap();
        for id in ["a", "b", "c"] {
            cp.create_api(api(id)).await.unwrap();
        }
        let store_id = cp.snapshot().await.store_id;

        let w = cp.watch(Some((&store_id, 1))).await;
        match w.start {
            WatchStart::Deltas(d) => assert_eq!(d.iter().map(|p| p.revision).collect::<Vec<_>>(), vec![2, 3]),
            WatchStart::Snapshot(_) => panic!("expected deltas"),
        }
        let up_to_date = cp.watch(Some((&store_id, 3))).await;
        assert!(matches!(up_to_date.start, WatchStart::Deltas(ref d) if d.is_empty()));
        // Another store, or a revision from the future: snapshot.
        assert!(matches!(cp.watch(Some(("other", 1))).await.start, WatchStart::Snapshot(_)));
        assert!(matches!(cp.watch(Some((&store_id, 9))).await.start, WatchStart::Snapshot(_)));
        assert!(matches!(cp.watch(None).await.start, WatchStart::Snapshot(s) if s.revision == 3));
    }

    #[tokio::test]
    async fn watcher_sees_later_changes_exactly_once() {
        let cp = ControlPlane::open(AnyStateStore::Memory(MemoryStateStore::new()), None).await.unwrap();
        let mut w = cp.watch(None).await;
        cp.create_api(api("a")).await.unwrap();
        let next = w.updates.recv().await.unwrap();
        assert_eq!(next.revision, w.revision + 1);
    }

    #[tokio::test]
    async fn listen_paths_are_unique() {
        let cp = ControlPlane::open(AnyStateStore::Memory(MemoryStateStore::new()), None).await.unwrap();
        cp.create_api(api("a")).await.unwrap();
        let mut dup = api("b");
        dup.listen_path = "/a".into();
        assert!(matches!(cp.create_api(dup).await, Err(crate::ControlError::Conflict(_))));
    }
}
