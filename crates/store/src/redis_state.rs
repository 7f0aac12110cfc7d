//! The control plane's state in Redis, shared by control-plane replicas.
//!
//! # Keys
//! All three keys carry the hash tag `{gh-cp}`, so they sit in one Redis Cluster slot and one
//! Lua script may read and write them together. None of them expires: this is durable
//! configuration, not a cache, and losing it would lose every API, client and the token key.
//! - `gh:{gh-cp}:state`: the whole [`ConfigState`] as JSON, revision, store id and token key
//!   included (versioned: see [`crate::format`]).
//! - `gh:{gh-cp}:rev`: `<revision>:<store id>` of that state. A commit compares this small value
//!   instead of decoding the whole state inside Redis, where a script blocks every other client
//!   (token traffic may share the server) for as long as it runs. It names the store id too, so
//!   a commit prepared against a state that was wiped and re-created meanwhile (a new store id,
//!   back at revision 0) cannot land on the new one.
//! - `gh:{gh-cp}:log`: a stream with one entry per revision, entry id `<revision>-0`, field
//!   `change` holding the [`Change`] as versioned JSON. Trimmed with an exact `MAXLEN` to the last
//!   [`RedisStateStore::LOG_LEN`] entries: exact rather than `~`, so that how far back a replica
//!   can catch up is a fixed number, and trimming one entry per commit costs next to nothing.
//!
//! The three keys are only ever written together, by one script, so they always agree.
//!
//! # Durability
//! A commit is as durable as Redis makes it: `Ok` means Redis accepted the write. Run Redis with
//! the append-only file (`appendonly yes`; `appendfsync always` loses nothing on a crash,
//! `everysec` up to a second); RDB snapshots alone can lose minutes of configuration.

use std::sync::LazyLock;
use std::time::Duration;

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::{Change, ConfigState};
use redis::Script;
use redis::aio::ConnectionManager;

use crate::common::{fresh_state, next_revision};
use crate::format::{self, Persisted};
use crate::redis_conn::{self, unavailable};

mod log;

/// Creates the state when there is none, atomically, so that replicas starting together all
/// end up with the one store id and token key that got there first. Returns the stored state.
/// A log left over without a state belongs to no store any more and is dropped.
///
/// - `KEYS`: state, rev, log.
/// - `ARGV[1]`: a fresh state as JSON; `ARGV[2]`: its rev value.
const CREATE_LUA: &str = r"
local state = redis.call('GET', KEYS[1])
if state then
  return state
end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
return ARGV[1]
";

/// Compare-and-set of the state, and the change appended to the log, in one step.
///
/// - `KEYS`: state, rev, log.
/// - `ARGV`: 1 the rev value the caller read; 2 the new rev value; 3 the new state as JSON;
///   4 the log entry id; 5 the change as JSON; 6 how many log entries to keep.
///
/// Returns `{'committed'}`, `{'conflict', <rev value or ''>}`, `{'no_rev'}` (a state without
/// its rev key) or `{'bad_log', <error>}`. The log entry is added first: Redis does not roll
/// back a script that fails half-way, and XADD is the only step that can fail (an id not above
/// the stream's last one), so a failure leaves nothing written.
const COMMIT_LUA: &str = r"
local rev = redis.call('GET', KEYS[2])
if rev ~= ARGV[1] then
  if rev then
    return {'conflict', rev}
  end
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return {'no_rev'}
  end
  return {'conflict', ''}
end
local added = redis.pcall('XADD', KEYS[3], 'MAXLEN', ARGV[6], ARGV[4], 'change', ARGV[5])
if type(added) == 'table' and added.err then
  return {'bad_log', added.err}
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return {'committed'}
";

/// Hashed once; `invoke_async` sends EVALSHA and loads the script again on NOSCRIPT.
static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE_LUA));
static COMMIT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_LUA));

/// [`StateStore`] in one Redis server, shared by any number of control-plane replicas: commits
/// are compare-and-set on the revision, and every replica follows the others through
/// [`StateStore::changes_after`]. Clones share the connection, which reconnects by itself.
#[derive(Clone)]
pub struct RedisStateStore {
    /// For the dedicated connections that blocking reads need.
    client: redis::Client,
    conn: ConnectionManager,
}

impl RedisStateStore {
    /// The whole state, as JSON.
    pub const STATE_KEY: &'static str = "gh:{gh-cp}:state";
    /// `<revision>:<store id>` of the state.
    pub const REV_KEY: &'static str = "gh:{gh-cp}:rev";
    /// The change log, a stream.
    pub const LOG_KEY: &'static str = "gh:{gh-cp}:log";
    /// How many of the latest revisions the log keeps.
    pub const LOG_LEN: u64 = 1024;

