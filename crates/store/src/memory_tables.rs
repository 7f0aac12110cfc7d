//! The maps behind [`MemoryTokenStore`](crate::MemoryTokenStore) and the operations on them.
//!
//! The store runs each operation entirely under its one mutex: that is what makes spending a
//! grant atomic here, where Redis needs a script. Operations take `now` as an argument so unit
//! tests can move time forward without sleeping.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use gatehouse_model::storage::{MAX_TTL, StoreError, TokenKey};
use gatehouse_model::{AuthorizationCode, FamilyMembers, RefreshGrant, Session, Taken};

use crate::common::member_keys;
use crate::eviction::EvictionSender;

mod analytics;
mod client_index;
mod limits;
mod throttle;

use analytics::AnalyticsTable;
use client_index::ClientIndexes;
use limits::LimitStates;
use throttle::FailureCounts;

/// Expired entries are swept after at least this many puts, or after as many puts as there were
/// live entries at the last sweep if that is more, so the sweep's cost stays proportional to the
/// number of puts however large the maps grow.
pub(crate) const MIN_PUTS_BETWEEN_SWEEPS: usize = 1024;

/// A map whose entries vanish at a deadline.
struct Expiring<K, V> {
    entries: HashMap<K, (V, Instant)>,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self { entries: HashMap::new() }
    }
}

impl<K: Eq + Hash, V> Expiring<K, V> {
    /// Stores `value` until `now + ttl` and reports whether it did: a zero TTL removes the
    /// entry instead, as the Redis store does, where a key without expiry would live forever.
    fn put(&mut self, key: K, value: V, ttl: Duration, now: Instant) -> bool {
        if ttl.is_zero() {
            self.entries.remove(&key);
            return false;
        }
        self.entries.insert(key, (value, now + ttl.min(MAX_TTL)));
        true
    }

    fn get<Q>(&mut self, key: &Q, now: Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.entries.get(key).is_some_and(|(_, expiry)| *expiry <= now) {
            self.entries.remove(key);
        }
        self.entries.get(key).map(|(value, _)| value)
    }

    /// Removes the entry and returns it with its deadline, unless it had expired.
    fn remove<Q>(&mut self, key: &Q, now: Instant) -> Option<(V, Instant)>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries.remove(key).filter(|(_, expiry)| *expiry > now)
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, (_, expiry)| *expiry > now);
    }
}

/// A single-use grant, or the marker it leaves behind once spent.
enum Single<T> {
    Live(T),
    Spent { family_id: String },
}

impl<T> Expiring<TokenKey, Single<T>> {
    /// Spends the grant under `key`: the marker that replaces it names `marker_family(grant)`
    /// and lasts `replay_window`. Returns whether a marker was stored.
    fn take(
        &mut self,
        key: &TokenKey,
        marker_family: impl FnOnce(&T) -> String,
        replay_window: Duration,
        now: Instant,
    ) -> (Taken<T>, bool) {
        let Some((slot, expiry)) = self.remove(key, now) else {
            return (Taken::Missing, false);
        };
        match slot {
            Single::Spent { family_id } => {
                // Put back as it was: seeing a replay must not extend the marker's life.
                self.entries.insert(*key, (Single::Spent { family_id: family_id.clone() }, expiry));
                (Taken::Replayed { family_id }, false)
            }
            Single::Live(grant) => {
                let marker = Single::Spent { family_id: marker_family(&grant) };
                let stored = self.put(*key, marker, replay_window, now);
                (Taken::Fresh(grant), stored)
            }
        }
    }
}

/// Everything a [`MemoryTokenStore`](crate::MemoryTokenStore) holds.
#[derive(Default)]
pub(crate) struct Tables {
    sessions: Expiring<TokenKey, Session>,
    codes: Expiring<TokenKey, Single<AuthorizationCode>>,
    refresh: Expiring<TokenKey, Single<RefreshGrant>>,
    families: Expiring<String, FamilyMembers>,
    revoked: Expiring<String, ()>,
    pub(crate) clients: ClientIndexes,
    limits: LimitStates,
    failures: FailureCounts,
    analytics: AnalyticsTable,
    puts_since_sweep: usize,
    live_after_sweep: usize,
    /// Announces every session removed other than by expiry (see `crate::eviction`).
    evictions: EvictionSender,
}

impl Tables {
    pub(crate) fn len_including_expired(&self) -> usize {
        self.sessions.entries.len()
            + self.codes.entries.len()
            + self.refresh.entries.len()
            + self.families.entries.len()
            + self.revoked.entries.len()
            + self.clients.len()
            + self.limits.len()
            + self.failures.len()
            + self.analytics.len()
    }

