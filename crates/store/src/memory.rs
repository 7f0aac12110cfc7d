//! In-process stores for `gatehouse dev` and tests: nothing survives a restart, nothing is
//! shared between processes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_model::storage::{
    ClientRef, ClientTokenEntry, ClientTokenIndex, GrantStore, LimitOutcome, LimitStore, Limits,
    SessionStore, StateStore, StoreError, TokenKey,
};
use gatehouse_model::{AuthorizationCode, Change, ConfigState, FamilyMembers, RefreshGrant, Session, Taken};

use crate::common::limits::{UNLIMITED, check_subject, planned, unlimited_batch};
use crate::common::{fresh_state, next_revision};
use crate::memory_tables::Tables;

/// Token state in hash maps behind one mutex. Clones share the same maps.
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    inner: Arc<Mutex<Tables>>,
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries held (sessions, grants, spent markers, families, revocations, client
    /// index entries, limit states), expired ones not yet swept included; lets tests watch the
    /// sweep.
    pub fn len_including_expired(&self) -> usize {
        self.lock().len_including_expired()
    }

    /// A receiver of the keys of sessions this store deletes (see `crate::eviction`).
    pub(crate) fn subscribe_evictions(&self) -> tokio::sync::broadcast::Receiver<TokenKey> {
        self.lock().subscribe_evictions()
    }

    /// The synchronous hooks run on each of this store's deletions (see `crate::eviction`).
    pub(crate) fn local_evictions(&self) -> crate::eviction::LocalEvictionHooks {
        self.lock().local_evictions()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Tables> {
        // Every critical section leaves the maps consistent, so a panic elsewhere while the lock
        // was held does not make the data unusable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sessions and grants stay out of logs.
        f.debug_struct("MemoryTokenStore").field("entries", &self.len_including_expired()).finish()
    }
}

// `Instant::now()` is read before taking the lock so that time spent waiting for it counts
// against the entries rather than in their favour.
impl SessionStore for MemoryTokenStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().put_session(key, session, ttl, now);
        Ok(())
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get_session(key, now))
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.lock().delete_session(key, now))
    }
}

impl GrantStore for MemoryTokenStore {
    async fn put_code(
        &self,
        key: &TokenKey,
        code: &AuthorizationCode,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().put_code(key, code, ttl, now);
        Ok(())
    }

    async fn redeem_code(
        &self,
        key: &TokenKey,
        family_id: &str,
        replay_window: Duration,
    ) -> Result<Taken<AuthorizationCode>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().redeem_code(key, family_id, replay_window, now))
    }

    async fn put_refresh(
        &self,
        key: &TokenKey,
        grant: &RefreshGrant,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().put_refresh(key, grant, ttl, now);
        Ok(())
    }

    async fn use_refresh(
        &self,
        key: &TokenKey,
        replay_window: Duration,
    ) -> Result<Taken<RefreshGrant>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().use_refresh(key, replay_window, now))
    }

    async fn get_refresh(&self, key: &TokenKey) -> Result<Option<RefreshGrant>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get_refresh(key, now))
    }

    async fn set_family(
        &self,
        family_id: &str,
        members: &FamilyMembers,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().set_family(family_id, members, ttl, now)
    }

    async fn revoke_family(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().revoke_family(family_id, ttl, now)
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.lock().family_revoked(family_id, now))
    }
}

impl ClientTokenIndex for MemoryTokenStore {
    async fn index_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        self.lock().index_client_token(client, entry, expires_at, now)
    }

    async fn unindex_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
    ) -> Result<bool, StoreError> {
        self.lock().clients.unindex(client, entry)
    }

    async fn list_client_tokens(
        &self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        let instant = Instant::now();
        self.lock().list_client_tokens(client, now, offset, limit, instant)
    }

    async fn revoke_client_tokens(
        &self,
        client: &ClientRef<'_>,
        family_window: Duration,
    ) -> Result<usize, StoreError> {
        let now = Instant::now();
        self.lock().revoke_client_tokens(client, family_window, now)
    }
}

impl LimitStore for MemoryTokenStore {
    async fn check_limits(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<LimitOutcome, StoreError> {
        planned(
            subject,
            limits,
            now_ms,
            || UNLIMITED,
            |plan| async move {
                let now = Instant::now();
                Ok(self.lock().check_limits(subject, &plan, now))
            },
        )
        .await
    }

    async fn check_limits_batch(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
        count: u64,
    ) -> Result<Vec<LimitOutcome>, StoreError> {
        planned(
            subject,
            limits,
            now_ms,
            || unlimited_batch(count),
            |plan| async move {
                let now = Instant::now();
                Ok(self.lock().check_limits_batch(subject, &plan, count, now))
            },
        )
        .await
    }

    async fn refund_quota(
        &self,
        subject: &str,
        cells: u64,
        reset_ms: u64,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        check_subject(subject)?;
        Ok(self.lock().refund_quota(subject, cells, reset_ms.saturating_sub(now_ms), Instant::now()))
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

    async fn commit(&self, expected: u64, change: &Change) -> Result<u64, StoreError> {
        self.with_state(|state| {
            if state.revision != expected {
                return Err(StoreError::Conflict { current: state.revision });
            }
            let revision = next_revision(state.revision)?;
            state.apply(revision, change);
            Ok(revision)
        })
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::test_util::SessionBuilder;

    use super::*;
    use crate::memory_tables::MIN_PUTS_BETWEEN_SWEEPS;

    fn session() -> Session {
        SessionBuilder::new().api("a").client("c").policy("").issued_at(0).expires_at(1).build()
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
