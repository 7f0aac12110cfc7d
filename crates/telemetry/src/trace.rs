//! The spans Gatehouse emits, and W3C trace context in and out.
//!
//! Every span is created here, with all its fields declared up front, so the full list of what
//! can reach a collector is in one file: ids (API, client), methods, route templates (listen
//! paths, admin route templates), statuses, grant types, outcomes and durations. Never tokens,
//! codes, secrets, query strings or header values.
//!
//! The spans use [`TARGET`], which only the OpenTelemetry layer enables: with exporting off they
//! are disabled at their call site, and recording into them is a no-op.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `tracing` target of every span below.
pub const TARGET: &str = "gatehouse_trace";

/// Set while spans are exported. Read on every request to skip trace-context work (parsing
/// `traceparent`, formatting span names) when nothing would see the result.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported.
#[inline]
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Called by the exporter (the binary's `otel.rs`) once its layer is built, and with `false`
/// when it shuts down.
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// The gateway's server span for one request. Continues the caller's trace when the request
/// carries a valid `traceparent`.
pub fn gateway_request(method: &Method, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "gateway.request",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = Empty,
        http.response.status_code = Empty,
        gatehouse.route_kind = Empty,
        gatehouse.api_id = Empty,
        gatehouse.client_id = Empty,
        gatehouse.upstream.duration_ms = Empty,
    );
    continue_from(&span, headers);
    span
}

/// Names the request's route: its kind (`proxy`, `token`, …), the API and its listen path.
pub fn record_route(span: &Span, method: &Method, kind: &'static str, api_id: &str, route: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("gatehouse.route_kind", kind);
    span.record("gatehouse.api_id", api_id);
    span.record("http.route", route);
    // HTTP semantic conventions: "{method} {route}", a low-cardinality name.
    rename(span, format!("{} {route}", method.as_str()));
}

/// The authenticated client behind a request (from its session, never from what it claims).
pub fn record_client(span: &Span, client_id: &str) {
    span.record("gatehouse.client_id", client_id);
}

/// The status sent back; 5xx mark the span as failed (4xx are the caller's, not ours).
pub fn record_status(span: &Span, status: u16) {
    // As an i64: tracing-opentelemetry turns an i64 into an OTLP integer but any unsigned
    // number into its debug string, and "500" matches no `>= 500` query in Tempo or Jaeger.
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}

pub fn record_upstream_duration(span: &Span, elapsed: Duration) {
    span.record("gatehouse.upstream.duration_ms", elapsed.as_secs_f64() * 1000.0);
}

/// The client span around the call to an upstream; its context is what the upstream receives
/// in `traceparent` (see [`inject`]).
pub fn upstream_request(method: &Method, api_id: &str, authority: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "upstream",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        server.address = authority,
        gatehouse.api_id = api_id,
        http.response.status_code = Empty,
    )
}

/// `POST /oauth/token`: a child of the request span.
pub fn token_grant(api_id: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "oauth.token",
        gatehouse.api_id = api_id,
        oauth.grant_type = Empty,
        gatehouse.client_id = Empty,
        gatehouse.outcome = Empty,
        otel.status_code = Empty,
    )
}

pub fn record_grant_type(span: &Span, grant_type: &str) {
    span.record("oauth.grant_type", grant_type);
}

/// `issued`, or the RFC 6749 error code (`invalid_client`, `invalid_grant`, …).
pub fn record_outcome(span: &Span, outcome: &str) {
    span.record("gatehouse.outcome", outcome);
}

/// `/oauth/authorize`: a child of the request span.
pub fn authorize(api_id: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "oauth.authorize",
        gatehouse.api_id = api_id,
        gatehouse.client_id = Empty,
        gatehouse.outcome = Empty,
    )
}

/// The control plane's server span for one admin call, gRPC or REST. Continues the caller's
/// trace like [`gateway_request`].
pub fn admin_rpc(protocol: &'static str, method: &Method, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "admin.rpc",
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = protocol,
        rpc.method = Empty,
        rpc.grpc.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = Empty,
        http.response.status_code = Empty,
    );
    continue_from(&span, headers);
    span
}

/// The RPC a gRPC call reached (`gatehouse.v1.ApiService/CreateApi`); also the span's name.
pub fn record_grpc_method(span: &Span, rpc: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("rpc.method", rpc);
    rename(span, rpc.to_owned());
}

/// The REST route a call matched and the RPC it transcodes to; the span is named after the
/// route template, per the HTTP conventions.
pub fn record_rest_route(span: &Span, verb: &str, template: &str, rpc: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("rpc.method", rpc.trim_start_matches('/'));
    span.record("http.route", template);
    rename(span, format!("{verb} {template}"));
}

pub fn record_grpc_status(span: &Span, code: i32) {
    span.record("rpc.grpc.status_code", code);
    // Server-side failures: unknown, deadline, unimplemented, internal, unavailable, data loss.
    if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
        span.record("otel.status_code", "ERROR");
    }
}

/// Names the exported span. Through the OpenTelemetry span itself: recording `otel.name` only
/// works before the span starts, and a span starts as soon as a child or `traceparent` needs
/// its context.
fn rename(span: &Span, name: String) {
    span.context().span().update_name(name);
}

/// Makes `span` a child of the remote span named by the request's `traceparent` (when valid).
/// A no-op when traces are not exported.
pub fn continue_from(span: &Span, headers: &HeaderMap) {
    if !exporting() || span.is_disabled() || !headers.contains_key(TRACEPARENT) {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        // Fails only without the layer, which `exporting()` rules out.
        let _ = span.set_parent(cx);
    }
}

/// Writes `span`'s context into `headers` as `traceparent` (and `tracestate`), replacing what
/// the caller sent: the next hop's parent is us. A no-op when traces are not exported, so the
/// caller's own header then passes through unchanged.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if !exporting() || span.is_disabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

const TRACEPARENT: &str = "traceparent";

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::try_from(value))
        {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_exporting_spans_are_disabled_and_headers_untouched() {
        let mut headers = HeaderMap::new();
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(TRACEPARENT, HeaderValue::from_static(incoming));
        let span = gateway_request(&Method::GET, &headers);
        assert!(span.is_disabled());
        record_route(&span, &Method::GET, "proxy", "api", "/api/");
        inject(&span, &mut headers);
        assert_eq!(headers.get(TRACEPARENT).and_then(|v| v.to_str().ok()), Some(incoming));
    }

    #[test]
    fn header_carriers_read_and_write_trace_context() {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        let remote = cx.span().span_context().clone();
        assert_eq!(remote.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
        assert_eq!(out.get(TRACEPARENT), headers.get(TRACEPARENT));
    }
}
