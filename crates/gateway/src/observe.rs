//! How a request is measured: its span (see `gatehouse_telemetry::trace`) and its metrics.
//! The pipeline notes what it learns in its `RequestContext` and records it here once, at the
//! end (`RequestContext::finish`); only the upstream call's own span is opened on the way, since
//! its context travels upstream in `traceparent`.

use std::time::{Duration, Instant};

use gatehouse_model::Api;
use gatehouse_telemetry::metrics::gateway::{ApiMetrics, RouteKind};
use gatehouse_telemetry::trace;
use http::{HeaderMap, Method, Request, Response};
use tracing::Span;

use crate::response::ResponseBody;

/// One request under observation, from arrival to response head.
pub(crate) struct Observed {
    span: Span,
    method: Method,
    started: Instant,
}

/// What the pipeline learned about a request that its telemetry records.
pub(crate) struct Outcome<'r> {
    pub kind: RouteKind,
    /// The API it reached (from the configuration that served it), with its metric handles.
    pub api: Option<&'r Api>,
    pub metrics: Option<&'r ApiMetrics>,
    /// The authenticated client (from its session, never from what it claims).
    pub client_id: Option<&'r str>,
    /// How long the upstream took to answer, when the request went there.
    pub upstream_elapsed: Option<Duration>,
}

impl Observed {
    pub(crate) fn start<B>(req: &Request<B>) -> Self {
        Self {
            span: trace::gateway_request(req.method(), req.headers()),
            method: req.method().clone(),
            started: Instant::now(),
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// Time since the request arrived.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A client span for the upstream call, its context written into the outgoing headers so
    /// the upstream continues our trace.
    pub(crate) fn upstream_span(&self, api: &Api, headers: &mut HeaderMap) -> Span {
        let span = self
            .span
            .in_scope(|| trace::upstream_request(&self.method, &api.api_id, &api.upstream.authority));
        trace::inject(&span, headers);
        span
    }

    /// Counts the request and closes its span's attributes, once the response head is ready.
    pub(crate) fn finish(self, outcome: &Outcome<'_>, status: u16) {
        if let Some(api) = outcome.api {
            trace::record_route(
                &self.span,
                &self.method,
                outcome.kind.as_str(),
                &api.api_id,
                &api.listen_path,
            );
        }
        if let Some(client_id) = outcome.client_id {
            trace::record_client(&self.span, client_id);
        }
        let metrics = outcome.metrics.unwrap_or(ApiMetrics::unrouted());
        if let Some(elapsed) = outcome.upstream_elapsed {
            trace::record_upstream_duration(&self.span, elapsed);
            metrics.upstream(elapsed);
        }
        trace::record_status(&self.span, status);
        metrics.request(outcome.kind, status, self.elapsed());
    }
}

/// The upstream's status on the upstream call's span.
pub(crate) fn upstream_answered(span: &Span, status: u16) {
    trace::record_status(span, status);
}

/// `GET /metrics` on the gateway's listener.
pub(crate) fn metrics_response() -> Response<ResponseBody> {
    gatehouse_telemetry::metrics::response()
        .map(|text| ResponseBody::Right(http_body_util::Full::new(bytes::Bytes::from(text))))
}
