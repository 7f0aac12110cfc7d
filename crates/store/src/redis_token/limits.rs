//! Rate limits and quotas in Redis: one script, one round trip per request (or per batch of
//! requests of one subject, counted together).
//!
//! A subject's state is in two keys that share the hash tag `{lim:<subject>}`, so the script
//! runs in Redis Cluster too:
//! - `gh:{lim:<subject>}:rate`: the TAT, unix milliseconds with three decimals (so, exactly, in
//!   µs: see `common/limits.rs`), expiring a margin after the bucket is full again.
//! - `gh:{lim:<subject>}:quota`: the count of the current period, expiring when it ends.
//!
//! Time is the caller's: each gateway passes its clock's `now`, rather than the script reading
//! Redis' TIME. Tests can then move time, and the GCRA state means the same to every gateway as
//! long as their clocks agree; the price is that a gateway whose clock is off by some amount
//! lets requests through that much early or late. Quota periods, as TTLs, run by Redis' clock.

use std::sync::LazyLock;

use gatehouse_model::storage::{
    LimitKind, LimitOutcome, LimitStore, Limits, QUOTA_PERIOD_TOLERANCE_MS, StoreError,
};
use redis::Script;

use super::{RedisTokenStore, unavailable};
use crate::common::limits::{
    BatchVerdict, Plan, RATE_STATE_MARGIN_MS, UNLIMITED, check_subject, planned, unlimited_batch,
};

/// Checks and counts a batch of requests. `KEYS[1]`: the rate key; `KEYS[2]`: the quota key.
///
/// - `ARGV[1]`: now, in unix µs; `ARGV[2]`: the emission interval in µs, `0` for no rate limit;
///   `ARGV[3]`: the window (burst · interval) in µs.
/// - `ARGV[4]`: the quota, `-1` for none; `ARGV[5]`: its period in ms.
/// - `ARGV[6]`: how long the rate key outlives the TAT, in ms.
/// - `ARGV[7]`: how many requests the batch holds (1 for a single request).
///
/// Mirrors `Plan::decide_batch`: every value is a whole number below 2⁵³, so exact as a Lua
/// number; the divisions are corrected to be exact. Numbers written to Redis go through
/// `string.format`, since Lua prints a large number in exponent form.
///
/// Returns `{status, backlog before µs, quota used before, quota ms left, allowed}`: the first
/// `allowed` requests are counted; status says why the others are refused: `0` none is, `1`
/// the rate limit, `2` the quota; `-1` and `-2` for a rate or quota key that cannot be read.
const CHECK_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local quota = tonumber(ARGV[4])
local period = ARGV[5]
local margin = tonumber(ARGV[6])
local count = tonumber(ARGV[7])

local function split_ms(us)
  local ms = math.floor(us / 1000)
  local rest = us - ms * 1000
  if rest < 0 then
    ms, rest = ms - 1, rest + 1000
  elseif rest >= 1000 then
    ms, rest = ms + 1, rest - 1000
  end
  return ms, rest
end

local before, allowed, rate_room = 0, count, -1
if interval > 0 then
  local raw = redis.call('GET', KEYS[1])
  if raw then
    local ms, frac = string.match(raw, '^(%d+)%.(%d%d%d)$')
    if not ms or #ms > 15 then
      return {-1, 0, 0, 0, 0}
    end
    local tat = tonumber(ms) * 1000 + tonumber(frac)
    before = math.min(math.max(tat - now, 0), window)
  end
  rate_room = math.floor((window - before) / interval)
  while rate_room > 0 and before + rate_room * interval > window do
    rate_room = rate_room - 1
  end
  while before + (rate_room + 1) * interval <= window do
    rate_room = rate_room + 1
  end
  allowed = math.min(allowed, rate_room)
end

local used, left, exists = 0, tonumber(period), false
if quota >= 0 then
  local raw = redis.call('GET', KEYS[2])
  if raw then
    if not string.match(raw, '^%d+$') or #raw > 15 then
      return {-2, 0, 0, 0, 0}
    end
    used, exists = tonumber(raw), true
    left = redis.call('PTTL', KEYS[2])
    if left < 0 then
      -- Not written by this script, which never leaves a count without expiry.
      redis.call('PEXPIRE', KEYS[2], period)
      left = tonumber(period)
    end
  end
  allowed = math.min(allowed, math.max(quota - used, 0))
end

local status = 0
if allowed < count then
  if allowed == rate_room then
    status = 1
  else
    status = 2
  end
end
if allowed > 0 then
  if interval > 0 then
    local after = before + allowed * interval
    local tat_ms, tat_rest = split_ms(now + after)
    local ttl_ms, ttl_rest = split_ms(after)
    if ttl_rest > 0 then
      ttl_ms = ttl_ms + 1
    end
    redis.call('SET', KEYS[1], string.format('%.0f.%03d', tat_ms, tat_rest),
      'PX', string.format('%.0f', ttl_ms + margin))
  end
  if quota >= 0 then
    if exists then
      redis.call('INCRBY', KEYS[2], string.format('%.0f', allowed))
    else
      redis.call('SET', KEYS[2], string.format('%.0f', allowed), 'PX', period)
    end
  end
end
return {status, before, used, left, allowed}
";