    /// Counts a stored entry towards the next sweep, and sweeps when one is due.
    fn stored(&mut self, stored: bool, now: Instant) {
        if !stored {
            return;
        }
        self.puts_since_sweep += 1;
        if self.puts_since_sweep < MIN_PUTS_BETWEEN_SWEEPS.max(self.live_after_sweep) {
            return;
        }
        self.sessions.sweep(now);
        self.codes.sweep(now);
        self.refresh.sweep(now);
        self.families.sweep(now);
        self.revoked.sweep(now);
        self.limits.sweep(now);
        self.failures.sweep(now);
        // Index entries expire by the wall clock, in unix seconds like their callers give them.
        // A clock set before 1970 reads as 0 and sweeps nothing.
        self.clients.sweep(gatehouse_model::clock::unix_seconds());
        self.puts_since_sweep = 0;
        self.live_after_sweep = self.len_including_expired();
    }

    pub(crate) fn put_session(&mut self, key: &TokenKey, session: &Session, ttl: Duration, now: Instant) {
        let stored = self.sessions.put(*key, session.clone(), ttl, now);
        self.stored(stored, now);
    }

    pub(crate) fn get_session(&mut self, key: &TokenKey, now: Instant) -> Option<Session> {
        self.sessions.get(key, now).cloned()
    }

    pub(crate) fn delete_session(&mut self, key: &TokenKey, now: Instant) -> bool {
        self.evictions.send(key);
        // An expired entry is already gone as far as callers can tell.
        self.sessions.remove(key, now).is_some()
    }

    /// Removes a session as part of a revocation, announcing it like `delete_session`.
    fn evict_session(&mut self, key: &TokenKey) {
        self.sessions.entries.remove(key);
        self.evictions.send(key);
    }

    pub(crate) fn subscribe_evictions(&self) -> tokio::sync::broadcast::Receiver<TokenKey> {
        self.evictions.subscribe()
    }

    pub(crate) fn local_evictions(&self) -> crate::eviction::LocalEvictionHooks {
        self.evictions.local()
    }

    pub(crate) fn put_code(&mut self, key: &TokenKey, code: &AuthorizationCode, ttl: Duration, now: Instant) {
        let stored = self.codes.put(*key, Single::Live(code.clone()), ttl, now);
        self.stored(stored, now);
    }

    pub(crate) fn redeem_code(
        &mut self,
        key: &TokenKey,
        family_id: &str,
        replay_window: Duration,
        now: Instant,
    ) -> Taken<AuthorizationCode> {
        let (taken, stored) = self.codes.take(key, |_| family_id.to_owned(), replay_window, now);
        self.stored(stored, now);
        taken
    }

    pub(crate) fn put_refresh(&mut self, key: &TokenKey, grant: &RefreshGrant, ttl: Duration, now: Instant) {
        let stored = self.refresh.put(*key, Single::Live(grant.clone()), ttl, now);
        self.stored(stored, now);
    }

    pub(crate) fn use_refresh(
        &mut self,
        key: &TokenKey,
        replay_window: Duration,
        now: Instant,
    ) -> Taken<RefreshGrant> {
        let (taken, stored) = self.refresh.take(key, |grant| grant.family_id.clone(), replay_window, now);
        self.stored(stored, now);
        taken
    }

    pub(crate) fn get_refresh(&mut self, key: &TokenKey, now: Instant) -> Option<RefreshGrant> {
        match self.refresh.get(key, now)? {
            Single::Live(grant) => Some(grant.clone()),
            Single::Spent { .. } => None,
        }
    }

    pub(crate) fn set_family(
        &mut self,
        family_id: &str,
        members: &FamilyMembers,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), StoreError> {
        // Rejected here rather than at revocation, where it would be too late to do anything.
        member_keys(family_id, members)?;
        let stored = self.families.put(family_id.to_owned(), members.clone(), ttl, now);
        self.stored(stored, now);
        Ok(())
    }

    pub(crate) fn revoke_family(
        &mut self,
        family_id: &str,
        ttl: Duration,
        now: Instant,
    ) -> Result<(), StoreError> {
        // A zero TTL records nothing, but never lifts an earlier, still running revocation.
        if !ttl.is_zero() {
            let stored = self.revoked.put(family_id.to_owned(), (), ttl, now);
            self.stored(stored, now);
        }
        let Some(members) = self.families.get(family_id, now) else {
            return Ok(());
        };
        let (access, refresh) = member_keys(family_id, members)?;
        self.evict_session(&access);
        if let Some(refresh) = refresh {
            self.refresh.entries.remove(&refresh);
        }
        self.families.entries.remove(family_id);
        Ok(())
    }

