//! Clients' token indexes for [`MemoryTokenStore`](crate::MemoryTokenStore), held in its
//! [`Tables`] under the one mutex, and the operations on them.
//!
//! Each client's index mirrors the Redis sorted set: entries ordered by expiry (unix seconds,
//! the caller's clock), ties in the order Redis gives equal scores (by member: access tokens by
//! key bytes, then families by id), and each entry's expiry, so that indexing an entry again
//! moves it rather than adding a second one.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use gatehouse_model::storage::{ClientRef, ClientTokenEntry, StoreError, TokenKey};

use super::Tables;
use crate::common::{MAX_EXPIRES_AT, check_client, check_entry};

impl Tables {
    pub(crate) fn index_client_token(
        &mut self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
        now: Instant,
    ) -> Result<(), StoreError> {
        self.clients.index(client, entry, expires_at)?;
        self.stored(true, now);
        Ok(())
    }

    /// A page of the client's live entries (see [`ClientIndexes::list`]), after dropping from
    /// the index the page's families that were revoked, as the Redis store does.
    pub(crate) fn list_client_tokens(
        &mut self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
        instant: Instant,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        loop {
            let (page, total) = self.clients.list(client, now, offset, limit)?;
            let revoked: Vec<ClientTokenEntry> = page
                .iter()
                .filter(|(entry, _)| {
                    matches!(entry, ClientTokenEntry::Family(id) if self.family_revoked(id, instant))
                })
                .map(|(entry, _)| entry.clone())
                .collect();
            if revoked.is_empty() {
                return Ok((page, total));
            }
            // Each round removes at least one entry, so this ends; the page is read again
            // because the entries after the removed ones moved up into it.
            for entry in &revoked {
                self.clients.unindex(client, entry)?;
            }
        }
    }

    /// Revokes everything the client's index names, then drops the index; an error part-way
    /// leaves the index in place for a retry, as in Redis.
    pub(crate) fn revoke_client_tokens(
        &mut self,
        client: &ClientRef<'_>,
        family_window: Duration,
        now: Instant,
    ) -> Result<usize, StoreError> {
        let entries = self.clients.entries(client)?;
        for entry in &entries {
            match entry {
                ClientTokenEntry::Access(key) => self.evict_session(key),
                ClientTokenEntry::Family(family_id) => self.revoke_family(family_id, family_window, now)?,
            }
        }
        self.clients.remove(client);
        Ok(entries.len())
    }
}

/// An index entry, ordered as Redis orders the members `at:<hex>` and `fam:<id>` of equal score.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Member {
    Access(TokenKey),
    Family(String),
}

impl From<&ClientTokenEntry> for Member {
    fn from(entry: &ClientTokenEntry) -> Self {
        match entry {
            ClientTokenEntry::Access(key) => Member::Access(*key),
            ClientTokenEntry::Family(id) => Member::Family(id.clone()),
        }
    }
}

impl From<&Member> for ClientTokenEntry {
    fn from(member: &Member) -> Self {
        match member {
            Member::Access(key) => ClientTokenEntry::Access(*key),
            Member::Family(id) => ClientTokenEntry::Family(id.clone()),
        }
    }
}

/// One client's entries, by expiry and by member.
#[derive(Default)]
struct Index {
    by_expiry: BTreeSet<(u64, Member)>,
    expiry_of: HashMap<Member, u64>,
}

impl Index {
    fn insert(&mut self, member: Member, expires_at: u64) {
        if let Some(previous) = self.expiry_of.insert(member.clone(), expires_at) {
            self.by_expiry.remove(&(previous, member.clone()));
        }
        self.by_expiry.insert((expires_at, member));
    }

    /// Drops the entries that expired before `now`: the soonest ones, so each costs O(log n).
    fn purge(&mut self, now: u64) {
        while self.by_expiry.first().is_some_and(|(expires_at, _)| *expires_at < now) {
            if let Some((_, member)) = self.by_expiry.pop_first() {
                self.expiry_of.remove(&member);
            }
        }
    }
}

/// Every client's index, by `(api_id, client_id)`. Indexes left empty are dropped.
#[derive(Default)]
pub(crate) struct ClientIndexes {
    clients: HashMap<(String, String), Index>,
}

fn owned(client: &ClientRef<'_>) -> (String, String) {
    (client.api_id.to_owned(), client.client_id.to_owned())
}

impl ClientIndexes {
    /// Entries held, expired ones not yet purged included.
    pub(super) fn len(&self) -> usize {
        self.clients.values().map(|index| index.by_expiry.len()).sum()
    }

    fn index(
        &mut self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        check_client(client)?;
        check_entry(entry)?;
        let index = self.clients.entry(owned(client)).or_default();
        index.insert(Member::from(entry), expires_at.min(MAX_EXPIRES_AT));
        Ok(())
    }

