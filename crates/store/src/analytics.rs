//! Usage analytics in the token stores ([`AnalyticsStore`], whose doc says what is counted).
//!
//! # Redis keys
//! `gh:an:{<client_id>}:<unix minute>`: a hash with the client's totals (`hits`, `success`,
//! `error`, `latency_ms_total`) and the same four per endpoint, in fields
//! `ep\t<api_id>\t<policy_id>\t<method>\t<status>\t<path>\t<counter>`, expiring
//! [`ANALYTICS_TTL`] after its last write. Tabs cannot occur in ids (see `check_id`), methods
//! or paths (a URI has no raw whitespace), so the fields split unambiguously. The hash tag is the client id, so every key a read
//! touches sits in one slot: reads and a client's writes are single-slot pipelines, which
//! Redis Cluster accepts.

use std::collections::{BTreeMap, HashMap};

use gatehouse_model::storage::{
    ANALYTICS_TTL, AnalyticsStore, MAX_READ_MINUTES, MinuteAggregate, StoreError,
};
use tokio::task::JoinSet;

use crate::redis_conn::{RedisConn, unavailable};
use crate::{MemoryTokenStore, RedisTokenStore};

/// HGETALLs per pipeline on reads: bounds the size of one reply, and of one blocked round trip.
const READ_CHUNK: usize = 1000;

/// The minutes a read covers, cut to [`MAX_READ_MINUTES`]; empty when `from > to`.
fn read_range(from_minute: u64, to_minute: u64) -> std::ops::RangeInclusive<u64> {
    from_minute.max(to_minute.saturating_sub(MAX_READ_MINUTES - 1))..=to_minute
}

/// The current Unix minute: the bucket analytics count a request in.
pub fn unix_minute_now() -> u64 {
    gatehouse_model::clock::unix_seconds() / 60
}

/// The Redis key of a client's counters for one minute.
pub(crate) fn analytics_key(client_id: &str, minute: u64) -> String {
    format!("gh:an:{{{client_id}}}:{minute}")
}

/// The hash field prefix of one endpoint's counters (see the module doc).
fn endpoint_field(a: &MinuteAggregate) -> String {
    format!("ep\t{}\t{}\t{}\t{}\t{}\t", a.api_id, a.policy_id, a.method, a.status, a.path)
}

/// An endpoint's hash field split into the aggregate it belongs to and its counter name.
fn parse_endpoint_field(field: &str) -> Option<(MinuteAggregate, &str)> {
    let mut parts = field.strip_prefix("ep\t")?.splitn(5, '\t');
    let (api_id, policy_id, method, status) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (path, counter) = parts.next()?.rsplit_once('\t')?;
    let aggregate = MinuteAggregate {
        api_id: api_id.to_owned(),
        policy_id: policy_id.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        status: status.parse().ok()?,
        ..MinuteAggregate::default()
    };
    Some((aggregate, counter))
}

/// The sort key of reads: the order the Dashboard lists endpoints in.
fn endpoint_order(a: &MinuteAggregate) -> (u64, &str, &str, &str, u16, &str) {
    (a.minute, &a.api_id, &a.path, &a.method, a.status, &a.policy_id)
}

