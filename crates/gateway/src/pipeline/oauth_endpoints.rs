//! Step 5: the authorization server's own endpoints under an OAuth API's listen path.

use gatehouse_model::Api;
use gatehouse_telemetry::metrics::gateway::RouteKind;
use http::Request;
use hyper::body::Incoming;

use super::{RequestContext, Step};
use crate::live::RuntimeConfig;
use crate::oauth::{self, AuthServer, Endpoint};

/// Step 5: `/oauth/authorize`, `/oauth/token`, `/oauth/introspect`, `/oauth/revoke` and `/oauth/revoke_all` under an
/// OAuth API's listen path are answered here (`oauth/`); any other request is to be proxied,
/// and comes back to go on.
pub(crate) async fn oauth_endpoints<'r>(
    ctx: &mut RequestContext<'r>,
    server: AuthServer<'_>,
    config: &'r RuntimeConfig,
    api: &'r Api,
    rest: &str,
    req: Request<Incoming>,
) -> Step<Request<Incoming>> {
    let endpoint = api.oauth.as_ref().and_then(|_| Endpoint::from_path(rest));
    let Some(endpoint) = endpoint else {
        ctx.routed(config, api, RouteKind::Proxy);
        return Step::Continue(req);
    };
    ctx.routed(config, api, endpoint.route_kind());
    Step::Break(oauth::handle(server, config, api, endpoint, req, &ctx.hop).await)
}
