//! Failure counters in Redis (the rule: [`FailureStore`]'s module in `gatehouse_model::storage`):
//! one script per failure on one key, so the count is exact however many gateways report at
//! once.
//!
//! # Redis keys
//! `gh:{fail:<subject>}`: a hash with `n` (failures) and `until` (end of the lockout, unix ms
//! by the callers' clock), always with a TTL. One key per script: Redis Cluster is fine.

use std::sync::LazyLock;
use std::time::Duration;

use gatehouse_model::storage::{FailurePolicy, FailureStore, StoreError};
use redis::Script;

use super::{RedisTokenStore, unavailable};

/// Counts a failure. `KEYS[1]`: the subject's hash. `ARGV`: now (unix ms), the limit, the first
/// lockout, the longest lockout and the window (ms). Mirrors `FailurePolicy::lockout_after`;
/// every number stays below 2⁵³, so it is exact in Lua, and is written through
/// `string.format`, since Lua prints large numbers in exponent form. Returns the lockout
/// started in ms, `0` for none.
const RECORD_LUA: &str = r"
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local lock = 0
if limit > 0 and n >= limit then
  lock = base
  local doublings = n - limit
  while doublings > 0 and lock < cap do
    lock = lock * 2
    doublings = doublings - 1
  end
  if lock > cap then
    lock = cap
  end
  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + lock))
end
local ttl = redis.call('PTTL', KEYS[1])
local want = window
if lock > 0 then
  want = lock + window
end
if n == 1 or ttl < 0 or (lock > 0 and ttl < want) then
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', want))
end
return lock
";

static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_LUA));

impl RedisTokenStore {
    /// The Redis key of a subject's failure count.
    pub fn failure_key(subject: &str) -> String {
        format!("gh:{{fail:{subject}}}")
    }
}

impl FailureStore for RedisTokenStore {
    async fn lockout(&self, subject: &str, now_ms: u64) -> Result<Option<Duration>, StoreError> {
        let until: Option<String> = redis::cmd("HGET")
            .arg(Self::failure_key(subject))
            .arg("until")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        // A value this code did not write counts as no lockout rather than locking forever.
        let until = until.and_then(|u| u.parse::<u64>().ok()).unwrap_or(0);
        Ok((until > now_ms).then(|| Duration::from_millis(until - now_ms)))
    }

    async fn record_failure(
        &self,
        subject: &str,
        policy: &FailurePolicy,
        now_ms: u64,
    ) -> Result<Option<Duration>, StoreError> {
        let lock_ms: u64 = RECORD
            .key(Self::failure_key(subject))
            .arg(now_ms)
            .arg(policy.limit)
            .arg(policy.lockout_ms())
            .arg(policy.max_lockout_ms())
            .arg(policy.window_ms())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok((lock_ms > 0).then(|| Duration::from_millis(lock_ms)))
    }
}
