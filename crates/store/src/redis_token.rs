//! Token state in Redis, shared by every gateway.
//!
//! # Keys
//! - `gh:at:{<hex>}`: an access token's session (hex: the 64 hex digits of its `TokenKey`).
//!   This and the code, refresh token and family values are versioned JSON (see
//!   [`crate::format`]).
//! - `gh:code:{<hex>}`: an authorization code, then its spent marker.
//! - `gh:rt:{<hex>}`: a refresh token's grant, then its spent marker.
//! - `gh:fam:{<family id>}`: a token family's live members.
//! - `gh:famrev:{<family id>}`: a revoked family's tombstone.
//! - `gh:ct:{<api_id>:<client_id>}`: a client's token index, a sorted set of `at:<hex>` and
//!   `fam:<family id>` by expiry (see `client_index.rs`).
//! - `gh:{lim:<subject>}:rate` and `gh:{lim:<subject>}:quota`: a subject's rate-limit state and
//!   quota count (see `limits.rs`).
//! - `gh:{fail:<subject>}`: a subject's failed-authentication count and lockout (see
//!   `throttle.rs`).
//!
//! # Redis Cluster
//! [`RedisTokenStore::connect`] takes `redis://[user:password@]host:port[/db]` for one server,
//! or `redis+cluster://[user:password@]host:port,host:port,…` for a Redis Cluster: the listed
//! nodes are seeds (one reachable node is enough to discover the rest), the credentials apply
//! to every node, and there is no database to select. On a cluster each command goes to the
//! node owning its key's slot; every command the store sends touches one slot (see below).
//!
//! Every key expires. The braces are a Redis Cluster hash tag around the key's whole identity,
//! so related keys (a family and its tokens) generally sit in different slots. That is why every
//! script touches only keys of one tag (one key, but for a subject's two limit keys, which share
//! theirs), why revoking a family is a sequence of single-key commands whose order, not
//! atomicity, keeps a revoked family's tokens from surviving (see `grants.rs`), and why keys in
//! different slots are deleted by single-key DELs, never one multi-key command, MULTI or a
//! pipeline spanning slots (see `RedisConn::del_each`).

use std::sync::Arc;
use std::time::Duration;

use gatehouse_model::Session;
use gatehouse_model::storage::{MAX_TTL, SessionStore, StoreError, TokenKey};

use crate::common::hex;
use crate::format::{self, Persisted};
use crate::redis_conn::{RedisConn, cluster_nodes, is_cluster_url, unavailable};

mod client_index;
mod evict;
mod grants;
mod limits;
mod throttle;

/// The token store over one Redis server or a Redis Cluster. Clones share the connection, which
/// reconnects by itself after failures.
#[derive(Clone)]
pub struct RedisTokenStore {
    pub(crate) conn: RedisConn,
    /// Where to subscribe to evictions (the server, or each cluster seed in turn): pub/sub
    /// needs a dedicated connection of its own (see `evict.rs`).
    subscribe_urls: Arc<[String]>,
    /// Told of this process's deletions at once, before the announcement goes out.
    pub(crate) local_evictions: crate::eviction::LocalEvictionHooks,
}