/// The four counters of one aggregate, by their field names in the hash.
fn counters(a: &MinuteAggregate) -> [(&'static str, u64); 4] {
    [("hits", a.hits), ("success", a.success), ("error", a.errors), ("latency_ms_total", a.latency_ms_total)]
}

impl RedisTokenStore {
    /// Commands adding `aggregates` (all of one client) to `pipe`.
    fn analytics_commands(pipe: &mut redis::Pipeline, aggregates: &[&MinuteAggregate]) {
        let ttl = ANALYTICS_TTL.as_secs();
        for a in aggregates {
            let key = analytics_key(&a.client_id, a.minute);
            let endpoint = endpoint_field(a);
            for (field, by) in counters(a) {
                pipe.cmd("HINCRBY").arg(&key).arg(field).arg(by).ignore();
                pipe.cmd("HINCRBY").arg(&key).arg(format!("{endpoint}{field}")).arg(by).ignore();
            }
            pipe.cmd("EXPIRE").arg(&key).arg(ttl).ignore();
        }
    }
}

impl AnalyticsStore for RedisTokenStore {
    async fn record(&self, batch: &[MinuteAggregate]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut by_client: HashMap<&str, Vec<&MinuteAggregate>> = HashMap::new();
        for a in batch {
            by_client.entry(&a.client_id).or_default().push(a);
        }
        match &self.conn {
            // One server: the whole batch in one round trip.
            RedisConn::Single(conn) => {
                let mut pipe = redis::pipe();
                for aggregates in by_client.values() {
                    Self::analytics_commands(&mut pipe, aggregates);
                }
                pipe.query_async::<()>(&mut conn.clone()).await.map_err(unavailable)
            }
            // A cluster rejects pipelines spanning slots: one pipeline per client, concurrently.
            RedisConn::Cluster(conn) => {
                let mut writes = JoinSet::new();
                for aggregates in by_client.values() {
                    let mut pipe = redis::pipe();
                    Self::analytics_commands(&mut pipe, aggregates);
                    let mut conn = conn.clone();
                    writes.spawn(async move { pipe.query_async::<()>(&mut conn).await });
                }
                while let Some(done) = writes.join_next().await {
                    done.map_err(|e| {
                        StoreError::Unavailable(format!("an analytics write did not finish: {e}"))
                    })?
                    .map_err(unavailable)?;
                }
                Ok(())
            }
        }
    }

    async fn read(
        &self,
        client_id: &str,
        from_minute: u64,
        to_minute: u64,
    ) -> Result<Vec<MinuteAggregate>, StoreError> {
        let minutes: Vec<u64> = read_range(from_minute, to_minute).collect();
        let mut out = Vec::new();
        for chunk in minutes.chunks(READ_CHUNK) {
            let mut pipe = redis::pipe();
            for minute in chunk {
                pipe.cmd("HGETALL").arg(analytics_key(client_id, *minute));
            }
            let hashes: Vec<HashMap<String, String>> =
                pipe.query_async(&mut self.conn.clone()).await.map_err(unavailable)?;
            for (minute, hash) in chunk.iter().zip(hashes) {
                out.extend(decode_minute(client_id, *minute, &hash)?);
            }
        }
        Ok(out)
    }
}

/// The per-endpoint aggregates in one minute's hash, in read order.
fn decode_minute(
    client_id: &str,
    minute: u64,
    hash: &HashMap<String, String>,
) -> Result<Vec<MinuteAggregate>, StoreError> {
    let mut per_endpoint: BTreeMap<&str, MinuteAggregate> = BTreeMap::new();
    for (field, value) in hash {
        // Client totals are for cheap whole-client reads; the endpoint fields carry the same sums.
        let Some((parsed, counter)) = parse_endpoint_field(field) else { continue };
        let n: u64 = value.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "{}: field {field:?} is not a count",
                analytics_key(client_id, minute)
            ))
        })?;
        let endpoint = &field[..field.len() - counter.len()];
        let entry = per_endpoint.entry(endpoint).or_insert_with(|| MinuteAggregate {
            client_id: client_id.to_owned(),
            minute,
            ..parsed
        });
        match counter {
            "hits" => entry.hits = n,
            "success" => entry.success = n,
            "error" => entry.errors = n,
            "latency_ms_total" => entry.latency_ms_total = n,
            _ => {} // a counter a newer version added: not ours to interpret
        }
    }
    let mut aggregates: Vec<MinuteAggregate> = per_endpoint.into_values().filter(|a| a.hits > 0).collect();
    aggregates.sort_by(|a, b| endpoint_order(a).cmp(&endpoint_order(b)));
    Ok(aggregates)
}

impl AnalyticsStore for MemoryTokenStore {
    async fn record(&self, batch: &[MinuteAggregate]) -> Result<(), StoreError> {
        let now = unix_minute_now();
        self.lock().record_analytics(batch, now);
        Ok(())
    }

    async fn read(
        &self,
        client_id: &str,
        from_minute: u64,
        to_minute: u64,
    ) -> Result<Vec<MinuteAggregate>, StoreError> {
        let range = read_range(from_minute, to_minute);
        Ok(self.lock().read_analytics(client_id, *range.start(), *range.end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_to_the_retention() {
        assert_eq!(read_range(10, 20), 10..=20);
        assert!(read_range(20, 10).is_empty());
        let wide = read_range(0, 1_000_000);
        assert_eq!(wide.end() - wide.start() + 1, MAX_READ_MINUTES);
        assert_eq!(MAX_READ_MINUTES, 44_640);
    }

    #[test]
    fn hashes_decode_per_endpoint_and_reject_garbage() {
        let hash: HashMap<String, String> = [
            ("hits", "3"),
            ("ep\ta\tgold\tGET\t404\t/x:y\thits", "2"),
            ("ep\ta\tgold\tGET\t404\t/x:y\terror", "2"),
            ("ep\ta\tgold\tGET\t404\t/x:y\tlatency_ms_total", "40"),
            ("ep\ta\tgold\tGET\t200\t/\thits", "1"),
            ("ep\ta\tgold\tGET\t200\t/\tsuccess", "1"),
            ("ep\tbroken", "9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let decoded = decode_minute("cl", 7, &hash).unwrap();
        assert_eq!(decoded.len(), 2);
        let root = &decoded[0];
        assert_eq!((root.path.as_str(), root.status, root.hits, root.success), ("/", 200, 1, 1));
        let missing = &decoded[1];
        assert_eq!((missing.api_id.as_str(), missing.policy_id.as_str()), ("a", "gold"));
        assert_eq!((missing.method.as_str(), missing.path.as_str(), missing.status), ("GET", "/x:y", 404));
        assert_eq!((missing.hits, missing.errors, missing.latency_ms_total), (2, 2, 40));
        let bad: HashMap<String, String> =
            [("ep\ta\tp\tGET\t200\t/\thits".to_owned(), "x".to_owned())].into();
        assert!(matches!(decode_minute("cl", 7, &bad), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn endpoint_fields_round_trip() {
        let a = MinuteAggregate {
            api_id: "orders".into(),
            policy_id: "gold".into(),
            method: "POST".into(),
            path: "/items/1".into(),
            status: 201,
            ..MinuteAggregate::default()
        };
        let field = endpoint_field(&a) + "hits";
        let (parsed, counter) = parse_endpoint_field(&field).unwrap();
        assert_eq!((parsed, counter), (a, "hits"));
    }
}
