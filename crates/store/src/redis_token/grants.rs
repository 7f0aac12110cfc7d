//! Single-use grants (authorization codes, refresh tokens) and token families in Redis.

use std::sync::LazyLock;
use std::time::Duration;

use gatehouse_model::storage::{GrantStore, StoreError, TokenKey};
use gatehouse_model::{AuthorizationCode, FamilyMembers, RefreshGrant, Taken};
use redis::Script;

use super::{RedisTokenStore, decode, ttl_millis, unavailable};
use crate::common::member_keys;
use crate::format::Persisted;

/// What a spent grant is replaced with, followed by the family id. Stored grants are JSON
/// objects, which cannot start with this, so one GET tells a grant from a marker.
const SPENT_PREFIX: &[u8] = b"spent:";

/// Spends the grant at `KEYS[1]`. One script, so that of any number of concurrent callers
/// exactly one sees the grant; it touches only `KEYS[1]`, so it runs in Cluster too.
///
/// - `ARGV[1]`: how long the marker is kept, in milliseconds; `0` deletes the grant outright.
/// - `ARGV[2]`: `given` for a marker naming `ARGV[3]`, `own` for one naming the grant's own
///   `family_id`. Read here rather than by the caller afterwards, which would leave a moment
///   in which the grant is spent but no marker says so.
/// - `ARGV[4]`: the newest format version of the grant this build reads (see `crate::format`).
///
/// Returns nil when there is nothing, the marker when the grant was spent before, else the
/// grant as stored. Whenever it returns a grant of a version this build reads, the grant is
/// gone: one whose family cannot be read is deleted rather than left to be spent again, and
/// the caller reports it as corrupt. A grant of a newer version is returned untouched, for the
/// caller to refuse: its fields are not this script's to interpret, and a release that can read
/// it may still redeem it.
const SPEND_LUA: &str = r"
local value = redis.call('GET', KEYS[1])
if not value then
  return false
end
if string.sub(value, 1, 6) == 'spent:' then
  return value
end
local ok, grant = pcall(cjson.decode, value)
if not ok or type(grant) ~= 'table' then
  grant = nil
end
if grant and type(grant.v) == 'number' and grant.v > tonumber(ARGV[4]) then
  return value
end
local family = ARGV[3]
if ARGV[2] == 'own' then
  if not grant or type(grant.family_id) ~= 'string' then
    redis.call('DEL', KEYS[1])
    return value
  end
  family = grant.family_id
end
if ARGV[1] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'spent:' .. family, 'PX', ARGV[1])
end
return value
";

/// Hashed once; `invoke_async` sends EVALSHA and loads the script again when Redis answers
/// NOSCRIPT (after a restart or SCRIPT FLUSH).
static SPEND: LazyLock<Script> = LazyLock::new(|| Script::new(SPEND_LUA));

/// Which family a spent marker names.
pub(super) enum MarkerFamily<'a> {
    /// The family the caller is about to issue (authorization codes).
    Given(&'a str),
    /// The `family_id` inside the grant (refresh tokens).
    GrantsOwn,
}

pub(super) fn is_spent(value: &[u8]) -> bool {
    value.starts_with(SPENT_PREFIX)
}

impl RedisTokenStore {
    pub(super) async fn spend<T: Persisted>(
        &self,
        redis_key: &str,
        marker: MarkerFamily<'_>,
        replay_window: Duration,
    ) -> Result<Taken<T>, StoreError> {
        let (mode, family_id) = match marker {
            MarkerFamily::Given(family_id) => ("given", family_id),
            MarkerFamily::GrantsOwn => ("own", ""),
        };
        let value: Option<Vec<u8>> = SPEND
            .key(redis_key)
            .arg(ttl_millis(replay_window).unwrap_or(0))
            .arg(mode)
            .arg(family_id)
            .arg(T::FORMAT.reads_up_to)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        taken(redis_key, value)
    }

