//! Usage analytics for [`MemoryTokenStore`](crate::MemoryTokenStore): what the Redis store keeps
//! in `gh:an:…` hashes, kept in one ordered map so a client's minute range is one range scan.

use std::collections::BTreeMap;

use gatehouse_model::storage::{MAX_READ_MINUTES, MinuteAggregate};

use super::Tables;

/// Counters of one (client, minute, endpoint).
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    hits: u64,
    success: u64,
    errors: u64,
    latency_ms_total: u64,
}

/// (API id, path, method, status, policy id): the fields of an aggregate naming its endpoint,
/// in read order.
type Endpoint = (String, String, String, u16, String);

fn endpoint(a: &MinuteAggregate) -> Endpoint {
    (a.api_id.clone(), a.path.clone(), a.method.clone(), a.status, a.policy_id.clone())
}

#[derive(Default)]
pub(super) struct AnalyticsTable {
    /// (client id, unix minute, endpoint) → counters; ordered so reads are range scans, and
    /// endpoints come out in the order the Redis store sorts them.
    minutes: BTreeMap<(String, u64, Endpoint), Counters>,
    /// The minute of the last expiry pass: expiry runs once per minute at most, so recording
    /// stays cheap however many entries are held.
    pruned_at: u64,
}

impl AnalyticsTable {
    /// Entries held, expired ones not yet dropped included.
    pub(super) fn len(&self) -> usize {
        self.minutes.len()
    }
}

impl Tables {
    /// Adds `batch` to the counters; minutes older than the retention (by `now_minute`) are
    /// dropped, as their Redis keys would have expired.
    pub(crate) fn record_analytics(&mut self, batch: &[MinuteAggregate], now_minute: u64) {
        let table = &mut self.analytics;
        if table.pruned_at != now_minute {
            let oldest = now_minute.saturating_sub(MAX_READ_MINUTES - 1);
            table.minutes.retain(|(_, minute, _), _| *minute >= oldest);
            table.pruned_at = now_minute;
        }
        for a in batch {
            let c = table.minutes.entry((a.client_id.clone(), a.minute, endpoint(a))).or_default();
            c.hits += a.hits;
            c.success += a.success;
            c.errors += a.errors;
            c.latency_ms_total += a.latency_ms_total;
        }
    }

    /// The client's aggregates for `from_minute..=to_minute`, by minute then API id.
    pub(crate) fn read_analytics(
        &self,
        client_id: &str,
        from_minute: u64,
        to_minute: u64,
    ) -> Vec<MinuteAggregate> {
        if from_minute > to_minute {
            return Vec::new();
        }
        let start = (client_id.to_owned(), from_minute, Endpoint::default());
        self.analytics
            .minutes
            .range(start..)
            .take_while(|((client, minute, _), _)| client == client_id && *minute <= to_minute)
            .filter(|(_, c)| c.hits > 0)
            .map(|((client, minute, (api_id, path, method, status, policy_id)), c)| MinuteAggregate {
                client_id: client.clone(),
                api_id: api_id.clone(),
                policy_id: policy_id.clone(),
                method: method.clone(),
                path: path.clone(),
                status: *status,
                minute: *minute,
                hits: c.hits,
                success: c.success,
                errors: c.errors,
                latency_ms_total: c.latency_ms_total,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(client: &str, api: &str, minute: u64, hits: u64) -> MinuteAggregate {
        MinuteAggregate {
            client_id: client.into(),
            api_id: api.into(),
            minute,
            hits,
            success: hits,
            errors: 0,
            latency_ms_total: hits * 10,
            ..MinuteAggregate::default()
        }
    }

    #[test]
    fn minutes_past_the_retention_are_dropped() {
        let mut tables = Tables::default();
        tables.record_analytics(&[agg("c", "a", 5, 1), agg("c", "a", 100, 2)], 100);
        assert_eq!(tables.analytics.len(), 2);
        tables.record_analytics(&[], 5 + MAX_READ_MINUTES);
        assert_eq!(tables.read_analytics("c", 0, u64::MAX), vec![agg("c", "a", 100, 2)]);
    }

    #[test]
    fn reads_stop_at_the_client_and_range() {
        let mut tables = Tables::default();
        tables.record_analytics(&[agg("c", "a", 1, 1), agg("c", "a", 2, 1), agg("cc", "a", 1, 1)], 2);
        assert_eq!(tables.read_analytics("c", 0, 1), vec![agg("c", "a", 1, 1)]);
        assert!(tables.read_analytics("c", 3, 2).is_empty());
    }
}
