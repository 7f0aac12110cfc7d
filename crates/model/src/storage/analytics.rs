//! Usage analytics: request counts and latency per client, per endpoint, per minute.
//!
//! An endpoint is what the Dashboard groups a client's activity by (API, path, status code)
//! plus the method and the policy that let the request through. Gateways aggregate in process
//! and flush batches (see `gatehouse-gateway`'s recorder), so the store sees one increment per
//! (client, endpoint, minute) per flush rather than one per request.

use std::future::Future;
use std::time::Duration;

use super::StoreError;

/// How long a minute's counters are kept: the Dashboard's longest usual report is a month.
pub const ANALYTICS_TTL: Duration = Duration::from_secs(31 * 24 * 3600);
/// The widest range one read covers, in minutes (31 days: 44 640 keys). Older minutes have
/// expired anyway, so a wider range is cut to its last `MAX_READ_MINUTES`.
pub const MAX_READ_MINUTES: u64 = ANALYTICS_TTL.as_secs() / 60;

/// What one client did on one endpoint during one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteAggregate {
    pub client_id: String,
    pub api_id: String,
    /// The policy the client's session was authorised by.
    pub policy_id: String,
    pub method: String,
    /// The path below the API's listen path, without the query.
    pub path: String,
    /// The response status the client got.
    pub status: u16,
    /// Unix time in minutes (seconds / 60) when the requests were answered.
    pub minute: u64,
    pub hits: u64,
    /// Responses below 400.
    pub success: u64,
    /// Responses of 400 and above (Tyk's split between `success` and `error`).
    pub errors: u64,
    /// Sum of the requests' latencies, so averages can be taken over any range.
    pub latency_ms_total: u64,
}

/// Where gateways write analytics and the control plane reads them.
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Adds every aggregate of `batch` to the stored counters (entries for the same client,
    /// endpoint and minute add up). Not atomic across clients: on an error, some may have been counted.
    fn record(&self, batch: &[MinuteAggregate]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The client's aggregates for minutes `from_minute..=to_minute`, one per endpoint and
    /// minute with any hits, ordered by minute then endpoint (API id, path, method, status,
    /// policy). See [`MAX_READ_MINUTES`].
    fn read(
        &self,
        client_id: &str,
        from_minute: u64,
        to_minute: u64,
    ) -> impl Future<Output = Result<Vec<MinuteAggregate>, StoreError>> + Send;
}
