//! Prometheus metrics: one process-wide registry (the `metrics` facade with the Prometheus
//! recorder), rendered as text on each listener's `/metrics`.
//!
//! Names (all prefixed `gatehouse_`; seconds for durations):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `gatehouse_gateway_requests_total` | counter | `api`, `route`, `status_class` |
//! | `gatehouse_gateway_request_duration_seconds` | histogram | `api`, `route` |
//! | `gatehouse_gateway_upstream_duration_seconds` | histogram | `api` |
//! | `gatehouse_gateway_tokens_issued_total` | counter | `api`, `grant_type` |
//! | `gatehouse_gateway_limit_rejections_total` | counter | `api`, `limit` (`rate`, `quota`) |
//! | `gatehouse_gateway_config_revision` | gauge | |
//! | `gatehouse_redis_duration_seconds` | histogram | `op` |
//! | `gatehouse_redis_errors_total` | counter | `op` |
//! | `gatehouse_admin_requests_total` | counter | `protocol` (`grpc`, `rest`), `method`, `code` |
//! | `gatehouse_control_plane_connected_gateways` | gauge | |
//! | `gatehouse_control_plane_config_revision` | gauge | |
//! | `gatehouse_open_connections` | gauge | `role` (`gateway`, `control_plane`) |
//! | `gatehouse_connections_refused_total` | counter | `role` |
//! | `gatehouse_connection_timeouts_total` | counter | `role`, `kind` (`header`, `body`, `idle`) |
//! | `gatehouse_build_info` | gauge (1) | `version`, `commit` |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_start_time_seconds` | as Prometheus's client libraries define them (`process.rs`, read from `/proc` when scraped) | |
//!
//! Label values are ids from the configuration and fixed vocabularies, never anything a caller
//! can choose freely (which would let anyone grow the registry) and never client ids (many, and
//! the usage analytics already count per client).
//!
//! Handles are registered once and then cached (see [`gateway::ApiMetrics`], [`RedisOp`]): an
//! increment on the request path is an atomic add, with no label set built per request.

pub mod connections;
pub mod control;
pub mod gateway;
mod process;
mod redis;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub use process::BuildInfo;
pub use redis::RedisOp;

/// Where both roles serve the exposition.
pub const PATH: &str = "/metrics";
/// The Prometheus text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) const GATEWAY_REQUESTS: &str = "gatehouse_gateway_requests_total";
pub(crate) const GATEWAY_DURATION: &str = "gatehouse_gateway_request_duration_seconds";
pub(crate) const UPSTREAM_DURATION: &str = "gatehouse_gateway_upstream_duration_seconds";
pub(crate) const TOKENS_ISSUED: &str = "gatehouse_gateway_tokens_issued_total";
pub(crate) const LIMIT_REJECTIONS: &str = "gatehouse_gateway_limit_rejections_total";
pub(crate) const GATEWAY_REVISION: &str = "gatehouse_gateway_config_revision";
pub(crate) const REDIS_DURATION: &str = "gatehouse_redis_duration_seconds";
pub(crate) const REDIS_ERRORS: &str = "gatehouse_redis_errors_total";
pub(crate) const ADMIN_REQUESTS: &str = "gatehouse_admin_requests_total";
pub(crate) const CONNECTED_GATEWAYS: &str = "gatehouse_control_plane_connected_gateways";
pub(crate) const CONTROL_REVISION: &str = "gatehouse_control_plane_config_revision";
pub(crate) const OPEN_CONNECTIONS: &str = "gatehouse_open_connections";
pub(crate) const CONNECTIONS_REFUSED: &str = "gatehouse_connections_refused_total";
pub(crate) const CONNECTION_TIMEOUTS: &str = "gatehouse_connection_timeouts_total";

/// Latency buckets, in seconds: sub-millisecond (a Redis call on loopback) to half a minute
/// (the upstream response-header timeout).
const BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static BUILD: OnceLock<BuildInfo> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder. Call it before anything
/// records: handles taken before are no-ops for good. Idempotent.
pub fn install(build: BuildInfo) -> Result<(), String> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let _ = BUILD.set(build);
    let recorder =
        PrometheusBuilder::new().set_buckets(&BUCKETS).map_err(|e| format!("metrics: {e}"))?.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| format!("metrics: {e}"))?;
    let _ = HANDLE.set(handle.clone());
    describe();
    // Histogram samples queue up until folded into buckets; a scrape does that too, but a
    // process nobody scrapes must not grow without bound.
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .map_err(|e| format!("metrics: cannot start the upkeep thread: {e}"))?;
    Ok(())
}

/// The exposition text of everything recorded so far (empty before [`install`]).
pub fn render() -> String {
    let Some(handle) = HANDLE.get() else { return String::new() };
    let mut text = handle.render();
    text.push_str(&process::exposition(BUILD.get().copied()));
    text
}

/// A complete `/metrics` response.
pub fn response() -> http::Response<String> {
    let mut response = http::Response::new(render());
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        GATEWAY_REQUESTS,
        "Requests answered by the gateway, by API, route kind and status class."
    );
    describe_histogram!(
        GATEWAY_DURATION,
        Unit::Seconds,
        "Time from request to response head, by API and route kind."
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time the upstream took to send its response head."
    );
    describe_counter!(TOKENS_ISSUED, "Access tokens issued, by API and grant type.");
    describe_counter!(LIMIT_REJECTIONS, "Requests refused with 429 by a rate limit or a quota.");
    describe_gauge!(GATEWAY_REVISION, "Configuration revision this gateway serves.");
    describe_histogram!(REDIS_DURATION, Unit::Seconds, "Token store (Redis) call latency, by operation.");
    describe_counter!(REDIS_ERRORS, "Token store (Redis) calls that failed to reach Redis or errored.");
    describe_counter!(ADMIN_REQUESTS, "Admin API calls, by protocol, RPC and status code.");
    describe_gauge!(CONNECTED_GATEWAYS, "Gateways following this control plane's config stream.");
    describe_gauge!(CONTROL_REVISION, "Configuration revision this control plane holds.");
    describe_gauge!(OPEN_CONNECTIONS, "Client connections being served, by listener role.");
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed on accept because the connection cap and its probe headroom were full."
    );
    describe_counter!(
        CONNECTION_TIMEOUTS,
        "Connections closed or requests answered 408 by a read deadline, by role and kind."
    );
}

/// `1xx` … `5xx`, as an index into per-class arrays.
pub(crate) fn status_class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

pub(crate) const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
