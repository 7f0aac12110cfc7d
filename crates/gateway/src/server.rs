//! A gateway node's shared parts ([`Gateway`]), and what it does with each request: the probes,
//! then the request pipeline's phases (`pipeline/`) in order.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use gatehouse_store::AnyTokenStore;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use tracing::Instrument as _;

use crate::edge::EdgePolicy;
use crate::forwarded::Hop;
use crate::live::{LiveConfig, RuntimeConfig};
use crate::notify::Notifier;
use crate::oauth::AuthServer;
use crate::observe;
use crate::path::PathRules;
use crate::pipeline::{
    RequestContext, Step, admit, authenticate, authorize, forward, metadata, oauth_endpoints, route,
    upstream_request,
};
use crate::proxy::UpstreamClient;
use crate::response::ResponseBody;

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    pub live: Arc<LiveConfig>,
    pub tokens: AnyTokenStore,
    /// Usage per client, API and minute, flushed to the token store off the request path.
    pub analytics: crate::analytics::AnalyticsRecorder,
    /// Sessions cached on this node, evicted as revocations are announced.
    pub sessions: Arc<crate::session_cache::SessionCache>,
    pub upstream: UpstreamClient,
    /// Concurrent limit checks of one subject, gathered into one store call.
    pub limit_checks: Arc<crate::limits::coalesce::Coalescer>,
    pub notifier: Notifier,
    /// Set on shutdown: readiness turns false so load balancers stop sending new requests
    /// while the ones already sent are still served. Shared by every serving thread.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Whether the token store answers, from a cached PING: a gateway that cannot reach Redis
    /// can serve no protected request, so it should not be sent any.
    pub store_health: gatehouse_store::health::Reachability,
    /// Trusted proxies, HSTS, and whether credentials need TLS.
    pub edge: EdgePolicy,
    /// How request paths are canonicalised before routing (`path.rs`).
    pub paths: PathRules,
}

impl Gateway {
    /// The hot path, step by step as ARCHITECTURE.md numbers it.
    /// `hop` is the connection the request came on (peer, TLS, trusted proxy or not).
    pub async fn handle(&self, req: Request<Incoming>, hop: Hop) -> Response<ResponseBody> {
        // Probes first: a gateway is live when it answers, ready once it has a config to serve
        // and reaches Redis. (They shadow these two paths of an API listening on `/`.)
        match req.uri().path() {
            "/healthz" => return probe(StatusCode::OK),
            "/readyz" => return probe(self.readiness().await),
            _ => {}
        }
        // Like the probes, this shadows the path of an API listening on `/`.
        if req.uri().path() == gatehouse_telemetry::metrics::PATH {
            return observe::metrics_response();
        }
        self.serve_request(req, hop).await
    }

    /// Everything after the probes: the phases in their span, then the request recorded once.
    async fn serve_request(&self, req: Request<Incoming>, hop: Hop) -> Response<ResponseBody> {
        // What the phases borrow lives in this frame, which outlives them and the record at the
        // end: one version of the configuration (one atomic load, no lock) for the whole
        // request; the URI, cloned (reference counts, no copy) so the path can be borrowed while
        // the request is changed; and the canonical path, once step 1 has made it.
        let config = self.live.load();
        let uri = req.uri().clone();
        let mut canonical = None;
        let mut ctx = RequestContext::start(&req, hop);
        let span = ctx.span().clone();
        let step = self.phases(&mut ctx, config.as_deref(), &uri, &mut canonical, req).instrument(span).await;
        let (ControlFlow::Break(response) | ControlFlow::Continue(response)) = step;
        ctx.finish(&response, &self.analytics, self.edge.access_log);
        response
    }

    /// The request pipeline (`pipeline/`), one phase per step of ARCHITECTURE.md's hot path.
    ///
    /// The phases are plain `async fn`s called in order, not boxed trait objects behind a
    /// `Vec<Box<dyn Phase>>`: the compiler inlines them into this one future, so a request costs
    /// no allocation and no dynamic call for its structure, and each phase's signature says
    /// exactly what it reads. The order is fixed by the protocol, not configured, so nothing is
    /// gained from making it data.
    async fn phases<'r>(
        &self,
        ctx: &mut RequestContext<'r>,
        config: Option<&'r RuntimeConfig>,
        uri: &'r Uri,
        canonical: &'r mut Option<Cow<'r, str>>,
        req: Request<Incoming>,
    ) -> Step<Response<ResponseBody>> {
        let (config, path) = route::canonical_path(ctx, config, uri, self.paths)?;
        let path: &'r str = canonical.insert(path);
        metadata::metadata(ctx, config, &self.edge.issuer, path, &req)?;
        let (api, rest) = route::route(ctx, config, path)?;
        route::require_tls(ctx, &self.edge, &req, api, rest)?;
        let server = AuthServer {
            tokens: &self.tokens,
            notifier: &self.notifier,
            trusted_proxies: &self.edge.trusted_proxies,
        };
        let req = oauth_endpoints::oauth_endpoints(ctx, server, config, api, rest, req).await?;
        let version = route::version(api, &req, rest)?;
        let mut limit_headers = None;
        if api.requires_token() {
            let session = authenticate::authenticate(config, &self.tokens, &self.sessions, api, &req).await?;
            let grant = authorize::authorize(config, api, &session, &req, rest, version)?;
            limit_headers =
                admit::admit(ctx, &self.tokens, &self.limit_checks, &grant, &session.client_id).await?;
            ctx.admitted(session, rest);
        }
        let upstream = upstream_request::upstream_request(ctx, api, path, rest, version, req);
        Step::Continue(forward::forward(ctx, &self.upstream, api, upstream, limit_headers).await)
    }
}

impl Gateway {
    /// Ready: not draining, a config snapshot applied, and the token store answering. Checked
    /// in that order, so a draining or unconfigured gateway sends no PING.
    async fn readiness(&self) -> StatusCode {
        let ready = !self.draining.load(std::sync::atomic::Ordering::Relaxed)
            && self.live.load().is_some()
            && self.store_health.check(|| self.tokens.ping()).await;
        if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
    }
}

fn probe(status: StatusCode) -> Response<ResponseBody> {
    let body = if status.is_success() { "ok" } else { "not ready" };
    let mut response = Response::new(ResponseBody::Right(http_body_util::Full::new(
        bytes::Bytes::from_static(body.as_bytes()),
    )));
    *response.status_mut() = status;
    response
}