    pub(crate) fn family_revoked(&mut self, family_id: &str, now: Instant) -> bool {
        self.revoked.get(family_id, now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::GrantType;
    use gatehouse_model::test_util::SessionBuilder;

    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);

    fn code() -> AuthorizationCode {
        AuthorizationCode {
            api_id: "a".into(),
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_in_request: true,
            code_challenge: None,
            scope: None,
            policy_id: "p".into(),
            meta_data: Default::default(),
            issued_at: 0,
        }
    }

    fn grant(family_id: &str) -> RefreshGrant {
        RefreshGrant {
            api_id: "a".into(),
            client_id: "c".into(),
            family_id: family_id.into(),
            origin: GrantType::AuthorizationCode,
            policy_id: "p".into(),
            meta_data: Default::default(),
            scope: None,
            username: None,
            access_key: "00".repeat(32),
            issued_at: 0,
            expires_at: 1,
        }
    }

    #[test]
    fn a_replay_does_not_extend_the_marker() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        t.put_code(&[1; 32], &code(), WINDOW, t0);
        assert_eq!(t.redeem_code(&[1; 32], "f", WINDOW, t0), Taken::Fresh(code()));
        let replayed = Taken::Replayed { family_id: "f".into() };
        assert_eq!(t.redeem_code(&[1; 32], "g", WINDOW, t0 + WINDOW / 2), replayed);
        assert_eq!(t.redeem_code(&[1; 32], "g", WINDOW, t0 + WINDOW), Taken::Missing);
    }

    #[test]
    fn an_expired_code_cannot_be_redeemed() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        t.put_code(&[1; 32], &code(), WINDOW, t0);
        assert_eq!(t.redeem_code(&[1; 32], "f", WINDOW, t0 + WINDOW), Taken::Missing);
        // Nor does the failed attempt leave a marker behind.
        assert_eq!(t.len_including_expired(), 0);
    }

    #[test]
    fn the_refresh_marker_names_the_grants_family() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        t.put_refresh(&[2; 32], &grant("fam"), WINDOW, t0);
        assert_eq!(t.get_refresh(&[2; 32], t0), Some(grant("fam")));
        assert_eq!(t.use_refresh(&[2; 32], WINDOW, t0), Taken::Fresh(grant("fam")));
        assert_eq!(t.get_refresh(&[2; 32], t0), None);
        assert_eq!(t.use_refresh(&[2; 32], WINDOW, t0), Taken::Replayed { family_id: "fam".into() });
    }

    #[test]
    fn a_zero_ttl_revocation_keeps_an_earlier_one() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        t.revoke_family("f", WINDOW, t0).unwrap();
        t.revoke_family("f", Duration::ZERO, t0).unwrap();
        assert!(t.family_revoked("f", t0 + WINDOW / 2));
        assert!(!t.family_revoked("f", t0 + WINDOW));
    }

    #[test]
    fn an_expired_family_record_is_not_acted_on() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        let access = [3; 32];
        t.put_session(&access, &session(), WINDOW * 2, t0);
        let members = FamilyMembers { access_key: crate::common::hex(&access), refresh_key: None };
        t.set_family("f", &members, WINDOW, t0).unwrap();
        t.revoke_family("f", WINDOW, t0 + WINDOW).unwrap();
        assert_eq!(t.get_session(&access, t0 + WINDOW), Some(session()));
    }

    #[test]
    fn sweeps_cover_every_table() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        let short = Duration::from_secs(1);
        for n in 0..MIN_PUTS_BETWEEN_SWEEPS - 2 {
            let key: TokenKey = std::array::from_fn(|i| if i < 8 { (n >> (8 * i)) as u8 } else { 0 });
            match n % 3 {
                0 => t.put_code(&key, &code(), short, t0),
                1 => t.put_refresh(&key, &grant("f"), short, t0),
                _ => t.revoke_family(&n.to_string(), short, t0).unwrap(),
            }
        }
        let members = FamilyMembers { access_key: "00".repeat(32), refresh_key: None };
        t.set_family("live", &members, WINDOW, t0).unwrap();
        assert_eq!(t.len_including_expired(), MIN_PUTS_BETWEEN_SWEEPS - 1);
        t.put_session(&[9; 32], &session(), WINDOW, t0 + short);
        assert_eq!(t.len_including_expired(), 2);
    }

    fn session() -> Session {
        SessionBuilder::new()
            .api("a")
            .client("c")
            .policy("p")
            .grant(GrantType::AuthorizationCode)
            .issued_at(0)
            .expires_at(1)
            .family("f")
            .build()
    }
}
