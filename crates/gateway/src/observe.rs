//! What the request pipeline reports about each request: its span (see
//! `gatehouse_telemetry::trace`) and its metrics. `server.rs` calls in here at a few points;
//! everything about how requests are measured lives here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_model::Api;
use gatehouse_telemetry::metrics::gateway::{ApiMetrics, RouteKind};
use gatehouse_telemetry::trace;
use http::{HeaderMap, Method, Request, Response};
use tracing::Span;

use crate::live::RuntimeConfig;
use crate::response::ResponseBody;

/// One request under observation, from arrival to response head.
pub(crate) struct Observed {
    span: Span,
    method: Method,
    started: Instant,
    kind: RouteKind,
    api: Option<Arc<ApiMetrics>>,
}

impl Observed {
    pub(crate) fn start<B>(req: &Request<B>) -> Self {
        Self {
            span: trace::gateway_request(req.method(), req.headers()),
            method: req.method().clone(),
            started: Instant::now(),
            kind: RouteKind::Unavailable,
            api: None,
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The request reached `api` (from `config`, the version serving it) as `kind`.
    pub(crate) fn routed(&mut self, config: &RuntimeConfig, api: &Api, kind: RouteKind) {
        self.kind = kind;
        self.api = config.api_metrics(&api.api_id).cloned();
        trace::record_route(&self.span, &self.method, kind.as_str(), &api.api_id, &api.listen_path);
    }

    /// The request reached no API.
    pub(crate) fn unrouted(&mut self, kind: RouteKind) {
        self.kind = kind;
    }

    /// The API's handles, for what is counted deeper in the pipeline (limits, tokens).
    pub(crate) fn api_metrics(&self) -> &ApiMetrics {
        self.api.as_deref().unwrap_or(ApiMetrics::unrouted())
    }

    pub(crate) fn client(&self, client_id: &str) {
        trace::record_client(&self.span, client_id);
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

    pub(crate) fn upstream_done(&self, span: &Span, status: u16, elapsed: Duration) {
        trace::record_status(span, status);
        trace::record_upstream_duration(&self.span, elapsed);
        self.api_metrics().upstream(elapsed);
    }

    /// Counts the request and closes its span's attributes, once the response head is ready.
    pub(crate) fn finish<B>(self, response: &Response<B>) {
        let status = response.status().as_u16();
        trace::record_status(&self.span, status);
        self.api_metrics().request(self.kind, status, self.started.elapsed());
    }
}

/// `GET /metrics` on the gateway's listener.
pub(crate) fn metrics_response() -> Response<ResponseBody> {
    gatehouse_telemetry::metrics::response()
        .map(|text| ResponseBody::Right(http_body_util::Full::new(bytes::Bytes::from(text))))
}
