//! The gateway's HTTP listener and request pipeline.

use std::sync::Arc;

use gatehouse_oauth::now_unix;
use gatehouse_store::AnyTokenStore;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::analytics::ProxiedRequest;
use gatehouse_telemetry::metrics::gateway::RouteKind;
use tracing::Instrument as _;

use crate::edge::EdgePolicy;
use crate::forwarded::Hop;
use crate::live::LiveConfig;
use crate::notify::Notifier;
use crate::oauth::{self, Endpoint};
use crate::observe::{self, Observed};
use crate::path::{PathRefusal, PathRules};
use crate::proxy::UpstreamClient;
use crate::response::{ResponseBody, json_error};
use crate::{bearer, credential, limits, policy, version};

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
        let mut observed = Observed::start(&req);
        let span = observed.span().clone();
        let response = self.serve_request(req, hop, &mut observed).instrument(span).await;
        observed.finish(&response);
        response
    }

    /// Everything after the probes, observed by `handle`.
    async fn serve_request(
        &self,
        req: Request<Incoming>,
        hop: Hop,
        observed: &mut Observed,
    ) -> Response<ResponseBody> {
        let Some(config) = self.live.load() else {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway has no configuration yet");
        };
        // 1. Route on the canonical path, and forward that same path: the API that checks the
        // request is the API whose upstream serves it. The URI is cloned (reference counts, no
        // copy) so the path can be borrowed while the request is changed below.
        let uri = req.uri().clone();
        let path = match crate::path::normalise(uri.path(), self.paths) {
            Ok(path) => path,
            Err(refusal) => {
                observed.unrouted(RouteKind::NotFound);
                return refusal.response();
            }
        };
        let secure = hop.secure(req.headers());
        if let Some(listen_path) = path.strip_prefix(oauth::METADATA_PREFIX) {
            let listen_path = format!("{}/", listen_path.trim_end_matches('/'));
            let found = config.route(&listen_path);
            match found {
                Some((api, _)) => observed.routed(&config, api, RouteKind::Metadata),
                None => observed.unrouted(RouteKind::Metadata),
            }
            return match found.filter(|(_, rest)| *rest == "/").and_then(|(api, _)| {
                oauth::metadata_document(api, &self.edge.issuer, req.headers(), &uri, secure)
            }) {
                Some(response) => response,
                None => json_error(StatusCode::NOT_FOUND, "no OAuth API is listening on this path"),
            };
        }
        // Longest listen-path match.
        let Some((api, rest)) = config.route(&path) else {
            observed.unrouted(RouteKind::NotFound);
            return json_error(StatusCode::NOT_FOUND, "no API is listening on this path");
        };
        // Kept encoded slashes must not reach, once an upstream decodes them, a listen path
        // other than the one that checked the request.
        if let Some(decoded) = crate::path::separators_view(&path)
            && config.route(&decoded).map(|(other, _)| &other.api_id) != Some(&api.api_id)
        {
            observed.unrouted(RouteKind::NotFound);
            return PathRefusal::AmbiguousRoute.response();
        }
        if api.requires_token() && self.edge.tls_required && !secure {
            return crate::tls_only::refuse(&self.edge, &hop, &req, api, rest);
        }
        let mut limit_headers = None;
        // (client id, policy id) of the session, for analytics.
        let mut caller = None;
        // 2. The authorization server's own endpoints under the listen path.
        if api.oauth.is_some()
            && let Some(endpoint) = Endpoint::from_path(rest)
        {
            observed.routed(&config, api, endpoint.route_kind());
            let server = oauth::AuthServer {
                tokens: &self.tokens,
                notifier: &self.notifier,
                trusted_proxies: &self.edge.trusted_proxies,
            };
            return oauth::handle(server, &config, api, endpoint, req, &hop).await;
        }
        observed.routed(&config, api, RouteKind::Proxy);
        // The version a versioned API serves this request as, and its path for the upstream.
        let version = match &api.versioning {
            Some(versioning) => match version::resolve(versioning, req.headers(), req.uri().query(), rest) {
                Ok(version) => Some(version),
                Err(refusal) => return refusal.response(),
            },
            None => None,
        };
        let upstream_rest = version.map_or(rest, |v| v.upstream_rest);
        if api.requires_token() {
            // 3.–4. Credential and session (the local cache, or one Redis read).
            let token = match credential::find(&api.credentials, req.headers(), req.uri().query()) {
                Ok((token, _)) => token,
                Err(refusal) => return refusal.response(),
            };
            let session = match bearer::check(&config, &self.tokens, &self.sessions, &token, now_unix()).await
            {
                Ok(session) => session,
                Err(refusal) => return refusal.response(),
            };
            // 5.–6. Policy: access rights, then rate limit and quota in one round trip.
            let request = policy::Request {
                method: req.method().as_str(),
                path: rest,
                version: version.map(|v| v.name),
            };
            let grant = match policy::authorize(&config.state, &config.rules, api, &session, request) {
                Ok(grant) => grant,
                Err(refusal) => return refusal.response(),
            };
            match limits::check(&self.tokens, &self.limit_checks, &grant, observed.api_metrics()).await {
                Ok(headers) => limit_headers = headers,
                Err(refused) => return refused,
            }
            observed.client(&session.client_id);
            caller = Some((session.client_id, session.policy_id));
        }
        // 7. Proxy, without the credential (and version) when the API says so; then count
        // the request.
        let forwarded: std::borrow::Cow<'_, str> = match (api.strip_listen_path, upstream_rest == rest) {
            (true, _) => upstream_rest.into(),
            (false, true) => path.as_ref().into(),
            // The version segment goes, the listen path stays.
            (false, false) => format!("{}{upstream_rest}", api.listen_path.trim_end_matches('/')).into(),
        };
        let mut req = req;
        let mut query = match req.uri().query().map(str::to_owned) {
            query if api.requires_token() && api.credentials.strip => {
                credential::strip(&api.credentials, req.headers_mut(), query.as_deref())
            }
            // Even when the API keeps credentials (`strip_auth_data` off), a token never goes
            // on in a URL: upstreams log URLs, and RFC 6750 §2.3 warns of exactly that.
            Some(query) if api.requires_token() && !api.credentials.query_param.is_empty() => {
                credential::without_param(&query, &api.credentials.query_param)
            }
            query => query,
        };
        if let Some(versioning) = api.versioning.as_ref().filter(|v| v.strip) {
            query = version::strip(versioning, req.headers_mut(), query);
        }
        let path_and_query = match query {
            Some(query) => format!("{forwarded}?{query}"),
            None => forwarded.into_owned(),
        };
        let upstream_span = observed.upstream_span(api, req.headers_mut());
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let mut response = self
            .upstream
            .forward_tls(req, &api.upstream, &api.upstream_tls, &path_and_query, &hop)
            .instrument(upstream_span.clone())
            .await;
        observed.upstream_done(&upstream_span, response.status().as_u16(), started.elapsed());
        if let Some((client_id, policy_id)) = &caller {
            // An in-memory counter; the store sees it on the next flush, off this path.
            self.analytics.record(&ProxiedRequest {
                api_id: &api.api_id,
                client_id,
                policy_id,
                method: method.as_str(),
                path: rest,
                status: response.status().as_u16(),
                latency: started.elapsed(),
            });
        }
        if let Some(headers) = limit_headers {
            headers.apply(response.headers_mut());
        }
        response
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
