//! Step 2: RFC 8414 authorization server metadata, answered before routing, since its path is
//! `/.well-known/oauth-authorization-server` followed by the API's listen path.

use gatehouse_telemetry::metrics::gateway::RouteKind;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use super::{RequestContext, Step};
use crate::live::RuntimeConfig;
use crate::oauth::{self, issuer::IssuerPolicy};
use crate::response::json_error;

/// Step 2: The metadata document of the OAuth API listening at the path after the well-known prefix
/// (`oauth/metadata.rs`; its issuer from `issuer.rs`, never from an arbitrary `Host`: 421), or
/// 404; any other path goes on to routing.
pub(crate) fn metadata<'r>(
    ctx: &mut RequestContext<'r>,
    config: &'r RuntimeConfig,
    issuer: &IssuerPolicy,
    path: &str,
    req: &Request<Incoming>,
) -> Step<()> {
    let Some(listen_path) = path.strip_prefix(oauth::METADATA_PREFIX) else { return Step::Continue(()) };
    let listen_path = format!("{}/", listen_path.trim_end_matches('/'));
    let found = config.route(&listen_path);
    match found {
        Some((api, _)) => ctx.routed(config, api, RouteKind::Metadata),
        None => ctx.unrouted(RouteKind::Metadata),
    }
    let secure = ctx.hop.secure(req.headers());
    let document = found
        .filter(|(_, rest)| *rest == "/")
        .and_then(|(api, _)| oauth::metadata_document(api, issuer, req.headers(), req.uri(), secure));
    Step::Break(
        document
            .unwrap_or_else(|| json_error(StatusCode::NOT_FOUND, "no OAuth API is listening on this path")),
    )
}
