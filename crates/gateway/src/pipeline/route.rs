//! Which API a request is for, and whether it may reach it this way: the canonical path (step
//! 1), the listen-path match (3), the refusal of credentials over plain HTTP (4), and the
//! version of a versioned API (6).

use std::borrow::Cow;

use gatehouse_model::Api;
use gatehouse_telemetry::metrics::gateway::RouteKind;
use http::{Request, StatusCode, Uri};
use hyper::body::Incoming;

use super::{RequestContext, Step, answer};
use crate::edge::EdgePolicy;
use crate::live::RuntimeConfig;
use crate::path::{PathRefusal, PathRules};
use crate::response::json_error;
use crate::version::{self, RequestVersion, VersionRefusal};

/// Step 1: A configuration to serve from (503 until the first snapshot), and the canonical path
/// (`path.rs`: escapes of unreserved characters decoded, `//` merged, dot segments removed), or
/// Step 400: The canonical path is routed and forwarded alike: the API that checks a request is the
/// API whose upstream serves it.
pub(crate) fn canonical_path<'r>(
    ctx: &mut RequestContext<'r>,
    config: Option<&'r RuntimeConfig>,
    uri: &'r Uri,
    rules: PathRules,
) -> Step<(&'r RuntimeConfig, Cow<'r, str>)> {
    let Some(config) = config else {
        return Step::Break(json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway has no configuration yet"));
    };
    match crate::path::normalise(uri.path(), rules) {
        Ok(path) => Step::Continue((config, path)),
        Err(refusal) => {
            ctx.unrouted(RouteKind::NotFound);
            Step::Break(refusal.response())
        }
    }
}

/// Step 3: The longest listen-path match, and the path below it (starting with `/`); 404 when no
/// API listens there.
pub(crate) fn route<'r>(
    ctx: &mut RequestContext<'r>,
    config: &'r RuntimeConfig,
    path: &'r str,
) -> Step<(&'r Api, &'r str)> {
    let Some((api, rest)) = config.route(path) else {
        ctx.unrouted(RouteKind::NotFound);
        // Tyk habits: its Dashboard and Gateway APIs answer on the gateway's port there.
        let message = if path.starts_with("/api/") || path.starts_with("/tyk/") {
            "no API is listening on this path; the admin API (Tyk Dashboard and Gateway API paths) is served on the control plane's port, not the gateway's"
        } else {
            "no API is listening on this path"
        };
        return Step::Break(json_error(StatusCode::NOT_FOUND, message));
    };
    // Kept encoded slashes must not reach, once an upstream decodes them, a listen path other
    // than the one that checked the request.
    if let Some(decoded) = crate::path::separators_view(path)
        && config.route(&decoded).map(|(other, _)| &other.api_id) != Some(&api.api_id)
    {
        ctx.unrouted(RouteKind::NotFound);
        return Step::Break(PathRefusal::AmbiguousRoute.response());
    }
    Step::Continue((api, rest))
}

/// Step 4: On a gateway that terminates TLS, an OAuth endpoint or a protected API reached without TLS
/// (nor through a trusted proxy reporting https) is refused, never redirected (`tls_only.rs`).
pub(crate) fn require_tls(
    ctx: &RequestContext<'_>,
    edge: &EdgePolicy,
    req: &Request<Incoming>,
    api: &Api,
    rest: &str,
) -> Step<()> {
    if api.requires_token() && edge.tls_required && !ctx.hop.secure(req.headers()) {
        return Step::Break(crate::tls_only::refuse(edge, &ctx.hop, req, api, rest));
    }
    Step::Continue(())
}

/// Step 6: The version a versioned API serves the request as (`version.rs`: header, query or first
/// path segment, else the default; unknown or missing: 403), with its path for the upstream.
pub(crate) fn version<'r>(
    api: &'r Api,
    req: &Request<Incoming>,
    rest: &'r str,
) -> Step<Option<RequestVersion<'r>>> {
    let Some(versioning) = &api.versioning else { return Step::Continue(None) };
    answer(
        version::resolve(versioning, req.headers(), req.uri().query(), rest).map(Some),
        VersionRefusal::response,
    )
}
