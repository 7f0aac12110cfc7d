//! The gateway's HTTP listener and request pipeline.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_oauth::now_unix;
use gatehouse_store::AnyTokenStore;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use gatehouse_telemetry::metrics::gateway::RouteKind;
use tracing::Instrument as _;

use crate::live::LiveConfig;
use crate::notify::Notifier;
use crate::oauth::{self, Endpoint};
use crate::observe::{self, Observed};
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
}

impl Gateway {
    /// Serves connections from `listener` until `shutdown` resolves, then lets in-flight
    /// requests finish, for at most `drain_timeout`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain_timeout: std::time::Duration,
    ) {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let gateway = Arc::clone(&self);
            let service = service_fn(move |req| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
            });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let connection = graceful.watch(connection.into_owned());
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        // Stop accepting (the listener is dropped here); open connections finish their
        // requests and close.
        drop(listener);
        if tokio::time::timeout(drain_timeout, graceful.shutdown()).await.is_err() {
            tracing::warn!(?drain_timeout, "drain timeout: exiting with requests still in flight");
        }
    }

    /// The hot path, step by step as ARCHITECTURE.md numbers it.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ResponseBody> {
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
        // Like the probes, this shadows the path of an API listening on `/`.
        if req.uri().path() == gatehouse_telemetry::metrics::PATH {
            return observe::metrics_response();
        }
        let mut observed = Observed::start(&req);
        let span = observed.span().clone();
        let response = self.serve_request(req, peer, &mut observed).instrument(span).await;
        observed.finish(&response);
        response
    }

    /// Everything after the probes, observed by `handle`.
    async fn serve_request(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        observed: &mut Observed,
    ) -> Response<ResponseBody> {
        let Some(config) = self.live.load() else {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "gateway has no configuration yet");
        };
        let path = req.uri().path().to_owned();
        if let Some(listen_path) = path.strip_prefix(oauth::METADATA_PREFIX) {
            let listen_path = format!("{}/", listen_path.trim_end_matches('/'));
            let found = config.route(&listen_path);
            match found {
                Some((api, _)) => observed.routed(&config, api, RouteKind::Metadata),
                None => observed.unrouted(RouteKind::Metadata),
            }
            return match found
                .filter(|(_, rest)| *rest == "/")
                .and_then(|(api, _)| oauth::metadata_document(api, req.headers()))
            {
                Some(response) => response,
                None => json_error(StatusCode::NOT_FOUND, "no OAuth API is listening on this path"),
            };
        }
        // 1. Router: longest listen-path match.
        let Some((api, rest)) = config.route(&path) else {
            observed.unrouted(RouteKind::NotFound);
            return json_error(StatusCode::NOT_FOUND, "no API is listening on this path");
        };
        let mut limit_headers = None;
        let mut client_id = None;
        if api.requires_token() {
            // 2. The authorization server's own endpoints under the listen path.
            if api.oauth.is_some()
                && let Some(endpoint) = Endpoint::from_path(rest)
            {
                observed.routed(&config, api, endpoint.route_kind());
                return oauth::handle(self, &config, api, endpoint, req).await;
            }
            observed.routed(&config, api, RouteKind::Proxy);
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
            match limits::check(&self.tokens, &grant, observed.api_metrics()).await {
                Ok(headers) => limit_headers = headers,
                Err(refused) => return refused,
            }
            observed.client(&session.client_id);
            client_id = Some(session.client_id);
        } else {
            observed.routed(&config, api, RouteKind::Proxy);
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
        let upstream_span = observed.upstream_span(api, req.headers_mut());
        let started = std::time::Instant::now();
        let mut response = self
            .upstream
            .forward(req, &api.upstream, &path_and_query, peer)
            .instrument(upstream_span.clone())
            .await;
        observed.upstream_done(&upstream_span, response.status().as_u16(), started.elapsed());
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
