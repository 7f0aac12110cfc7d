//! `gatehouse.v1.AnalyticsService`: a client's activity in the Dashboard's
//! `AggregateAnalyticsData` shape.

use std::sync::Arc;

use gatehouse_control::ControlPlane;
use gatehouse_control::analytics::{Date, EndpointActivity, Resolution, UsageBucket};
use tonic::{Request, Response, Status};

use crate::admin::{page, required, status_from};
use crate::pb;

#[derive(Clone)]
pub struct AnalyticsServiceImpl {
    pub control: Arc<ControlPlane>,
}

fn date(field: &str, year: i32, month: i32, day: i32) -> Result<Date, Status> {
    match (u32::try_from(month), u32::try_from(day)) {
        (Ok(month), Ok(day)) => Ok(Date { year, month, day }),
        _ => Err(Status::invalid_argument(format!("{field}: not a date"))),
    }
}

/// Counts beyond `u32` saturate: the JSON stays numeric (see `analytics.proto`).
fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `YYYY-MM-DDThh:mm:ssZ`, as the Dashboard writes `last_hit`.
fn rfc3339(unix: u64) -> String {
    let day = Date::from_unix_day(i64::try_from(unix / 86_400).unwrap_or(i64::MAX));
    let secs = unix % 86_400;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        day.year,
        day.month,
        day.day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn resolution(res: &str) -> Result<Resolution, Status> {
    match res {
        "" => Ok(Resolution::Range),
        "day" => Ok(Resolution::Day),
        other => Err(Status::invalid_argument(format!("res: {other:?} is not \"day\" or empty"))),
    }
}

fn result_unit(a: EndpointActivity) -> pb::ResultUnit {
    // Averages over the row; f64 is exact for any realistic total.
    let average = if a.hits == 0 { 0.0 } else { a.latency_ms_total as f64 / a.hits as f64 };
    let (day, month, year) = a.date.map_or((0, 0, 0), |d| {
        (i32::try_from(d.day).unwrap_or(0), i32::try_from(d.month).unwrap_or(0), d.year)
    });
    pb::ResultUnit {
        id: Some(pb::ResultId {
            api_id: a.api_id,
            api_name: a.api_name,
            day,
            month,
            year,
            hour: 0,
            path: a.path,
            code: i32::from(a.status),
            method: a.method,
            policy_id: a.policy_id,
        }),
        hits: count(a.hits),
        success: count(a.success),
        error: count(a.errors),
        latency: average,
        request_time: average,
        last_hit: rfc3339(a.last_hit),
    }
}

#[tonic::async_trait]
impl pb::analytics_service_server::AnalyticsService for AnalyticsServiceImpl {
    async fn get_client_activity(
        &self,
        request: Request<pb::GetClientActivityRequest>,
    ) -> Result<Response<pb::AggregateAnalyticsData>, Status> {
        let r = request.into_inner();
        let client_id = required("client_id", &r.client_id)?;
        let start = date("start", r.start_year, r.start_month, r.start_day)?;
        let end = date("end", r.end_year, r.end_month, r.end_day)?;
        let resolution = resolution(&r.res)?;
        let activity =
            self.control.client_activity(client_id, start, end, resolution).await.map_err(status_from)?;
        let (activity, pages) = page(activity, r.p);
        let data = activity.into_iter().map(result_unit).collect();
        Ok(Response::new(pb::AggregateAnalyticsData { data, pages }))
    }

    async fn get_usage(
        &self,
        request: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::UsageReport>, Status> {
        let r = request.into_inner();
        let minutes = match r.minutes {
            0 => 60,
            m @ 1..=MAX_MINUTES => u64::from(m.unsigned_abs()),
            m => {
                return Err(Status::invalid_argument(format!(
                    "minutes: {m} is not between 1 and {MAX_MINUTES}"
                )));
            }
        };
        let bucket_minutes = match r.bucket_minutes {
            0 => (minutes / 60).max(1),
            b if b > 0 => u64::from(b.unsigned_abs()).min(minutes),
            b => return Err(Status::invalid_argument(format!("bucket_minutes: {b} is not positive"))),
        };
        let api_id = (!r.api_id.is_empty()).then_some(r.api_id.as_str());
        let now_minute = gatehouse_model::clock::unix_seconds() / 60;
        let (buckets, clients) =
            self.control.usage(api_id, now_minute, minutes, bucket_minutes).await.map_err(status_from)?;
        Ok(Response::new(pb::UsageReport {
            buckets: buckets.into_iter().map(usage_bucket).collect(),
            bucket_minutes: i32::try_from(bucket_minutes).unwrap_or(i32::MAX),
            clients: i32::try_from(clients).unwrap_or(i32::MAX),
        }))
    }
}

/// The analytics' retention, in minutes: 31 days.
const MAX_MINUTES: i32 = 44_640;

fn usage_bucket(b: UsageBucket) -> pb::UsageBucket {
    let average = if b.hits == 0 { 0.0 } else { b.latency_ms_total as f64 / b.hits as f64 };
    let [status_2xx, status_3xx, status_4xx, status_5xx] = b.by_class.map(count);
    pb::UsageBucket {
        start: rfc3339(b.start_minute * 60),
        hits: count(b.hits),
        success: count(b.success),
        error: count(b.errors),
        status_2xx,
        status_3xx,
        status_4xx,
        status_5xx,
        latency: average,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_hit_is_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_718_781_099), "2024-06-19T07:11:39Z");
    }
}