/// Gives back quota cells. `KEYS[1]`: the quota key. `ARGV[1]`: the cells; `ARGV[2]`: how
/// long the period they were counted in has left, in ms, by the caller's clock; `ARGV[3]`: the
/// tolerance between that and the key's PTTL. Returns how many went back: 0 unless the key
/// holds a count of this same period. DECRBY keeps the key's TTL.
const REFUND_LUA: &str = r"
local cells = tonumber(ARGV[1])
local expected = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local raw = redis.call('GET', KEYS[1])
if not raw or not string.match(raw, '^%d+$') or #raw > 15 then
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 or math.abs(left - expected) > tolerance then
  return 0
end
local back = math.min(cells, tonumber(raw))
if back > 0 then
  redis.call('DECRBY', KEYS[1], string.format('%.0f', back))
end
return back
";

static REFUND: LazyLock<Script> = LazyLock::new(|| Script::new(REFUND_LUA));

/// Hashed once; `invoke_async` sends EVALSHA, and the script itself when Redis answers NOSCRIPT.
static CHECK: LazyLock<Script> = LazyLock::new(|| Script::new(CHECK_LUA));

impl RedisTokenStore {
    /// The Redis key of a subject's rate-limit state; [`StoreError::Corrupt`] for a subject
    /// holding `{` or `}`, which could move it out of its hash tag.
    pub fn rate_limit_key(subject: &str) -> Result<String, StoreError> {
        check_subject(subject)?;
        Ok(format!("gh:{{lim:{subject}}}:rate"))
    }

    /// The Redis key of a subject's quota counter, in the same slot as its rate-limit state.
    pub fn quota_key(subject: &str) -> Result<String, StoreError> {
        check_subject(subject)?;
        Ok(format!("gh:{{lim:{subject}}}:quota"))
    }
}

impl LimitStore for RedisTokenStore {
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
                let (batch, quota_ttl_ms) = self.count_batch(subject, &plan, 1).await?;
                Ok(plan.outcome(&plan.verdict_of(&batch, 0), quota_ttl_ms))
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
                let (batch, quota_ttl_ms) = self.count_batch(subject, &plan, count).await?;
                Ok(plan.outcomes(&batch, quota_ttl_ms))
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
        let expected_left_ms = reset_ms.saturating_sub(now_ms);
        if cells == 0 || expected_left_ms == 0 {
            return Ok(0);
        }
        // Both below 2⁵³ in practice (cells are a lease's, the period a policy's); clamped anyway.
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        REFUND
            .key(Self::quota_key(subject)?)
            .arg(clamp(cells))
            .arg(clamp(expected_left_ms))
            .arg(QUOTA_PERIOD_TOLERANCE_MS)
            .invoke_async::<u64>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

impl RedisTokenStore {
    /// Runs the script for `count` requests; also returns how long the quota period has left.
    async fn count_batch(
        &self,
        subject: &str,
        plan: &Plan,
        count: u64,
    ) -> Result<(BatchVerdict, u64), StoreError> {
        let (rate_key, quota_key) = (Self::rate_limit_key(subject)?, Self::quota_key(subject)?);
        let (interval, window) = plan.rate.map_or((0, 0), |gcra| (gcra.emission_us, gcra.window_us()));
        // Both bounded well below i64::MAX (see `common/limits.rs`).
        let (quota, period) =
            plan.quota.map_or((-1, 0), |q| (i64::try_from(q.max).unwrap_or(i64::MAX), q.period_ms));
        let answer: Vec<i64> = CHECK
            .key(&rate_key)
            .key(&quota_key)
            .arg(plan.now_us())
            .arg(interval)
            .arg(window)
            .arg(quota)
            .arg(period)
            .arg(RATE_STATE_MARGIN_MS)
            .arg(count)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} for {subject:?}: {answer:?}"));
        let [status, backlog, used, left, allowed] = answer[..] else {
            return Err(corrupt("unexpected answer from the limit script"));
        };
        let refused_by = match status {
            0 => None,
            1 => Some(LimitKind::Rate),
            2 => Some(LimitKind::Quota),
            -1 => return Err(StoreError::Corrupt(format!("unreadable TAT at {rate_key}"))),
            -2 => return Err(StoreError::Corrupt(format!("unreadable count at {quota_key}"))),
            _ => return Err(corrupt("unexpected status from the limit script")),
        };
        let (Ok(backlog_before_us), Ok(quota_used_before), Ok(quota_ttl_ms), Ok(allowed)) =
            (u64::try_from(backlog), u64::try_from(used), u64::try_from(left), u64::try_from(allowed))
        else {
            return Err(corrupt("negative value from the limit script"));
        };
        if allowed > count || (allowed < count) != refused_by.is_some() {
            return Err(corrupt("inconsistent answer from the limit script"));
        }
        let quota_used_before = if plan.quota.is_some() { quota_used_before } else { 0 };
        let batch = BatchVerdict { count, allowed, refused_by, backlog_before_us, quota_used_before };
        Ok((batch, quota_ttl_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        assert_eq!(RedisTokenStore::rate_limit_key("fam:f1").unwrap(), "gh:{lim:fam:f1}:rate");
        assert_eq!(RedisTokenStore::quota_key("client:a:c").unwrap(), "gh:{lim:client:a:c}:quota");
        for bad in ["a{b", "a}b", "{", "}"] {
            assert!(matches!(RedisTokenStore::rate_limit_key(bad), Err(StoreError::Corrupt(_))));
            assert!(matches!(RedisTokenStore::quota_key(bad), Err(StoreError::Corrupt(_))));
        }
    }
}
