//! Usage analytics of a client, read from the token store the gateways write them to, and
//! bucketed per day (UTC) and API as the Tyk Dashboard reports them.

use std::collections::BTreeMap;

use gatehouse_model::ValidationError;
use gatehouse_store::{AnalyticsStore, MinuteAggregate};

use crate::{ControlError, ControlPlane};

/// A calendar date, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// One day of one API's traffic from a client.
#[derive(Debug, Clone, PartialEq)]
pub struct DayActivity {
    pub date: Date,
    pub api_id: String,
    /// Empty when the API no longer exists.
    pub api_name: String,
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
    /// The client's traffic from `start` to `end` (both inclusive), one entry per day and API
    /// with hits, by day then API id. The store bounds the range to its retention (31 days).
    pub async fn client_activity(
        &self,
        client_id: &str,
        start: Date,
        end: Date,
    ) -> Result<Vec<DayActivity>, ControlError> {
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
        Ok(by_day(minutes, &names))
    }
}

fn by_day(minutes: Vec<MinuteAggregate>, names: &BTreeMap<String, String>) -> Vec<DayActivity> {
    let mut days: BTreeMap<(u64, String), DayActivity> = BTreeMap::new();
    for m in minutes {
        let unix_day = m.minute / 1440;
        let entry = days.entry((unix_day, m.api_id.clone())).or_insert_with(|| DayActivity {
            date: Date::from_unix_day(i64::try_from(unix_day).unwrap_or(i64::MAX)),
            api_name: names.get(&m.api_id).cloned().unwrap_or_default(),
            api_id: m.api_id,
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
    days.into_values().collect()
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

    #[test]
    fn minutes_sum_per_day_and_api() {
        let m = |api: &str, minute: u64, hits: u64| MinuteAggregate {
            client_id: "c".into(),
            api_id: api.into(),
            minute,
            hits,
            success: hits,
            errors: 0,
            latency_ms_total: hits * 2,
        };
        let names = BTreeMap::from([("a".to_owned(), "Orders".to_owned())]);
        let days = by_day(vec![m("a", 1440, 1), m("a", 2879, 2), m("b", 2880, 3)], &names);
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].date, days[0].hits, days[0].latency_ms_total), (date(1970, 1, 2), 3, 6));
        assert_eq!((days[0].api_name.as_str(), days[0].last_hit), ("Orders", 2879 * 60));
        assert_eq!((days[1].date, days[1].api_name.as_str()), (date(1970, 1, 3), ""));
    }
}