impl RedisTokenStore {
    /// Connects to `url`: `redis://[user:password@]host:port[/db]` for one server, or
    /// `redis+cluster://[user:password@]host:port,host:port,…` for a Redis Cluster (see the
    /// module docs). Fails with [`StoreError::Unavailable`] within a few seconds if the server,
    /// or every listed cluster node, cannot be reached, or if the URL is malformed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let conn = RedisConn::connect(url).await?;
        let subscribe_urls = if is_cluster_url(url) { cluster_nodes(url)? } else { vec![url.to_owned()] };
        Ok(Self { conn, subscribe_urls: subscribe_urls.into(), local_evictions: Default::default() })
    }

    /// Whether Redis answers a PING (a gateway's readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        crate::redis_conn::ping(&mut self.conn.clone()).await
    }

    /// The Redis key of the session stored under `key`.
    pub fn session_key(key: &TokenKey) -> String {
        format!("gh:at:{{{}}}", hex(key))
    }

    /// The Redis key of the authorization code stored under `key`.
    pub fn code_key(key: &TokenKey) -> String {
        format!("gh:code:{{{}}}", hex(key))
    }

    /// The Redis key of the refresh token stored under `key`.
    pub fn refresh_key(key: &TokenKey) -> String {
        format!("gh:rt:{{{}}}", hex(key))
    }

    /// The Redis key of a family's record. Family ids go in verbatim: each kind of key has its
    /// own prefix, so whatever an id contains it cannot name another kind's key.
    pub fn family_key(family_id: &str) -> String {
        format!("gh:fam:{{{family_id}}}")
    }

    /// The Redis key of a family's revocation tombstone.
    pub fn family_revoked_key(family_id: &str) -> String {
        format!("gh:famrev:{{{family_id}}}")
    }

    /// Stores `value` as JSON under `redis_key` for `ttl`.
    async fn put_json(
        &self,
        redis_key: String,
        value: &impl Persisted,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let Some(ttl_ms) = ttl_millis(ttl) else {
            // Redis rejects PX 0, and SET without PX would keep the key forever; an
            // already-expired entry is simply one that is not there.
            return self.delete(&redis_key).await.map(drop);
        };
        let json = format::encode(value)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode value for {redis_key}: {e}")))?;
        redis::cmd("SET")
            .arg(redis_key)
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_raw(&self, redis_key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        redis::cmd("GET").arg(redis_key).query_async(&mut self.conn.clone()).await.map_err(unavailable)
    }

    /// `true` when the key was there.
    async fn delete(&self, redis_key: &str) -> Result<bool, StoreError> {
        let removed: u64 = redis::cmd("DEL")
            .arg(redis_key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(removed == 1)
    }
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so it is not kept around to print.
        f.debug_struct("RedisTokenStore").finish_non_exhaustive()
    }
}

impl SessionStore for RedisTokenStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        self.put_json(Self::session_key(key), session, ttl).await
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        let redis_key = Self::session_key(key);
        self.get_raw(&redis_key).await?.map(|bytes| decode(&redis_key, &bytes)).transpose()
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        // Announced even when nothing was there: a gateway may still hold a copy.
        Ok(self.delete_and_evict(vec![Self::session_key(key)], &[*key]).await? > 0)
    }
}

fn decode<T: Persisted>(redis_key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    format::decode(bytes).map_err(|e| StoreError::Corrupt(format!("value at {redis_key}: {e}")))
}

/// `ttl` in whole milliseconds for `PX`, rounded up so that a sub-millisecond TTL still stores
/// something rather than turning into "no TTL"; `None` for zero.
fn ttl_millis(ttl: Duration) -> Option<u64> {
    if ttl.is_zero() {
        return None;
    }
    let millis = ttl.min(MAX_TTL).as_nanos().div_ceil(1_000_000);
    // MAX_TTL in milliseconds fits comfortably in a u64, so the fallback is never taken.
    Some(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_prefix_and_hash_tagged_hex() {
        let mut key = [0u8; 32];
        key[0] = 0xab;
        key[31] = 0x01;
        let redis_key = RedisTokenStore::session_key(&key);
        assert_eq!(redis_key, format!("gh:at:{{ab{}01}}", "00".repeat(30)));
        assert_eq!(redis_key.len(), "gh:at:{}".len() + 64);
    }

    #[test]
    fn every_kind_of_key_has_its_own_prefix() {
        let key = [0x5a; 32];
        let hex = "5a".repeat(32);
        assert_eq!(RedisTokenStore::code_key(&key), format!("gh:code:{{{hex}}}"));
        assert_eq!(RedisTokenStore::refresh_key(&key), format!("gh:rt:{{{hex}}}"));
        assert_eq!(RedisTokenStore::family_key("f1"), "gh:fam:{f1}");
        assert_eq!(RedisTokenStore::family_revoked_key("f1"), "gh:famrev:{f1}");
    }

    #[test]
    fn ttl_is_rounded_up_to_milliseconds() {
        assert_eq!(ttl_millis(Duration::ZERO), None);
        assert_eq!(ttl_millis(Duration::from_nanos(1)), Some(1));
        assert_eq!(ttl_millis(Duration::from_millis(1500)), Some(1500));
        assert_eq!(ttl_millis(Duration::from_micros(1500)), Some(2));
        assert_eq!(ttl_millis(Duration::MAX), Some(MAX_TTL.as_millis() as u64));
    }
}