    /// Revokes a family in single-key steps, since its keys live in different slots.
    ///
    /// The tombstone is written first. A refresh writes its new pair and the family record, and
    /// then checks the tombstone. If that check comes before the tombstone is written, so did
    /// the new record, and the read below finds and deletes the new pair; otherwise the refresh
    /// sees the tombstone and deletes its pair itself. Either way no pair outlives a revocation.
    pub(super) async fn revoke(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        // A zero TTL records nothing, but never lifts an earlier, still running revocation.
        if let Some(ttl_ms) = ttl_millis(ttl) {
            redis::cmd("SET")
                .arg(Self::family_revoked_key(family_id))
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        let family_key = Self::family_key(family_id);
        let Some(record) = self.get_raw(&family_key).await? else {
            return Ok(());
        };
        let members: FamilyMembers = decode(&family_key, &record)?;
        let (access, refresh) = member_keys(family_id, &members)?;
        // Single-key DELs, not MULTI or one multi-key DEL: each key may be in its own slot.
        // The family record goes last, so a failure part-way leaves it for a retry. The access
        // token is announced so gateways drop their cached copy.
        let mut tokens = vec![Self::session_key(&access)];
        tokens.extend(refresh.map(|refresh| Self::refresh_key(&refresh)));
        self.delete_and_evict(tokens, &[access]).await?;
        self.delete(&family_key).await.map(drop)
    }
}

impl GrantStore for RedisTokenStore {
    async fn put_code(
        &self,
        key: &TokenKey,
        code: &AuthorizationCode,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(Self::code_key(key), code, ttl).await
    }

    async fn redeem_code(
        &self,
        key: &TokenKey,
        family_id: &str,
        replay_window: Duration,
    ) -> Result<Taken<AuthorizationCode>, StoreError> {
        self.spend(&Self::code_key(key), MarkerFamily::Given(family_id), replay_window).await
    }

    async fn put_refresh(
        &self,
        key: &TokenKey,
        grant: &RefreshGrant,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.put_json(Self::refresh_key(key), grant, ttl).await
    }

    async fn use_refresh(
        &self,
        key: &TokenKey,
        replay_window: Duration,
    ) -> Result<Taken<RefreshGrant>, StoreError> {
        self.spend(&Self::refresh_key(key), MarkerFamily::GrantsOwn, replay_window).await
    }

    async fn get_refresh(&self, key: &TokenKey) -> Result<Option<RefreshGrant>, StoreError> {
        let redis_key = Self::refresh_key(key);
        match self.get_raw(&redis_key).await? {
            Some(bytes) if !is_spent(&bytes) => decode(&redis_key, &bytes).map(Some),
            _ => Ok(None),
        }
    }

    async fn set_family(
        &self,
        family_id: &str,
        members: &FamilyMembers,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        // Rejected here rather than at revocation, where it would be too late to do anything.
        member_keys(family_id, members)?;
        self.put_json(Self::family_key(family_id), members, ttl).await
    }

    async fn revoke_family(&self, family_id: &str, ttl: Duration) -> Result<(), StoreError> {
        self.revoke(family_id, ttl).await
    }

    async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError> {
        let found: u64 = redis::cmd("EXISTS")
            .arg(Self::family_revoked_key(family_id))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(found > 0)
    }
}

/// What the spend script's answer means.
fn taken<T: Persisted>(redis_key: &str, value: Option<Vec<u8>>) -> Result<Taken<T>, StoreError> {
    let Some(value) = value else {
        return Ok(Taken::Missing);
    };
    match value.strip_prefix(SPENT_PREFIX) {
        Some(family_id) => String::from_utf8(family_id.to_vec())
            .map(|family_id| Taken::Replayed { family_id })
            .map_err(|e| StoreError::Corrupt(format!("spent marker at {redis_key}: {e}"))),
        None => decode(redis_key, &value).map(Taken::Fresh),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any persisted type stands in for a grant here; the family record is the smallest.
    type Grant = FamilyMembers;

    fn grant() -> Grant {
        FamilyMembers { access_key: "ab".into(), refresh_key: None }
    }

    #[test]
    fn nothing_is_missing() {
        assert_eq!(taken::<Grant>("k", None).unwrap(), Taken::Missing);
    }

    #[test]
    fn a_marker_is_a_replay_of_its_family() {
        let replayed = taken::<Grant>("k", Some(b"spent:fam-1".to_vec())).unwrap();
        assert_eq!(replayed, Taken::Replayed { family_id: "fam-1".into() });
    }

    #[test]
    fn json_is_fresh() {
        let json = br#"{"access_key":"ab","refresh_key":null}"#.to_vec();
        assert_eq!(taken::<Grant>("k", Some(json)).unwrap(), Taken::Fresh(grant()));
    }

    #[test]
    fn garbage_is_corrupt() {
        assert!(
            matches!(taken::<Grant>("k", Some(b"{".to_vec())), Err(StoreError::Corrupt(m)) if m.contains("k"))
        );
        assert!(matches!(taken::<Grant>("k", Some(b"spent:\xff".to_vec())), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn json_cannot_pass_for_a_marker() {
        // Whatever the store writes for a grant starts with `{`.
        let json =
            crate::format::encode(&FamilyMembers { access_key: "spent:".into(), refresh_key: None }).unwrap();
        assert!(!is_spent(&json));
    }
}
