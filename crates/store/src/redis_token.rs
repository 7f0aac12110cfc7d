//! Token state in Redis, shared by every gateway.
//!
//! Keys are `gh:at:{<hex of the TokenKey>}`. The braces are a Redis Cluster hash tag: keys
//! later added for the same token (refresh tokens, counters) will carry the same tag and so
//! land in the same slot, where multi-key commands and scripts on them stay legal.

use std::time::Duration;

use gatehouse_model::Session;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::common::{MAX_TTL, hex};
use crate::{StoreError, TokenKey, TokenStore};

/// Each connection attempt and each command give up after this long: a gateway answers 503
/// quickly rather than piling up requests behind a Redis that stopped answering.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Retries within one (re)connection. Few, because the manager tries again on the next command
/// anyway, and each retry against an unresponsive host costs a full connection timeout.
const CONNECT_RETRIES: usize = 1;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

/// [`TokenStore`] over one Redis server. Clones share the connection, which reconnects by itself
/// after failures.
#[derive(Clone)]
pub struct RedisTokenStore {
    conn: ConnectionManager,
}

impl RedisTokenStore {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`). Fails with
    /// [`StoreError::Unavailable`] within a few seconds if the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(CONNECT_RETRIES)
            .set_min_delay(RETRY_MIN_DELAY)
            .set_max_delay(RETRY_MAX_DELAY);
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        Ok(Self { conn })
    }

    /// The Redis key of the session stored under `key`.
    pub fn session_key(key: &TokenKey) -> String {
        format!("gh:at:{{{}}}", hex(key))
    }
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so it is not kept around to print.
        f.debug_struct("RedisTokenStore").finish_non_exhaustive()
    }
}

impl TokenStore for RedisTokenStore {
    async fn put_session(&self, key: &TokenKey, session: &Session, ttl: Duration) -> Result<(), StoreError> {
        let Some(ttl_ms) = ttl_millis(ttl) else {
            // Redis rejects PX 0, and SET without PX would keep the key forever; an
            // already-expired session is simply one that is not there.
            self.delete_session(key).await?;
            return Ok(());
        };
        let value = serde_json::to_vec(session)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode session: {e}")))?;
        redis::cmd("SET")
            .arg(Self::session_key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms)
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn get_session(&self, key: &TokenKey) -> Result<Option<Session>, StoreError> {
        let redis_key = Self::session_key(key);
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&redis_key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        value
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("session at {redis_key}: {e}")))
            })
            .transpose()
    }

    async fn delete_session(&self, key: &TokenKey) -> Result<bool, StoreError> {
        let removed: u64 = redis::cmd("DEL")
            .arg(Self::session_key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(removed == 1)
    }
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

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
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
    fn ttl_is_rounded_up_to_milliseconds() {
        assert_eq!(ttl_millis(Duration::ZERO), None);
        assert_eq!(ttl_millis(Duration::from_nanos(1)), Some(1));
        assert_eq!(ttl_millis(Duration::from_millis(1500)), Some(1500));
        assert_eq!(ttl_millis(Duration::from_micros(1500)), Some(2));
        assert_eq!(ttl_millis(Duration::MAX), Some(MAX_TTL.as_millis() as u64));
    }
}