    /// Drops one entry; `true` when it was there. An emptied index goes.
    pub(crate) fn unindex(
        &mut self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
    ) -> Result<bool, StoreError> {
        check_client(client)?;
        let key = owned(client);
        let Some(index) = self.clients.get_mut(&key) else {
            return Ok(false);
        };
        let member = Member::from(entry);
        let found =
            index.expiry_of.remove(&member).map(|expires_at| index.by_expiry.remove(&(expires_at, member)));
        if index.by_expiry.is_empty() {
            self.clients.remove(&key);
        }
        Ok(found.is_some())
    }

    /// A page of the entries live at `now` (expiring at `now` or later), soonest first, and how
    /// many there are. Purges the expired ones first, like the Redis store.
    pub(crate) fn list(
        &mut self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        check_client(client)?;
        let key = owned(client);
        let Some(index) = self.clients.get_mut(&key) else {
            return Ok((Vec::new(), 0));
        };
        index.purge(now);
        let total = index.by_expiry.len();
        let page = index
            .by_expiry
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(expires_at, member)| (ClientTokenEntry::from(member), *expires_at))
            .collect();
        if total == 0 {
            self.clients.remove(&key);
        }
        Ok((page, total))
    }

    /// All of a client's entries, expired ones not yet purged included.
    fn entries(&self, client: &ClientRef<'_>) -> Result<Vec<ClientTokenEntry>, StoreError> {
        check_client(client)?;
        let Some(index) = self.clients.get(&owned(client)) else {
            return Ok(Vec::new());
        };
        Ok(index.by_expiry.iter().map(|(_, member)| ClientTokenEntry::from(member)).collect())
    }

    fn remove(&mut self, client: &ClientRef<'_>) {
        self.clients.remove(&owned(client));
    }

    /// Purges every index of the entries that expired before `now`.
    pub(super) fn sweep(&mut self, now: u64) {
        self.clients.retain(|_, index| {
            index.purge(now);
            !index.by_expiry.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_tables::MIN_PUTS_BETWEEN_SWEEPS;

    const C: ClientRef<'static> = ClientRef { api_id: "a", client_id: "c" };

    fn family(id: &str) -> ClientTokenEntry {
        ClientTokenEntry::Family(id.into())
    }

    #[test]
    fn ties_follow_the_redis_member_order() {
        let mut t = ClientIndexes::default();
        for entry in
            [family("b"), ClientTokenEntry::Access([2; 32]), family("a"), ClientTokenEntry::Access([1; 32])]
        {
            t.index(&C, &entry, 50).unwrap();
        }
        let (page, total) = t.list(&C, 0, 0, 10).unwrap();
        let order: Vec<_> = page.into_iter().map(|(entry, _)| entry).collect();
        let expected =
            [ClientTokenEntry::Access([1; 32]), ClientTokenEntry::Access([2; 32]), family("a"), family("b")];
        assert_eq!((order.as_slice(), total), (expected.as_slice(), 4));
    }

    #[test]
    fn listing_purges_and_an_emptied_index_goes() {
        let mut t = ClientIndexes::default();
        t.index(&C, &family("old"), 10).unwrap();
        t.index(&C, &family("edge"), 20).unwrap();
        // An entry expiring at `now` is still live.
        assert_eq!(t.list(&C, 20, 0, 10).unwrap(), (vec![(family("edge"), 20)], 1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.list(&C, 21, 0, 10).unwrap(), (vec![], 0));
        assert!(t.clients.is_empty());
    }

    #[test]
    fn sweep_keeps_only_live_entries_and_non_empty_indexes() {
        let mut t = ClientIndexes::default();
        let other = ClientRef { api_id: "a", client_id: "d" };
        t.index(&C, &family("gone"), 5).unwrap();
        t.index(&C, &family("live"), 15).unwrap();
        t.index(&other, &family("gone-too"), 5).unwrap();
        t.sweep(10);
        assert_eq!(t.len(), 1);
        assert_eq!(t.clients.len(), 1);
        assert_eq!(t.entries(&C).unwrap(), vec![family("live")]);
    }

    #[test]
    fn the_sweep_purges_index_entries_with_the_other_maps() {
        let mut t = Tables::default();
        let t0 = Instant::now();
        for n in 0..MIN_PUTS_BETWEEN_SWEEPS - 1 {
            // Expired since 1970 by any clock.
            t.index_client_token(&C, &family(&n.to_string()), 1, t0).unwrap();
        }
        assert_eq!(t.len_including_expired(), MIN_PUTS_BETWEEN_SWEEPS - 1);
        t.index_client_token(&C, &family("live"), MAX_EXPIRES_AT, t0).unwrap();
        assert_eq!(t.len_including_expired(), 1);
    }

    #[test]
    fn far_expiries_are_capped() {
        let mut t = ClientIndexes::default();
        t.index(&C, &family("f"), u64::MAX).unwrap();
        assert_eq!(t.list(&C, 0, 0, 1).unwrap(), (vec![(family("f"), MAX_EXPIRES_AT)], 1));
    }
}
