//! Usage analytics of a client, read from the token store the gateways write them to, and
//! summed per endpoint (API, path, method, status, policy) as the Tyk Dashboard reports them:
//! over the whole range, or per day (UTC) on request.

use std::collections::BTreeMap;

use gatehouse_model::ValidationError;
use gatehouse_model::storage::{AnalyticsStore, MinuteAggregate};

use crate::{ControlError, ControlPlane};

/// A calendar date, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// How a report buckets time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// One row per endpoint over the whole range (the Dashboard's default).
    #[default]
    Range,
    /// One row per endpoint and day.
    Day,
}

/// One endpoint's traffic from a client, over the range or one day of it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointActivity {
    /// The day, with [`Resolution::Day`].
    pub date: Option<Date>,
    pub api_id: String,
    /// Empty when the API no longer exists.
    pub api_name: String,
    pub policy_id: String,
    pub method: String,
    /// Below the API's listen path.
    pub path: String,
    pub status: u16,
    pub hits: u64,
    pub success: u64,
    pub errors: u64,
    pub latency_ms_total: u64,
    /// Unix seconds of the start of the last minute with a hit.
    pub last_hit: u64,
}

impl Date {
    /// Days since 1970-01-01, or `None` for a date that does not exist.
    pub fn unix_day(self) -> Option<i64> {
        let Date { year, month, day } = self;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Counting from March makes the leap day the last of the year, so each month's offset
        // is a fixed formula and only whole 400-year eras need the leap rules.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let month_from_march = (i64::from(month) + 9) % 12;
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Some(era * 146_097 + day_of_era - 719_468)
    }

    /// The date `unix_day` days after 1970-01-01: the inverse of [`Date::unix_day`].
    pub fn from_unix_day(unix_day: i64) -> Date {
        let z = unix_day + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn invalid(message: String) -> ControlError {
    ControlError::Invalid(ValidationError::new("date", message))
}

impl ControlPlane {
    /// The client's traffic from `start` to `end` (both inclusive), one entry per endpoint with
    /// hits (and per day, by `resolution`), ordered by day, API id, path, method, status and
    /// policy. The store bounds the range to its retention (31 days).
    pub async fn client_activity(
        &self,
        client_id: &str,
        start: Date,
        end: Date,
        resolution: Resolution,
    ) -> Result<Vec<EndpointActivity>, ControlError> {
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            ControlError::Unavailable(
                "this control plane runs without --redis, so it has no analytics".into(),
            )
        })?;
        let from = start.unix_day().ok_or_else(|| invalid(format!("{start:?} is not a date")))?;
        let to = end.unix_day().ok_or_else(|| invalid(format!("{end:?} is not a date")))?;
        if from > to {
            return Ok(Vec::new());
        }
        let (Ok(from_minute), Ok(to_minute)) = (u64::try_from(from * 1440), u64::try_from(to * 1440 + 1439))
        else {
            return Err(invalid("dates before 1970 hold no analytics".into()));
        };
        let minutes = tokens.read(client_id, from_minute, to_minute).await?;
        let names: BTreeMap<String, String> = {
            let current = self.current.read().await;
            current.state.apis.iter().map(|(id, api)| (id.clone(), api.name.clone())).collect()
        };
        Ok(by_endpoint(minutes, &names, resolution))
    }
}

/// Most minute records one usage report may read (clients × minutes): what one admin call
/// may cost the store. A week of one API with 20 clients is 201 600; wider asks are refused
/// with the figures, so the caller can narrow the range or pick an API.
pub const MAX_USAGE_READS: u64 = 250_000;

/// Traffic of many clients in one bucket of minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageBucket {
    /// Unix minute the bucket starts at.
    pub start_minute: u64,
    pub hits: u64,
    pub success: u64,
    pub errors: u64,
    /// Responses by status class: 2xx, 3xx, 4xx, 5xx.
    pub by_class: [u64; 4],
    pub latency_ms_total: u64,
}

impl ControlPlane {
    /// Traffic of every client (or `api_id`'s) over the `minutes` before `now_minute`
    /// (inclusive), in buckets of `bucket_minutes`, oldest first, empty buckets included; and
    /// how many clients were read.
    pub async fn usage(
        &self,
        api_id: Option<&str>,
        now_minute: u64,
        minutes: u64,
        bucket_minutes: u64,
    ) -> Result<(Vec<UsageBucket>, usize), ControlError> {
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            ControlError::Unavailable(
                "this control plane runs without --redis, so it has no analytics".into(),
            )
        })?;
        let clients: Vec<String> = {
            let current = self.current.read().await;
            if let Some(api_id) = api_id
                && !current.state.apis.contains_key(api_id)
            {
                return Err(ControlError::NotFound(format!("API {api_id:?} not found")));
            }
            current
                .state
                .all_clients()
                .filter(|c| api_id.is_none_or(|id| c.api_id == id))
                .map(|c| c.client_id.clone())
                .collect()
        };
        let reads = minutes.saturating_mul(clients.len() as u64);
        if reads > MAX_USAGE_READS {
            return Err(ControlError::Invalid(ValidationError::new(
                "minutes",
                format!(
                    "{minutes} minutes of {} clients is {reads} records, over the limit of {MAX_USAGE_READS}: \
                     ask for fewer minutes or one API",
                    clients.len()
                ),
            )));
        }
        let bucket_minutes = bucket_minutes.max(1);
        let from_minute = now_minute.saturating_sub(minutes.saturating_sub(1));
        // Buckets aligned on multiples of their width, so a chart refreshed a minute later
        // shows the same buckets, one more filled.
        let first = from_minute - from_minute % bucket_minutes;
        let count = (now_minute - first) / bucket_minutes + 1;
        let mut buckets: Vec<UsageBucket> = (0..count)
            .map(|i| UsageBucket { start_minute: first + i * bucket_minutes, ..Default::default() })
            .collect();
        for client_id in &clients {
            for m in tokens.read(client_id, from_minute, now_minute).await? {
                if api_id.is_some_and(|id| m.api_id != id) || m.minute < first {
                    continue;
                }
                let Some(bucket) = usize::try_from((m.minute - first) / bucket_minutes)
                    .ok()
                    .and_then(|i| buckets.get_mut(i))
                else {
                    continue;
                };
                bucket.hits += m.hits;
                bucket.success += m.success;
                bucket.errors += m.errors;
                bucket.latency_ms_total += m.latency_ms_total;
                if let Some(class) =
                    (m.status / 100).checked_sub(2).and_then(|c| bucket.by_class.get_mut(usize::from(c)))
                {
                    *class += m.hits;
                }
            }
        }
        Ok((buckets, clients.len()))
    }
}

