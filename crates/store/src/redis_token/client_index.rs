//! Clients' token indexes in Redis: one sorted set per client.
//!
//! `gh:ct:{<api_id>:<client_id>}` holds `at:<hex>` (an access token without a family, by the hex
//! of its `TokenKey`) and `fam:<family id>`, each scored by its expiry in unix seconds. The score
//! order is the listing order; a page is a range by score (O(log n) to find its start, then the
//! offset skipped and the page read), and the count is kept by Redis. Entries that expired are
//! dropped when the index is listed, and the whole set expires a little after its latest entry.
//! Needs Redis 6.2 or later (`ZRANGE … BYSCORE`).

use std::sync::LazyLock;
use std::time::Duration;

use gatehouse_model::storage::{ClientRef, ClientTokenEntry, ClientTokenIndex, StoreError};
use redis::Script;
use tokio::task::JoinSet;

use super::{RedisTokenStore, unavailable};
use crate::common::{MAX_EXPIRES_AT, check_client, check_entry, hex, parse_token_key};

/// How long an index outlives its latest entry. Covers the entry's last second (Redis drops a
/// key at the start of the second EXPIREAT names, while the entry is live until its end) and a
/// gateway's clock running somewhat behind Redis': that gateway's tokens expire in Redis after
/// the expiry it indexed them with.
const EXPIRY_MARGIN_SECS: u64 = 60;

/// Entries revoked per step of a revoke-all: families are revoked concurrently within a step.
const REVOKE_CHUNK: usize = 256;

/// Indexes `ARGV[2]` at score `ARGV[1]` in `KEYS[1]`, moving it if it is there. When it is now
/// the latest entry, the set expires at `ARGV[3]` (its expiry plus the margin); otherwise a
/// later entry already set a later expiry. Only strings from `ARGV` reach EXPIREAT: Lua would
/// print a computed number in a form Redis may not take as an integer.
const INDEX_LUA: &str = r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if tonumber(ARGV[1]) >= tonumber(latest[2]) then
  redis.call('EXPIREAT', KEYS[1], ARGV[3])
end
return 1
";

/// Drops the entries of `KEYS[1]` that expired before `ARGV[1]`, then returns how many are left
/// and a page of them: `ARGV[3]` entries after skipping `ARGV[2]`, as member, score, member, ….
const LIST_LUA: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local page = redis.call('ZRANGE', KEYS[1], ARGV[1], '+inf', 'BYSCORE', 'LIMIT', ARGV[2], ARGV[3], 'WITHSCORES')
return {redis.call('ZCARD', KEYS[1]), page}
";

static INDEX: LazyLock<Script> = LazyLock::new(|| Script::new(INDEX_LUA));
static LIST: LazyLock<Script> = LazyLock::new(|| Script::new(LIST_LUA));

impl RedisTokenStore {
    /// The Redis key of a client's token index; [`StoreError::Corrupt`] for ids that may not go
    /// into a key (holding `{`, `}` or `:`).
    pub fn client_index_key(client: &ClientRef<'_>) -> Result<String, StoreError> {
        check_client(client)?;
        Ok(format!("gh:ct:{{{}:{}}}", client.api_id, client.client_id))
    }
}