    /// Connects to `url` (`redis://[user:password@]host:port[/db]`). Fails with
    /// [`StoreError::Unavailable`] within a few seconds if the server cannot be reached.
    ///
    /// One server only: a Redis Cluster URL (`redis+cluster://…`) is rejected. Control-plane
    /// replicas share state through one Redis (which may be a single-node deployment next to a
    /// cluster holding the token state).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if redis_conn::is_cluster_url(url) {
            return Err(StoreError::Unavailable(
                "the control-plane state store needs a single Redis server (redis://…); \
                 Redis Cluster (redis+cluster://…) is supported for token state only"
                    .into(),
            ));
        }
        let (client, conn) = redis_conn::connect(url).await?;
        Ok(Self { client, conn })
    }

    /// Whether the server answers a PING (the control plane's readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        redis_conn::ping(&mut self.conn.clone()).await
    }

    /// The stored state, created first if there is none.
    async fn load_or_create(&self) -> Result<ConfigState, StoreError> {
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(Self::STATE_KEY)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let bytes = match stored {
            Some(bytes) => bytes,
            None => {
                let fresh = fresh_state()?;
                CREATE
                    .key(Self::STATE_KEY)
                    .key(Self::REV_KEY)
                    .key(Self::LOG_KEY)
                    .arg(encode("the state", &fresh)?)
                    .arg(rev_value(&fresh))
                    .invoke_async(&mut self.conn.clone())
                    .await
                    .map_err(unavailable)?
            }
        };
        format::decode(&bytes).map_err(|e| StoreError::Corrupt(format!("value at {}: {e}", Self::STATE_KEY)))
    }
}

impl std::fmt::Debug for RedisStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may carry a password.
        f.debug_struct("RedisStateStore").finish_non_exhaustive()
    }
}

impl StateStore for RedisStateStore {
    async fn load(&self) -> Result<ConfigState, StoreError> {
        self.load_or_create().await
    }

    /// Reads the state, applies `change` here, and writes the result with one script that
    /// checks the rev key is still the one read: of replicas racing from the same revision,
    /// exactly one wins and the others get [`StoreError::Conflict`].
    async fn commit(&self, expected: u64, change: &Change) -> Result<u64, StoreError> {
        let mut state = self.load_or_create().await?;
        if state.revision != expected {
            return Err(StoreError::Conflict { current: state.revision });
        }
        let revision = next_revision(expected)?;
        let expected_rev = rev_value(&state);
        state.apply(revision, change);
        let reply: Vec<String> = COMMIT
            .key(Self::STATE_KEY)
            .key(Self::REV_KEY)
            .key(Self::LOG_KEY)
            .arg(expected_rev)
            .arg(rev_value(&state))
            .arg(encode("the state", &state)?)
            .arg(log::entry_id(revision))
            .arg(encode("the change", change)?)
            .arg(Self::LOG_LEN)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match reply.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["committed"] => Ok(revision),
            // The state vanished (a wiped Redis) after it was read.
            ["conflict", ""] => Err(StoreError::Conflict { current: 0 }),
            ["conflict", rev] => Err(StoreError::Conflict { current: parse_rev(rev)? }),
            ["no_rev"] => {
                Err(StoreError::Corrupt(format!("{} exists but {} does not", Self::STATE_KEY, Self::REV_KEY)))
            }
            ["bad_log", err] => Err(StoreError::Corrupt(format!(
                "cannot append revision {revision} to {}: {err}",
                Self::LOG_KEY
            ))),
            other => Err(StoreError::Corrupt(format!("unexpected reply from the commit script: {other:?}"))),
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn changes_after(&self, revision: u64, wait: Duration) -> Result<Vec<(u64, Change)>, StoreError> {
        self.read_log(revision, wait).await
    }
}

/// The rev key's value for `state`.
fn rev_value(state: &ConfigState) -> String {
    format!("{}:{}", state.revision, state.store_id)
}

/// The revision in a rev key's value.
fn parse_rev(value: &str) -> Result<u64, StoreError> {
    value.split_once(':').and_then(|(revision, _)| revision.parse().ok()).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{} holds {value:?}, not <revision>:<store id>",
            RedisStateStore::REV_KEY
        ))
    })
}

fn encode(what: &str, value: &impl Persisted) -> Result<Vec<u8>, StoreError> {
    format::encode(value).map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        for key in [RedisStateStore::STATE_KEY, RedisStateStore::REV_KEY, RedisStateStore::LOG_KEY] {
            assert!(key.starts_with("gh:{gh-cp}:"), "{key}");
        }
    }

    #[test]
    fn rev_value_round_trips() {
        let mut state = ConfigState::new("ab12".into(), [7; 32]);
        state.revision = 42;
        assert_eq!(rev_value(&state), "42:ab12");
        assert_eq!(parse_rev(&rev_value(&state)).unwrap(), 42);
    }

    #[test]
    fn bad_rev_values_are_corrupt() {
        for bad in ["", "42", ":ab", "x:ab", "-1:ab", "18446744073709551616:ab"] {
            assert!(matches!(parse_rev(bad), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }
}
