//! The access log: one line per request, when `--access-log` is on (off by default: at a few
//! tens of thousands of requests a second it is the largest thing a gateway writes).
//!
//! Written as `tracing` events under the target [`TARGET`], so the one log subscriber formats
//! them like every other line (text, or one JSON object with `--log-format json`) and
//! `RUST_LOG` can route or silence them (`gatehouse::access=off`). A line carries what an
//! operator needs to answer "who called what, and how did it go": never the path below the
//! listen path or the query (either may carry a credential), never a header, never a token.

use std::net::IpAddr;
use std::time::Duration;

use http::Method;

/// The `tracing` target of access-log lines.
pub const TARGET: &str = "gatehouse::access";

/// One request as the access log tells it.
pub(crate) struct AccessRecord<'r> {
    pub method: &'r Method,
    /// What answered (`proxy`, `token`, …; `unrouted` when no API matched).
    pub route: &'static str,
    pub api_id: Option<&'r str>,
    pub listen_path: Option<&'r str>,
    pub status: u16,
    /// From arrival to response head.
    pub latency: Duration,
    /// The authenticated client (from its session, never from what it claims).
    pub client_id: Option<&'r str>,
    pub upstream_status: Option<u16>,
    /// The peer the request came from (the connection's, not a forwarded header's).
    pub address: IpAddr,
}

impl AccessRecord<'_> {
    pub(crate) fn write(&self) {
        tracing::info!(
            target: TARGET,
            method = self.method.as_str(),
            route = self.route,
            api_id = self.api_id.unwrap_or("-"),
            listen_path = self.listen_path.unwrap_or("-"),
            status = i64::from(self.status),
            latency_ms = self.latency.as_secs_f64() * 1000.0,
            client_id = self.client_id.unwrap_or("-"),
            upstream_status = self.upstream_status.map_or(0, i64::from),
            address = %self.address,
            "access"
        );
    }
}