/// Day (with [`Resolution::Day`]), API id, path, method, status, policy id.
type EndpointKey = (Option<u64>, String, String, String, u16, String);

fn by_endpoint(
    minutes: Vec<MinuteAggregate>,
    names: &BTreeMap<String, String>,
    resolution: Resolution,
) -> Vec<EndpointActivity> {
    let mut rows: BTreeMap<EndpointKey, EndpointActivity> = BTreeMap::new();
    for m in minutes {
        let day = (resolution == Resolution::Day).then_some(m.minute / 1440);
        let key = (day, m.api_id.clone(), m.path.clone(), m.method.clone(), m.status, m.policy_id.clone());
        let entry = rows.entry(key).or_insert_with(|| EndpointActivity {
            date: day.map(|day| Date::from_unix_day(i64::try_from(day).unwrap_or(i64::MAX))),
            api_name: names.get(&m.api_id).cloned().unwrap_or_default(),
            api_id: m.api_id,
            policy_id: m.policy_id,
            method: m.method,
            path: m.path,
            status: m.status,
            hits: 0,
            success: 0,
            errors: 0,
            latency_ms_total: 0,
            last_hit: 0,
        });
        entry.hits += m.hits;
        entry.success += m.success;
        entry.errors += m.errors;
        entry.latency_ms_total += m.latency_ms_total;
        entry.last_hit = entry.last_hit.max(m.minute * 60);
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> Date {
        Date { year, month, day }
    }

    #[test]
    fn dates_round_trip_through_unix_days() {
        assert_eq!(date(1970, 1, 1).unix_day(), Some(0));
        assert_eq!(date(2000, 3, 1).unix_day(), Some(11_017));
        assert_eq!(date(2024, 2, 29).unix_day(), Some(19_782));
        for day in [-1, 0, 59, 11_016, 19_782, 20_000, 100_000] {
            assert_eq!(Date::from_unix_day(day).unix_day(), Some(day));
        }
        assert_eq!(date(2023, 2, 29).unix_day(), None);
        assert_eq!(date(2024, 13, 1).unix_day(), None);
        assert_eq!(date(2024, 4, 31).unix_day(), None);
    }

    fn m(api: &str, path: &str, minute: u64, hits: u64) -> MinuteAggregate {
        MinuteAggregate {
            client_id: "c".into(),
            api_id: api.into(),
            policy_id: "p".into(),
            method: "GET".into(),
            path: path.into(),
            status: 200,
            minute,
            hits,
            success: hits,
            errors: 0,
            latency_ms_total: hits * 2,
        }
    }

    #[test]
    fn minutes_sum_per_endpoint_over_the_range() {
        let names = BTreeMap::from([("a".to_owned(), "Orders".to_owned())]);
        let minutes =
            vec![m("a", "/x", 1440, 1), m("a", "/x", 2880, 2), m("a", "/y", 2880, 4), m("b", "/x", 2, 3)];
        let rows = by_endpoint(minutes, &names, Resolution::Range);
        let summary: Vec<_> =
            rows.iter().map(|r| (r.date, r.api_id.as_str(), r.path.as_str(), r.hits)).collect();
        assert_eq!(summary, [(None, "a", "/x", 3), (None, "a", "/y", 4), (None, "b", "/x", 3)]);
        assert_eq!(
            (rows[0].api_name.as_str(), rows[0].last_hit, rows[0].latency_ms_total),
            ("Orders", 2880 * 60, 6)
        );
        assert_eq!(rows[2].api_name, "");
    }

    #[test]
    fn minutes_sum_per_endpoint_and_day() {
        let names = BTreeMap::new();
        let rows = by_endpoint(
            vec![m("a", "/x", 1440, 1), m("a", "/x", 2879, 2), m("a", "/x", 2880, 3)],
            &names,
            Resolution::Day,
        );
        let summary: Vec<_> = rows.iter().map(|r| (r.date, r.hits)).collect();
        assert_eq!(summary, [(Some(date(1970, 1, 2)), 3), (Some(date(1970, 1, 3)), 3)]);
    }
}
