//! Step 10: the request as the upstream will receive it.

use gatehouse_model::Api;
use http::Request;
use hyper::body::Incoming;
use tracing::Span;

use super::RequestContext;
use crate::upstream_path::{Rewrite, Routed, upstream_path_and_query};
use crate::version::RequestVersion;
use crate::{credential, version};

/// A request ready to go upstream.
pub(crate) struct UpstreamRequest {
    pub req: Request<Incoming>,
    /// The upstream's path and query, base path included.
    pub target: String,
    /// The upstream call's span, already announced in the request's `traceparent`.
    pub span: Span,
}

/// Step 10: The upstream's path and query (`upstream_path.rs`, a pure function: base path, listen
/// path stripped or kept, path version stripped, the query without the credential and a
/// stripped version), the credential's header and cookie removed when the API strips them,
/// a stripped header version removed, and the trace context added.
pub(crate) fn upstream_request(
    ctx: &RequestContext<'_>,
    api: &Api,
    path: &str,
    rest: &str,
    version: Option<RequestVersion<'_>>,
    mut req: Request<Incoming>,
) -> UpstreamRequest {
    let routed = Routed {
        path,
        rest,
        upstream_rest: version.map_or(rest, |v| v.upstream_rest),
        query: req.uri().query(),
    };
    let target = upstream_path_and_query(&Rewrite::of(api), &routed);
    let headers = req.headers_mut();
    if api.requires_token() && api.credentials.strip {
        credential::strip_headers(&api.credentials, headers);
    }
    if let Some(versioning) = api.versioning.as_ref().filter(|v| v.strip) {
        version::strip_header(versioning, headers);
    }
    let span = ctx.upstream_span(api, headers);
    UpstreamRequest { req, target, span }
}