impl ClientTokenIndex for RedisTokenStore {
    async fn index_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let index_key = Self::client_index_key(client)?;
        check_entry(entry)?;
        let expires_at = expires_at.min(MAX_EXPIRES_AT);
        INDEX
            .key(index_key)
            .arg(expires_at)
            .arg(member(entry))
            .arg(expires_at + EXPIRY_MARGIN_SECS)
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn unindex_client_token(
        &self,
        client: &ClientRef<'_>,
        entry: &ClientTokenEntry,
    ) -> Result<bool, StoreError> {
        let index_key = Self::client_index_key(client)?;
        check_entry(entry)?;
        let removed: u64 = redis::cmd("ZREM")
            .arg(index_key)
            .arg(member(entry))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    /// The page's families are checked for a tombstone (one EXISTS each, concurrently: they
    /// live in different slots) and the revoked ones removed from the index; then the page is
    /// read again, since the entries after them moved up into it. Each round removes at least
    /// one entry, so this ends, and a revoked family is checked on one listing only.
    async fn list_client_tokens(
        &self,
        client: &ClientRef<'_>,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        let index_key = Self::client_index_key(client)?;
        loop {
            let (page, total) = self.list_page(&index_key, now, offset, limit).await?;
            let revoked = self.revoked_families(&page).await?;
            if revoked.is_empty() {
                return Ok((page, total));
            }
            redis::cmd("ZREM")
                .arg(&index_key)
                .arg(revoked)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
        }
    }

    /// Revokes what the index holds now, a chunk at a time: access tokens' sessions are deleted,
    /// families revoked as `revoke_family` revokes them, and then just those entries removed from
    /// the index (Redis deletes the set once it is empty). Removing just those, rather than the
    /// whole set, keeps a token issued and indexed while this runs in the index, where a later
    /// listing or revoke-all finds it; and an error part-way leaves the rest indexed for a retry.
    async fn revoke_client_tokens(
        &self,
        client: &ClientRef<'_>,
        family_window: Duration,
    ) -> Result<usize, StoreError> {
        let index_key = Self::client_index_key(client)?;
        let mut conn = self.conn.clone();
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(&index_key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // All parsed before anything is revoked: a damaged index is reported, not half acted on.
        let entries =
            members.iter().map(|raw| parse_member(&index_key, raw)).collect::<Result<Vec<_>, _>>()?;
        for (raw, chunk) in members.chunks(REVOKE_CHUNK).zip(entries.chunks(REVOKE_CHUNK)) {
            self.revoke_entries(chunk, family_window).await?;
            redis::cmd("ZREM")
                .arg(&index_key)
                .arg(raw)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(entries.len())
    }
}

impl RedisTokenStore {
    /// One run of the list script: a page of the index's live entries and their count.
    async fn list_page(
        &self,
        index_key: &str,
        now: u64,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(ClientTokenEntry, u64)>, usize), StoreError> {
        let (total, flat): (usize, Vec<Vec<u8>>) = LIST
            .key(index_key)
            .arg(now)
            .arg(i64::try_from(offset).unwrap_or(i64::MAX))
            .arg(i64::try_from(limit).unwrap_or(i64::MAX))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let pairs = flat.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return Err(StoreError::Corrupt(format!("listing {index_key}: a member without its score")));
        }
        let page = pairs
            .map(|pair| match pair {
                [raw, score] => Ok((parse_member(index_key, raw)?, parse_score(index_key, score)?)),
                _ => Err(StoreError::Corrupt(format!("listing {index_key}: a member without its score"))),
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((page, total))
    }

    /// The members of `page`'s families that have a revocation tombstone.
    async fn revoked_families(&self, page: &[(ClientTokenEntry, u64)]) -> Result<Vec<String>, StoreError> {
        let checks = page.iter().filter_map(|(entry, _)| match entry {
            ClientTokenEntry::Family(family_id) => Some(async move {
                let found: u64 = redis::cmd("EXISTS")
                    .arg(Self::family_revoked_key(family_id))
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(unavailable)?;
                Ok::<_, StoreError>((found > 0).then(|| member(entry)))
            }),
            ClientTokenEntry::Access(_) => None,
        });
        Ok(futures_util::future::try_join_all(checks).await?.into_iter().flatten().collect())
    }

    async fn revoke_entries(
        &self,
        entries: &[ClientTokenEntry],
        family_window: Duration,
    ) -> Result<(), StoreError> {
        let mut families = JoinSet::new();
        // Single-key DELs: the sessions live in different slots. Each is announced so gateways
        // drop their cached copy.
        let (mut sessions, mut evicted) = (Vec::new(), Vec::new());
        for entry in entries {
            match entry {
                ClientTokenEntry::Access(key) => {
                    sessions.push(Self::session_key(key));
                    evicted.push(*key);
                }
                ClientTokenEntry::Family(family_id) => {
                    let (store, family_id) = (self.clone(), family_id.clone());
                    families.spawn(async move { store.revoke(&family_id, family_window).await });
                }
            }
        }
        if !sessions.is_empty() {
            self.delete_and_evict(sessions, &evicted).await?;
        }
        while let Some(revoked) = families.join_next().await {
            revoked
                .map_err(|e| StoreError::Unavailable(format!("family revocation did not finish: {e}")))??;
        }
        Ok(())
    }
}

fn member(entry: &ClientTokenEntry) -> String {
    match entry {
        ClientTokenEntry::Access(key) => format!("at:{}", hex(key)),
        ClientTokenEntry::Family(family_id) => format!("fam:{family_id}"),
    }
}

/// The entry a member names: `at:` and exactly 64 lower-case hex digits, or `fam:` and a
/// non-empty id. Anything else is corrupt, and never turned into a key to delete.
fn parse_member(index_key: &str, raw: &[u8]) -> Result<ClientTokenEntry, StoreError> {
    let text = std::str::from_utf8(raw).ok();
    let entry = text.and_then(|text| {
        if let Some(digits) = text.strip_prefix("at:") {
            parse_token_key(digits).map(ClientTokenEntry::Access)
        } else {
            let family_id = text.strip_prefix("fam:").filter(|id| !id.is_empty())?;
            Some(ClientTokenEntry::Family(family_id.to_owned()))
        }
    });
    entry.ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(raw).chars().take(80).collect();
        StoreError::Corrupt(format!("member {shown:?} of {index_key}"))
    })
}

/// A score as written by [`RedisTokenStore::index_client`]: a whole number of seconds up to
/// [`MAX_EXPIRES_AT`]. Parsed as a float, since Redis may print a whole score in exponent form.
fn parse_score(index_key: &str, raw: &[u8]) -> Result<u64, StoreError> {
    let score = std::str::from_utf8(raw).ok().and_then(|text| text.parse::<f64>().ok());
    match score {
        Some(score) if (0.0..=MAX_EXPIRES_AT as f64).contains(&score) && score.fract() == 0.0 => {
            Ok(score as u64)
        }
        _ => Err(StoreError::Corrupt(format!(
            "score {:?} in {index_key}",
            String::from_utf8_lossy(raw).chars().take(40).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_key_is_hash_tagged_around_both_ids() {
        let client = ClientRef { api_id: "orders", client_id: "app-1" };
        assert_eq!(RedisTokenStore::client_index_key(&client).unwrap(), "gh:ct:{orders:app-1}");
        for (api_id, client_id) in [("a}b", "c"), ("a", "c{"), ("a:b", "c"), ("a", "b:c")] {
            let bad = ClientRef { api_id, client_id };
            assert!(matches!(RedisTokenStore::client_index_key(&bad), Err(StoreError::Corrupt(_))));
        }
    }

    #[test]
    fn members_round_trip() {
        for entry in [ClientTokenEntry::Access([0xa5; 32]), ClientTokenEntry::Family("fam-1:x".into())] {
            assert_eq!(parse_member("k", member(&entry).as_bytes()).unwrap(), entry);
        }
        assert_eq!(member(&ClientTokenEntry::Access([0xa5; 32])), format!("at:{}", "a5".repeat(32)));
    }

    #[test]
    fn members_are_parsed_strictly() {
        let good = "ab".repeat(32);
        let bad = [
            format!("at:{}", good.to_uppercase()),
            format!("at:{}", &good[..63]),
            format!("at:{good}0"),
            format!("AT:{good}"),
            "fam:".into(),
            "family:f".into(),
            "f".into(),
            String::new(),
        ];
        for raw in bad {
            assert!(matches!(parse_member("k", raw.as_bytes()), Err(StoreError::Corrupt(_))), "{raw:?}");
        }
        assert!(matches!(parse_member("k", b"fam:\xff"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn scores_are_whole_seconds_in_range() {
        assert_eq!(parse_score("k", b"1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_score("k", b"1.7e+9").unwrap(), 1_700_000_000);
        assert_eq!(parse_score("k", MAX_EXPIRES_AT.to_string().as_bytes()).unwrap(), MAX_EXPIRES_AT);
        for bad in ["1.5", "-1", "inf", "nan", "", "x", "1e300"] {
            assert!(matches!(parse_score("k", bad.as_bytes()), Err(StoreError::Corrupt(_))), "{bad}");
        }
    }
}
