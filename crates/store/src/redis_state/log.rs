//! Following the change log: [`StateStore::changes_after`](crate::StateStore::changes_after)
//! for [`RedisStateStore`].

use std::time::Duration;

use gatehouse_model::Change;
use gatehouse_model::storage::StoreError;
use redis::Value;
use redis::{AsyncConnectionConfig, Client};

use super::{RedisStateStore, parse_rev};
use crate::common::next_revision;
use crate::format;
use crate::redis_conn::{CONNECTION_TIMEOUT, RESPONSE_TIMEOUT, unavailable};

/// Longest single wait. A longer `wait` returns empty after this, which "up to `wait`" allows;
/// the cap keeps the arithmetic on the wait and Redis' BLOCK argument far from any limit.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The log entry id of `revision`.
pub(super) fn entry_id(revision: u64) -> String {
    format!("{revision}-0")
}

impl RedisStateStore {
    /// The changes after `revision`: read at once, and if there are none, waited for.
    ///
    /// The rev key and the log are read in one transaction, so "nothing after `revision`" and
    /// "the state is past `revision`" together mean the log was trimmed (or lost), never a
    /// commit that slipped in between the two reads.
    pub(super) async fn read_log(
        &self,
        revision: u64,
        wait: Duration,
    ) -> Result<Vec<(u64, Change)>, StoreError> {
        let first = next_revision(revision)?;
        let (rev, range): (Option<String>, Value) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(Self::REV_KEY)
            .cmd("XRANGE")
            .arg(Self::LOG_KEY)
            .arg(entry_id(first))
            .arg("+")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let changes = decode_entries(range)?;
        if !changes.is_empty() {
            return following(revision, changes);
        }
        // No state yet is revision 0. A store behind `revision` is not the one the caller
        // followed (wiped, or restored from an older backup): it must reload as well.
        let current = rev.as_deref().map(parse_rev).transpose()?.unwrap_or(0);
        if current != revision {
            return Err(StoreError::Truncated(revision));
        }
        if wait.is_zero() {
            return Ok(Vec::new());
        }
        let changes = block_for_log(&self.client, revision, wait.min(MAX_WAIT)).await?;
        following(revision, changes)
    }
}

/// Waits up to `wait` for entries after `revision` with XREAD BLOCK.
///
/// On a connection of its own, opened for this call and closed after it: a blocked command on
/// the shared multiplexed connection would hold up every command queued behind it. Only a
/// caller that is up to date gets here, so a follower opens at most one connection per `wait`
/// while nothing changes. Its response timeout is the wait plus the usual one, so a Redis that
/// stops answering mid-wait is reported shortly after the wait ends, never a hang.
async fn block_for_log(
    client: &Client,
    revision: u64,
    wait: Duration,
) -> Result<Vec<(u64, Change)>, StoreError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(wait + RESPONSE_TIMEOUT));
    let mut conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(unavailable)?;
    // Rounded up, so that a sub-millisecond wait does not become BLOCK 0, which waits forever.
    let block_ms = wait.as_nanos().div_ceil(1_000_000).max(1);
    // Entries with ids above `<revision>-0`; any committed since the read above come back at
    // once, so nothing is missed between the two.
    let reply: Value = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(u64::try_from(block_ms).unwrap_or(u64::MAX))
        .arg("STREAMS")
        .arg(RedisStateStore::LOG_KEY)
        .arg(entry_id(revision))
        .query_async(&mut conn)
        .await
        .map_err(unavailable)?;
    decode_xread(reply)
}

/// `changes`, checked to start right after `revision` and to have no gaps.
fn following(revision: u64, changes: Vec<(u64, Change)>) -> Result<Vec<(u64, Change)>, StoreError> {
    let first = next_revision(revision)?;
    if changes.first().is_some_and(|(oldest, _)| *oldest > first) {
        return Err(StoreError::Truncated(revision));
    }
    for (offset, (got, _)) in (0u64..).zip(&changes) {
        if first.checked_add(offset) != Some(*got) {
            return Err(StoreError::Corrupt(format!(
                "{} has revision {got} where {first} + {offset} belongs",
                RedisStateStore::LOG_KEY
            )));
        }
    }
    Ok(changes)
}

/// An XREAD reply: nil when the wait ran out, else the one stream asked for with its entries
/// (an array of `[name, entries]` pairs in RESP2, a map in RESP3).
fn decode_xread(reply: Value) -> Result<Vec<(u64, Change)>, StoreError> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(streams) => streams,
        Value::Array(streams) => streams.into_iter().map(pair).collect::<Result<_, _>>()?,
        other => return Err(unexpected("XREAD reply", &other)),
    };
    let mut changes = Vec::new();
    for (_name, entries) in streams {
        changes.extend(decode_entries(entries)?);
    }
    Ok(changes)
}

