//! In-process stores for `gatehouse dev` and tests: nothing survives a restart, nothing is
//! shared between processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_model::{Change, ConfigState, Session};

use crate::common::{MAX_TTL, fresh_state, next_revision};
use crate::{StateStore, StoreError, TokenKey, TokenStore};

/// Expired entries are swept after at least this many puts, or after as many puts as there were
/// live entries at the last sweep if that is more, so the sweep's cost stays proportional to the
/// number of puts however large the map grows.
const MIN_PUTS_BETWEEN_SWEEPS: usize = 1024;

/// Sessions in a hash map behind a mutex. Clones share the same map.
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    inner: Arc<Mutex<Sessions>>,
}

#[derive(Default)]
struct Sessions {
    entries: HashMap<TokenKey, (Session, Instant)>,
    puts_since_sweep: usize,
    live_after_sweep: usize,
}

impl Sessions {
    fn sweep_if_due(&mut self, now: Instant) {
        if self.puts_since_sweep < MIN_PUTS_BETWEEN_SWEEPS.max(self.live_after_sweep) {
            return;
        }
        self.entries.retain(|_, (_, expiry)| *expiry > now);
        self.puts_since_sweep = 0;
        self.live_after_sweep = self.entries.len();
    }
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries held, expired ones not yet swept included; lets tests watch the sweep.
    pub fn len_including_expired(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        // Every critical section leaves the map consistent, so a panic elsewhere while the lock
        // was held does not make the data unusable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sessions stay out of logs.
        f.debug_struct("MemoryTokenStore").field("entries", &self.len_including_expired()).finish()
    }
}

impl TokenStore for MemoryTokenStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut sessions = self.lock();
        if ttl.is_zero() {
            // Same as Redis: a zero TTL means "already expired", never "forever".
            sessions.entries.remove(key);
            return Ok(());
        }
        let expiry = now + ttl.min(MAX_TTL);
        sessions.entries.insert(*key, (session.clone(), expiry));
        sessions.puts_since_sweep += 1;
        sessions.sweep_if_due(now);
        Ok(())
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        let now = Instant::now();
        let mut sessions = self.lock();
        match sessions.entries.get(key) {
            Some((session, expiry)) if *expiry > now => Ok(Some(session.clone())),
            Some(_) => {
                sessions.entries.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        let now = Instant::now();
        let removed = self.lock().entries.remove(key);
        // An expired entry is already gone as far as callers can tell.
        Ok(removed.is_some_and(|(_, expiry)| expiry > now))
    }
}

/// Control-plane state held in memory. The store id and token key are drawn on first use, so
/// construction cannot fail.
#[derive(Default)]
pub struct MemoryStateStore {
    state: Mutex<Option<ConfigState>>,
}

impl MemoryStateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on the current state, creating it first if needed.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut ConfigState) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = match slot.take() {
            Some(state) => state,
            None => fresh_state()?,
        };
        f(slot.insert(state))
    }
}

impl std::fmt::Debug for MemoryStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds the token key.
        f.debug_struct("MemoryStateStore").finish_non_exhaustive()
    }
}

impl StateStore for MemoryStateStore {
    async fn load(&self) -> Result<ConfigState, StoreError> {
        self.with_state(|state| Ok(state.clone()))
    }

    async fn commit(&self, change: &Change) -> Result<u64, StoreError> {
        self.with_state(|state| {
            let revision = next_revision(state.revision)?;
            state.apply(revision, change);
            Ok(revision)
        })
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::GrantType;

    use super::*;

    fn session() -> Session {
        Session {
            api_id: "a".into(),
            client_id: "c".into(),
            policy_id: String::new(),
            grant: GrantType::ClientCredentials,
            meta_data: Default::default(),
            issued_at: 0,
            expires_at: 1,
        }
    }

    fn key(n: usize) -> TokenKey {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(n as u64).to_le_bytes());
        k
    }

    #[tokio::test]
    async fn expired_entries_are_swept_on_put() {
        let store = MemoryTokenStore::new();
        for n in 0..MIN_PUTS_BETWEEN_SWEEPS - 1 {
            store.put_session(&key(n), &session(), Duration::from_nanos(1)).await.unwrap();
        }
        assert_eq!(store.len_including_expired(), MIN_PUTS_BETWEEN_SWEEPS - 1);
        std::thread::sleep(Duration::from_millis(2));
        store.put_session(&key(usize::MAX), &session(), Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.len_including_expired(), 1);
        assert!(store.get_session(&key(usize::MAX)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn get_drops_an_expired_entry() {
        let store = MemoryTokenStore::new();
        store.put_session(&key(1), &session(), Duration::from_nanos(1)).await.unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(store.get_session(&key(1)).await.unwrap(), None);
        assert_eq!(store.len_including_expired(), 0);
    }

    #[tokio::test]
    async fn huge_ttl_does_not_overflow() {
        let store = MemoryTokenStore::new();
        store.put_session(&key(1), &session(), Duration::MAX).await.unwrap();
        assert!(store.get_session(&key(1)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn clones_share_sessions() {
        let a = MemoryTokenStore::new();
        let b = a.clone();
        a.put_session(&key(1), &session(), Duration::from_secs(60)).await.unwrap();
        assert!(b.get_session(&key(1)).await.unwrap().is_some());
    }
}
