//! The control plane's side of telemetry: a span and a metric for every admin call, gRPC or
//! REST, and `/metrics` on its port. `listener.rs` hands each request here; the REST
//! transcoder records which route it matched (it alone knows), this module the rest.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use gatehouse_telemetry::metrics::control::{admin_request, grpc_code_name};
use gatehouse_telemetry::trace;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prost::Message as _;
use tracing::{Instrument as _, Span};

use crate::pb;

/// Every gRPC method served, as `package.Service/Method`. Method labels come from this set
/// only: a path is the caller's text, and unauthenticated callers must not be able to mint
/// metric series.
static KNOWN_RPCS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let mut known: HashSet<&'static str> = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]
    .into();
    // Our descriptor set was produced by build.rs; should it fail to decode, methods are
    // labelled `unknown` rather than the control plane refusing to start.
    if let Ok(set) = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET) {
        for file in &set.file {
            let package = file.package();
            for service in &file.service {
                for method in &service.method {
                    // Leaked once, at first use: a fixed set of a few dozen names.
                    let name = format!("{package}.{}/{}", service.name(), method.name());
                    known.insert(Box::leak(name.into_boxed_str()));
                }
            }
        }
    }
    known
});

/// Serves one request on the control plane's port through `inner`, observed.
pub async fn admin_call<F, Fut>(req: Request<hyper::body::Incoming>, inner: F) -> Response<tonic::body::Body>
where
    F: FnOnce(Request<hyper::body::Incoming>) -> Fut,
    Fut: Future<Output = Response<tonic::body::Body>>,
{
    match req.uri().path() {
        // Unauthenticated, like the probes: it names API ids and counts, never secrets.
        gatehouse_telemetry::metrics::PATH => {
            return gatehouse_telemetry::metrics::response()
                .map(|text| tonic::body::Body::new(http_body_util::Full::new(Bytes::from(text))));
        }
        "/healthz" | "/readyz" => return inner(req).await,
        _ => {}
    }
    if is_grpc(req.headers()) {
        let method = KNOWN_RPCS.get(req.uri().path().trim_start_matches('/')).copied().unwrap_or("unknown");
        let span = trace::admin_rpc("grpc", req.method(), req.headers());
        trace::record_grpc_method(&span, method);
        let response = inner(req).instrument(span.clone()).await;
        let outcome = GrpcOutcome { method, span };
        // An error without a message comes "trailers-only": the status is in the head.
        if let Some(code) = grpc_status(response.headers()) {
            outcome.finish(code);
            return response;
        }
        response.map(|body| tonic::body::Body::new(ObservedBody { inner: body, outcome: Some(outcome) }))
    } else {
        let span = trace::admin_rpc("rest", req.method(), req.headers());
        let response = inner(req).instrument(span.clone()).await;
        trace::record_status(&span, response.status().as_u16());
        response
    }
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// What is recorded once a gRPC call's status is known.
struct GrpcOutcome {
    method: &'static str,
    span: Span,
}

impl GrpcOutcome {
    fn finish(self, code: i32) {
        trace::record_grpc_status(&self.span, code);
        admin_request("grpc", self.method, grpc_code_name(code));
    }
}

/// A response body that records the gRPC status from its trailers; the span stays open until
/// then, so a stream's span lasts as long as the stream.
struct ObservedBody {
    inner: tonic::body::Body,
    outcome: Option<GrpcOutcome>,
}

impl ObservedBody {
    fn finish(&mut self, code: i32) {
        if let Some(outcome) = self.outcome.take() {
            outcome.finish(code);
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.finish(code);
                }
            }
            // The stream failed: tonic turns this into trailers we do not see.
            Poll::Ready(Some(Err(status))) => {
                let code = i32::from(status.code());
                self.finish(code);
            }
            // Ended without a status: by the gRPC spec the call failed with UNKNOWN.
            Poll::Ready(None) => self.finish(2),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // Dropped before its trailers: the caller went away (a gateway closing its stream).
        self.finish(1);
    }
}