/// The entries of an XRANGE reply (or of one stream in an XREAD reply).
fn decode_entries(entries: Value) -> Result<Vec<(u64, Change)>, StoreError> {
    match entries {
        Value::Nil => Ok(Vec::new()),
        Value::Array(entries) => entries.into_iter().map(decode_entry).collect(),
        other => Err(unexpected("list of log entries", &other)),
    }
}

/// One entry, `[id, [field, value, ...]]`.
fn decode_entry(entry: Value) -> Result<(u64, Change), StoreError> {
    let (id, fields) = pair(entry)?;
    let id = text(id)?;
    let revision = id
        .strip_suffix("-0")
        .and_then(|revision| revision.parse().ok())
        .ok_or_else(|| corrupt(format!("entry id {id:?} is not <revision>-0")))?;
    let Value::Array(fields) = fields else {
        return Err(unexpected("entry fields", &fields));
    };
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if bytes(name)? == b"change" {
            return format::decode(&bytes(value)?)
                .map(|change| (revision, change))
                .map_err(|e| corrupt(format!("entry {id}: {e}")));
        }
    }
    Err(corrupt(format!("entry {id} has no change field")))
}

fn pair(value: Value) -> Result<(Value, Value), StoreError> {
    match value {
        Value::Array(items) => match <[Value; 2]>::try_from(items) {
            Ok([first, second]) => Ok((first, second)),
            Err(items) => Err(corrupt(format!("expected a pair, got {} items", items.len()))),
        },
        other => Err(unexpected("pair", &other)),
    }
}

fn bytes(value: Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(unexpected("string", &other)),
    }
}

fn text(value: Value) -> Result<String, StoreError> {
    String::from_utf8(bytes(value)?).map_err(|e| corrupt(format!("entry id is not UTF-8: {e}")))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("{}: {what}", RedisStateStore::LOG_KEY))
}

fn unexpected(wanted: &str, got: &Value) -> StoreError {
    corrupt(format!("expected a {wanted}, got {got:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: &[&str]) -> Value {
        let fields = fields.iter().map(|f| Value::BulkString(f.as_bytes().to_vec())).collect();
        Value::Array(vec![Value::BulkString(id.as_bytes().to_vec()), Value::Array(fields)])
    }

    const CHANGE: &str = r#"{"kind":"api_deleted","api_id":"a"}"#;

    fn deleted(id: &str) -> Change {
        Change::ApiDeleted { api_id: id.into() }
    }

    #[test]
    fn entries_decode() {
        let reply = Value::Array(vec![
            entry("7-0", &["change", CHANGE]),
            entry("8-0", &["x", "y", "change", CHANGE]),
        ]);
        assert_eq!(decode_entries(reply).unwrap(), [(7, deleted("a")), (8, deleted("a"))]);
        assert!(decode_entries(Value::Nil).unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_corrupt() {
        for bad in [
            entry("7-1", &["change", CHANGE]),
            entry("x-0", &["change", CHANGE]),
            entry("7-0", &["other", CHANGE]),
            entry("7-0", &["change", "{not json"]),
            Value::Array(vec![Value::Int(1)]),
        ] {
            let result = decode_entries(Value::Array(vec![bad.clone()]));
            assert!(matches!(result, Err(StoreError::Corrupt(_))), "{bad:?}: {result:?}");
        }
    }

    #[test]
    fn xread_decodes_in_both_protocols() {
        let name = Value::BulkString(RedisStateStore::LOG_KEY.as_bytes().to_vec());
        let entries = Value::Array(vec![entry("3-0", &["change", CHANGE])]);
        let resp2 = Value::Array(vec![Value::Array(vec![name.clone(), entries.clone()])]);
        let resp3 = Value::Map(vec![(name, entries)]);
        assert_eq!(decode_xread(resp2).unwrap(), [(3, deleted("a"))]);
        assert_eq!(decode_xread(resp3).unwrap(), [(3, deleted("a"))]);
        assert!(decode_xread(Value::Nil).unwrap().is_empty());
    }

    #[test]
    fn following_needs_the_next_revision_and_no_gaps() {
        let changes = |revs: &[u64]| revs.iter().map(|r| (*r, deleted("a"))).collect::<Vec<_>>();
        assert_eq!(following(4, changes(&[5, 6])).unwrap(), changes(&[5, 6]));
        assert!(following(4, changes(&[])).unwrap().is_empty());
        assert!(matches!(following(4, changes(&[6, 7])), Err(StoreError::Truncated(4))));
        assert!(matches!(following(4, changes(&[5, 7])), Err(StoreError::Corrupt(_))));
        assert!(matches!(following(4, changes(&[4, 5])), Err(StoreError::Corrupt(_))));
    }
}
