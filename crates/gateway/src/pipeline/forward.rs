//! Step 11: the upstream's answer.

use std::time::Instant;

use gatehouse_model::Api;
use http::Response;
use tracing::Instrument as _;

use super::RequestContext;
use super::upstream_request::UpstreamRequest;
use crate::limits::LimitHeaders;
use crate::observe;
use crate::proxy::UpstreamClient;
use crate::response::ResponseBody;

/// Step 11: The request proxied (`proxy.rs`: pooled client, bodies streamed both ways, hop-by-hop
/// headers dropped, `X-Forwarded-*` set; https upstreams verified), in the upstream call's span;
/// the limit headers put on the answer.
pub(crate) async fn forward(
    ctx: &mut RequestContext<'_>,
    upstream: &UpstreamClient,
    api: &Api,
    request: UpstreamRequest,
    limit_headers: Option<LimitHeaders>,
) -> Response<ResponseBody> {
    let UpstreamRequest { req, target, span } = request;
    let started = Instant::now();
    let mut response = upstream
        .forward_tls(req, &api.upstream, &api.upstream_tls, &target, &ctx.hop)
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    observe::upstream_answered(&span, status);
    ctx.upstreamed(status, started.elapsed());
    if let Some(headers) = limit_headers {
        headers.apply(response.headers_mut());
    }
    response
}
