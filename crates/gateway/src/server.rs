//! The gateway's HTTP listener and request pipeline.

use std::future::Future;
use std::sync::Arc;

use gatehouse_oauth::now_unix;
use gatehouse_store::AnyTokenStore;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::forwarded::Hop;
use crate::listener::{EdgePolicy, Listener};
use crate::live::LiveConfig;
use crate::notify::Notifier;
use crate::oauth::{self, Endpoint};
use crate::proxy::{ResponseBody, UpstreamClient, json_error};
use crate::{bearer, credential, limits, policy};

/// Everything a request needs, shared by all connections.
pub struct Gateway {
    pub live: Arc<LiveConfig>,
    pub tokens: AnyTokenStore,
    /// Usage per client, API and minute, flushed to the token store off the request path.
    pub analytics: crate::analytics::AnalyticsRecorder,
    /// Sessions cached on this node, evicted as revocations are announced.
    pub sessions: Arc<crate::session_cache::SessionCache>,
    pub upstream: UpstreamClient,
    pub notifier: Notifier,
    /// Set on shutdown: readiness turns false so load balancers stop sending new requests
    /// while the ones already sent are still served.
    pub draining: std::sync::atomic::AtomicBool,
    /// Trusted proxies, HSTS, and whether credentials need TLS.
    pub edge: EdgePolicy,
}

impl Gateway {
    /// Serves connections from `listener` (plain HTTP) until `shutdown` resolves, then lets
    /// in-flight requests finish, for at most `drain_timeout`. TLS listeners and a second
    /// listener: [`Gateway::serve_listeners`].
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain_timeout: std::time::Duration,
    ) {
        self.serve_listeners(vec![Listener::plain(listener)], shutdown, drain_timeout).await;
    }

    /// The hot path, step by step as ARCHITECTURE.md numbers it.
    /// `hop` is the connection the request came on (peer, TLS, trusted proxy or not).
    pub async fn handle(&self, req: Request<Incoming>, hop: Hop) -> Response<ResponseBody> {
        // Probes first: a gateway is live when it answers, ready once it has a config to serve.
        // (They shadow these two paths of an API listening on `/`.)
        match req.uri().path() {
            "/healthz" => return probe(StatusCode::OK),
            "/readyz" if self.draining.load(std::sync::atomic::Ordering::Relaxed) => {
                return probe(StatusCode::SERVICE_UNAVAILABLE);
            }
            "/readyz" if self.live.load().is_some() => return probe(StatusCode::OK),
            "/readyz" => return probe(StatusCode::SERVICE_UNAVAILABLE),
            _ => {}
        }
        let Some(config) = self.live.load() else {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway has no configuration yet");
        };
        let path = req.uri().path().to_owned();
        let secure = hop.secure(req.headers());
        if let Some(listen_path) = path.strip_prefix(oauth::METADATA_PREFIX) {
            let listen_path = format!("{}/", listen_path.trim_end_matches('/'));
            let found = config.route(&listen_path);
            return match found
                .filter(|(_, rest)| *rest == "/")
                .and_then(|(api, _)| oauth::metadata_document(api, req.headers(), secure))
            {
                Some(response) => response,
                None => json_error(StatusCode::NOT_FOUND, "no OAuth API is listening on this path"),
            };
        }
        // 1. Router: longest listen-path match.
        let Some((api, rest)) = config.route(&path) else {
            return json_error(StatusCode::NOT_FOUND, "no API is listening on this path");
        };
        if api.requires_token() && self.edge.tls_required && !secure {
            return crate::tls_only::refuse(&self.edge, &hop, &req, api, rest);
        }
        let mut limit_headers = None;
        let mut client_id = None;
        if api.requires_token() {
            // 2. The authorization server's own endpoints under the listen path.
            if api.oauth.is_some()
                && let Some(endpoint) = Endpoint::from_path(rest)
            {
                return oauth::handle(self, &config, api, endpoint, req).await;
            }
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
            let grant = match policy::authorize(
                &config.state,
                &config.rules,
                api,
                &session,
                req.method().as_str(),
                rest,
            ) {
                Ok(grant) => grant,
                Err(refusal) => return refusal.response(),
            };
            match limits::check(&self.tokens, &grant).await {
                Ok(headers) => limit_headers = headers,
                Err(refused) => return refused,
            }
            client_id = Some(session.client_id);
        }
        // 7. Proxy, without the credential when the API says so; then count the request.
        let forwarded = if api.strip_listen_path { rest } else { path.as_str() };
        let mut req = req;
        let query = match req.uri().query().map(str::to_owned) {
            query if api.requires_token() && api.credentials.strip => {
                credential::strip(&api.credentials, req.headers_mut(), query.as_deref())
            }
            query => query,
        };
        let path_and_query = match query {
            Some(query) => format!("{forwarded}?{query}"),
            None => forwarded.to_owned(),
        };
        let started = std::time::Instant::now();
        let mut response =
            self.upstream.forward_tls(req, &api.upstream, &api.upstream_tls, &path_and_query, &hop).await;
        if let Some(client_id) = &client_id {
            // An in-memory counter; the store sees it on the next flush, off this path.
            self.analytics.record(&api.api_id, client_id, response.status().as_u16(), started.elapsed());
        }
        if let Some(headers) = limit_headers {
            headers.apply(response.headers_mut());
        }
        response
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
