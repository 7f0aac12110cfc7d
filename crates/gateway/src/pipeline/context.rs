//! What one request carries through the phases: the connection it came on, and what the phases
//! learn that telemetry and analytics record once, at the end ([`RequestContext::finish`]).

use std::time::Duration;

use gatehouse_model::{Api, Session};
use gatehouse_telemetry::metrics::gateway::{ApiMetrics, RouteKind};
use http::{HeaderMap, Request, Response};
use tracing::Span;

use crate::access_log::AccessRecord;
use crate::analytics::{AnalyticsRecorder, ProxiedRequest};
use crate::forwarded::Hop;
use crate::live::RuntimeConfig;
use crate::observe::{Observed, Outcome};
use crate::response::ResponseBody;

/// One request, from arrival to response head. `'r` is the frame of `Gateway::serve_request`,
/// which holds the configuration and the canonical path the phases borrow from.
pub(crate) struct RequestContext<'r> {
    /// The connection the request came on (peer, TLS, trusted proxy or not).
    pub(crate) hop: Hop,
    observed: Observed,
    /// What answered: unavailable until a phase knows better.
    kind: RouteKind,
    api: Option<&'r Api>,
    metrics: Option<&'r ApiMetrics>,
    /// Set once the request is admitted to go upstream: who sent it, and its path below the
    /// listen path (what analytics counts).
    caller: Option<(Session, &'r str)>,
    upstream: Option<Upstreamed>,
}

/// The upstream's answer to a forwarded request.
#[derive(Debug, Clone, Copy)]
struct Upstreamed {
    status: u16,
    elapsed: Duration,
}

impl<'r> RequestContext<'r> {
    pub(crate) fn start<B>(req: &Request<B>, hop: Hop) -> Self {
        Self {
            hop,
            observed: Observed::start(req),
            kind: RouteKind::Unavailable,
            api: None,
            metrics: None,
            caller: None,
            upstream: None,
        }
    }

    /// The request's server span, which the phases run in.
    pub(crate) fn span(&self) -> &Span {
        self.observed.span()
    }

    /// The request reached no API.
    pub(super) fn unrouted(&mut self, kind: RouteKind) {
        self.kind = kind;
    }

    /// The request reached `api` (from `config`, the version serving it) as `kind`.
    pub(super) fn routed(&mut self, config: &'r RuntimeConfig, api: &'r Api, kind: RouteKind) {
        self.kind = kind;
        self.api = Some(api);
        self.metrics = config.api_metrics(&api.api_id).map(|metrics| &**metrics);
    }

    /// The API's metric handles, for what is counted inside a phase (limit refusals).
    pub(super) fn api_metrics(&self) -> &ApiMetrics {
        self.metrics.unwrap_or(ApiMetrics::unrouted())
    }

    /// The request passed authentication, policy and limits as `session`'s, for `rest` (its
    /// path below the listen path).
    pub(crate) fn admitted(&mut self, session: Session, rest: &'r str) {
        self.caller = Some((session, rest));
    }

    /// The upstream call's span, its context written into the outgoing `headers`.
    pub(super) fn upstream_span(&self, api: &Api, headers: &mut HeaderMap) -> Span {
        self.observed.upstream_span(api, headers)
    }

    /// The upstream answered `status`, `elapsed` after it was asked.
    pub(super) fn upstreamed(&mut self, status: u16, elapsed: Duration) {
        self.upstream = Some(Upstreamed { status, elapsed });
    }

    /// Records the request once: its span's attributes, its metrics, and for a request that
    /// went upstream as a client's, its analytics (an in-memory counter; the store sees it on
    /// the next flush, off this path).
    pub(crate) fn finish(
        self,
        response: &Response<ResponseBody>,
        analytics: &AnalyticsRecorder,
        access_log: bool,
    ) {
        if let (Some(api), Some((session, rest)), Some(upstream)) = (self.api, &self.caller, self.upstream) {
            analytics.record(&ProxiedRequest {
                api_id: &api.api_id,
                client_id: &session.client_id,
                policy_id: &session.policy_id,
                method: self.observed.method().as_str(),
                path: rest,
                status: upstream.status,
                latency: upstream.elapsed,
            });
        }
        let outcome = Outcome {
            kind: self.kind,
            api: self.api,
            metrics: self.metrics,
            client_id: self.caller.as_ref().map(|(session, _)| session.client_id.as_str()),
            upstream_elapsed: self.upstream.map(|upstream| upstream.elapsed),
        };
        if access_log {
            AccessRecord {
                method: self.observed.method(),
                route: self.kind.as_str(),
                api_id: self.api.map(|api| api.api_id.as_str()),
                listen_path: self.api.map(|api| api.listen_path.as_str()),
                status: response.status().as_u16(),
                latency: self.observed.elapsed(),
                client_id: outcome.client_id,
                upstream_status: self.upstream.map(|upstream| upstream.status),
                address: self.hop.peer.ip().to_canonical(),
            }
            .write();
        }
        self.observed.finish(&outcome, response.status().as_u16());
    }
}
