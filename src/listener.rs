//! The control plane's one port: gRPC and REST side by side. Requests whose content-type is
//! `application/grpc*` go to tonic; the rest to the REST transcoder.
//!
//! With TLS the port speaks only TLS. With `--tls-client-ca` every client must present a
//! certificate that CA signed, admin callers included: one port, one rule, checked during the
//! handshake before any request is read, so a leaked admin secret alone opens nothing. Admin
//! calls still need the admin secret on top; gateways need nothing more than the certificate,
//! whose identity is attached to each request as a [`PeerIdentity`].
//!
//! Connections meet the same limits as a gateway's (`gatehouse_gateway::conn`): the cap on
//! accept, read deadlines, header limits and the `Host` check; REST bodies are read within
//! `--body-read-timeout` (408), gRPC request bodies must end within it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use gatehouse_control::ControlPlane;
use gatehouse_gateway::conn::deadline::Deadline;
use gatehouse_gateway::conn::watchdog::{Tracked, Watchdog};
use gatehouse_gateway::conn::{Admission, BodyReadTimeout, Connections, host, is_probe_path};
use gatehouse_store::health::Reachability;
use gatehouse_tls::ServerTls;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::server::graceful::Watcher;
use tokio::net::{TcpListener, TcpStream};
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpConnectInfo;
use tower::Service as _;

use crate::admin::AdminServices;
use crate::admin::auth::SecretCheck;
use crate::admin::config_stream::ConfigStreamImpl;
use crate::dashboard_edge::{self, DashboardEdge};
use crate::pb;
use crate::peer::{NodeAuth, PeerIdentity};
use crate::rest;

/// Secrets guarding the control plane.
#[derive(Clone)]
pub struct ControlSecrets {
    pub admin: SecretCheck,
    /// `None`: gateways are admitted by client certificate only.
    pub node: Option<SecretCheck>,
}

/// The TLS side of the control plane's port.
#[derive(Clone)]
pub struct ListenerTls {
    pub config: Arc<ServerTls>,
    /// `Strict-Transport-Security` on every response; `None`: not sent.
    pub hsts: Option<http::HeaderValue>,
}

/// Serves gRPC + REST on `listener` (over TLS when `tls` is given) until `shutdown` resolves.
pub async fn serve_control_plane(
    listener: TcpListener,
    tls: Option<ListenerTls>,
    control: Arc<ControlPlane>,
    readiness: Arc<Readiness>,
    secrets: ControlSecrets,
    edge: AdminEdge,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let AdminEdge { connections, apply_wait, dashboard_session_ttl, gateway_url } = edge;
    let dashboard = DashboardEdge::new(&secrets.admin, dashboard_session_ttl, gateway_url, tls.is_some());
    let services = AdminServices::new(Arc::clone(&control));
    let (health_reporter, health) = tonic_health::server::health_reporter();
    // The state is loaded before we get here: every service is ready to serve. From now on
    // `report_health` keeps this in step with `/readyz`.
    health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let grpc = Routes::new(InterceptedService::new(
        pb::api_service_server::ApiServiceServer::new(services.api_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::client_service_server::ClientServiceServer::new(services.client_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::user_service_server::UserServiceServer::new(services.user_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::token_service_server::TokenServiceServer::new(services.token_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::policy_service_server::PolicyServiceServer::new(services.policy_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::gateway_service_server::GatewayServiceServer::new(services.gateway_service.clone()),
        secrets.admin.interceptor(),
    ))
    .add_service(InterceptedService::new(
        pb::analytics_service_server::AnalyticsServiceServer::new(services.analytics_service.clone()),
        secrets.admin.interceptor(),
    ))
    // The standard health service, unauthenticated like any liveness probe: it reveals nothing.
    .add_service(health)
    .add_service(InterceptedService::new(
        pb::config_service_server::ConfigServiceServer::new(ConfigStreamImpl {
            control: Arc::clone(&control),
        }),
        NodeAuth { secret: secrets.node.clone() }.interceptor(),
    ))
    .add_service(InterceptedService::new(reflection_v1()?, secrets.admin.interceptor()))
    .add_service(InterceptedService::new(reflection_v1alpha()?, secrets.admin.interceptor()))
    .prepare();
    let shared = Arc::new(Shared {
        services,
        admin: secrets.admin,
        grpc,
        readiness: Arc::clone(&readiness),
        control: Arc::clone(&control),
        apply_wait,
        dashboard,
    });
    let health_task = tokio::spawn(report_health(readiness, health_reporter));

    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let probes_only = match connections.admit() {
            Admission::Served(slot) => (slot, false),
            Admission::ProbesOnly(slot) => (slot, true),
            Admission::Refused => {
                tracing::debug!(%peer, "connection cap reached: closed on accept");
                continue;
            }
        };
        let accepted =
            Accepted { stream, peer, tls: tls.clone(), slot: probes_only.0, probes_only: probes_only.1 };
        tokio::spawn(serve_connection(
            Arc::clone(&shared),
            accepted,
            connections.clone(),
            graceful.watcher(),
        ));
    }
    health_task.abort();
    // Open config streams never end by themselves: bound the drain.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

/// What every connection shares.
/// How the control plane's listener treats its callers, beside authentication.
pub struct AdminEdge {
    pub connections: Connections,
    /// How long a dashboard sign-in lasts (`--dashboard-session-ttl`).
    pub dashboard_session_ttl: std::time::Duration,
    /// A gateway's URL, when this process knows one (`gatehouse dev`'s own, or `--gateway-url`):
    /// the dashboard shows it and its Try it panel sends requests there.
    pub gateway_url: Option<String>,
    /// How long an admin write waits for the gateways to apply it (`--apply-wait`).
    pub apply_wait: std::time::Duration,
}

struct Shared {
    services: AdminServices,
    admin: SecretCheck,
    grpc: Routes,
    readiness: Arc<Readiness>,
    control: Arc<ControlPlane>,
    apply_wait: std::time::Duration,
    dashboard: DashboardEdge,
}

/// The response header (gRPC: response metadata) carrying the revision an admin write made.
pub const REVISION_HEADER: &str = "gatehouse-revision";
/// The response header naming the gateways that had not applied the write when the wait
/// ended (absent when all had).
pub const NOT_APPLIED_HEADER: &str = "gatehouse-not-applied-by";
/// Gateways named in [`NOT_APPLIED_HEADER`] at most; the rest are counted.
const NOT_APPLIED_NAMED: usize = 16;

/// Runs one admin call and, when it committed a change, answers only once every connected
/// gateway has applied it (or `apply_wait` ran out), so that a script may use what it just
/// created on any gateway. The answer carries the revision and, if the wait ran out, who
/// had not applied it.
async fn answered_when_applied(
    shared: &Shared,
    call: impl Future<Output = Response<tonic::body::Body>>,
) -> Response<tonic::body::Body> {
    let (mut response, committed) = gatehouse_control::noting_commits(call).await;
    let Some(revision) = committed else { return response };
    let behind = shared.control.fleet.wait_applied(revision, shared.apply_wait).await;
    let headers = response.headers_mut();
    headers.insert(REVISION_HEADER, revision.into());
    if !behind.is_empty() {
        tracing::warn!(revision, not_applied_by = ?behind, wait = ?shared.apply_wait, "admin write answered before every gateway applied it");
        let mut named = behind.iter().take(NOT_APPLIED_NAMED).cloned().collect::<Vec<_>>().join(", ");
        if behind.len() > NOT_APPLIED_NAMED {
            named.push_str(&format!(" and {} more", behind.len() - NOT_APPLIED_NAMED));
        }
        // Node ids are the gateways' own words: one that is no header value is not repeated.
        if let Ok(value) = http::HeaderValue::from_str(&named) {
            headers.insert(NOT_APPLIED_HEADER, value);
        }
    }
    response
}

/// The control plane is ready while its state store answers: without it no admin write can
/// commit, and a replica cannot follow the others. (It has loaded its state before listening.)
pub struct Readiness {
    control: Arc<ControlPlane>,
    store: Reachability,
}

impl Readiness {
    /// Shared by the main port, the probe port and the gRPC health service, so all three
    /// agree and the store sees one PING per second at most.
    pub fn new(control: Arc<ControlPlane>) -> Arc<Self> {
        Arc::new(Readiness { control, store: Reachability::new() })
    }

    pub async fn ready(&self) -> bool {
        self.store.check(|| self.control.ping_store()).await
    }
}

/// How often the gRPC health service's status is brought in line with readiness.
const HEALTH_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the standard gRPC health service (overall status, service "") saying what `/readyz`
/// says, so gRPC-native probes and load balancers see the same readiness as HTTP ones.
async fn report_health(readiness: Arc<Readiness>, reporter: tonic_health::server::HealthReporter) {
    loop {
        tokio::time::sleep(HEALTH_REPORT_EVERY).await;
        let status = if readiness.ready().await {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        reporter.set_service_status("", status).await;
    }
}

/// A connection admitted under the cap.
struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<ListenerTls>,
    /// Held until the connection ends.
    slot: gatehouse_gateway::conn::Slot,
    /// Over the cap: probes and `/metrics` only.
    probes_only: bool,
}

/// One connection: the handshake in its own task (a slow client delays no one else), then
/// HTTP/1.1 or h2 as negotiated, until the client closes or a deadline passes.
async fn serve_connection(
    shared: Arc<Shared>,
    accepted: Accepted,
    connections: Connections,
    watcher: Watcher,
) {
    let Accepted { stream, peer, tls, slot: _slot, probes_only } = accepted;
    let local = stream.local_addr().ok();
    let limits = &connections.limits;
    let builder = limits.builder(probes_only);
    let watchdog = Watchdog::new(limits);
    let body_read_timeout = limits.body_read_timeout;
    let role = connections.role();
    let hsts = tls.as_ref().and_then(|t| t.hsts.clone());
    let requests = watchdog.clone();
    let service = move |identity: Option<PeerIdentity>| {
        let hsts = hsts.clone();
        let requests = requests.clone();
        service_fn(move |mut req: Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let identity = identity.clone();
            let hsts = hsts.clone();
            let in_flight = requests.request(req.version());
            async move {
                let mut response = if let Err(reason) = host::check(req.version(), req.headers()) {
                    let mut response = plain(http::StatusCode::BAD_REQUEST, reason);
                    // A request whose framing is in doubt ends the connection.
                    if req.version() < http::Version::HTTP_2 {
                        response
                            .headers_mut()
                            .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                    }
                    response
                } else if probes_only && !is_probe_path(req.uri().path()) {
                    plain(http::StatusCode::SERVICE_UNAVAILABLE, "control plane at its connection limit")
                } else {
                    req.extensions_mut().insert(BodyReadTimeout(body_read_timeout));
                    crate::observe::admin_call(req, |req| {
                        answered_when_applied(&shared, route(&shared, req, local, peer, identity, role))
                    })
                    .await
                };
                if let Some(hsts) = hsts {
                    response.headers_mut().insert(http::header::STRICT_TRANSPORT_SECURITY, hsts);
                }
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
            }
        })
    };
    let served = async {
        match tls.map(|t| t.config) {
            None => {
                let io = TokioIo::new(watchdog.watch(stream));
                watcher.watch(builder.serve_connection(io, service(None)).into_owned()).await
            }
            Some(tls) => {
                let stream = match tls.accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        // A gateway or admin without the right certificate lands here: worth a line.
                        tracing::info!(%peer, %error, "TLS handshake refused");
                        return Ok(());
                    }
                };
                let identity = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(gatehouse_tls::peer_identity)
                    .map(PeerIdentity);
                if tls.requires_client_cert() && identity.is_none() {
                    // Verified by the CA but naming nothing: it cannot be told apart in the fleet view.
                    tracing::warn!(%peer, "client certificate has neither a DNS name nor a common name: refused");
                    return Ok(());
                }
                let io = TokioIo::new(watchdog.watch(stream));
                watcher.watch(builder.serve_connection(io, service(identity)).into_owned()).await
            }
        }
    };
    tokio::select! {
        result = served => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        }
        kind = watchdog.expired() => {
            gatehouse_telemetry::metrics::connections::timed_out(role, kind);
            tracing::debug!(%peer, kind, "admin connection closed: read deadline passed");
        }
    }
}

/// A short plain-text answer from the connection layer, before any route is chosen.
fn plain(status: http::StatusCode, message: &'static str) -> Response<tonic::body::Body> {
    let mut response = Response::new(tonic::body::Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(message.as_bytes()),
    )));
    *response.status_mut() = status;
    response
}

// gRPC server reflection, so grpcurl and other generic clients need no .proto files. Both
// versions: some clients still speak only v1alpha.
fn reflection_v1() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        // grpcurl describes what it is told about: the health service too.
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build gRPC reflection")
}

fn reflection_v1alpha() -> anyhow::Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        // grpcurl describes what it is told about: the health service too.
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("cannot build gRPC reflection")
}

async fn route(
    shared: &Shared,
    mut req: Request<Incoming>,
    local: Option<SocketAddr>,
    peer: SocketAddr,
    identity: Option<PeerIdentity>,
    role: gatehouse_gateway::conn::Role,
) -> Response<tonic::body::Body> {
    // Probes for Kubernetes: live while it answers, ready while its state store does.
    match req.uri().path() {
        "/healthz" => return probe(true),
        "/readyz" => return probe(shared.readiness.ready().await),
        _ => {}
    }
    // The peer for both protocols: admin authentication is throttled per source address.
    req.extensions_mut().insert(TcpConnectInfo { local_addr: local, remote_addr: Some(peer) });
    if is_grpc(&req) {
        // tonic reads the request messages itself: the body must end within the deadline.
        // (A config stream's request is one small message; its response streams on.)
        let within = BodyReadTimeout::of(&req);
        let mut req = req.map(|body| tonic::body::Body::new(Deadline::new(body, within, role)));
        if let Some(identity) = identity {
            req.extensions_mut().insert(identity);
        }
        let mut grpc = shared.grpc.clone();
        let mut response = match grpc.call(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        oversize_is_resource_exhausted(response.headers_mut());
        response
    } else if is_dashboard_path(req.uri().path()) {
        dashboard_edge::handle(&shared.dashboard, &shared.admin, &shared.control, req)
            .await
            .map(tonic::body::Body::new)
    } else {
        rest::handle(&shared.services, &shared.admin, &shared.dashboard, req)
            .await
            .map(tonic::body::Body::new)
    }
}

/// The gRPC status-code guide: a message "larger than configured maximum" is
/// RESOURCE_EXHAUSTED; tonic answers OUT_OF_RANGE. Its refusal comes before any service runs,
/// as a trailers-only response (the status in the headers), which is where it is corrected.
fn oversize_is_resource_exhausted(headers: &mut http::HeaderMap) {
    const OUT_OF_RANGE: &str = "11";
    if headers.get("grpc-status").is_none_or(|status| status != OUT_OF_RANGE) {
        return;
    }
    let message = headers.get("grpc-message").map(|m| percent_encoding::percent_decode(m.as_bytes()));
    let oversize = message
        .and_then(|m| m.decode_utf8().ok().map(|m| m.starts_with("Error, decoded message length too large")));
    if oversize == Some(true) {
        let resource_exhausted = i32::from(tonic::Code::ResourceExhausted).to_string();
        if let Ok(value) = http::HeaderValue::from_str(&resource_exhausted) {
            headers.insert("grpc-status", value);
        }
    }
}

fn probe(ready: bool) -> Response<tonic::body::Body> {
    let (status, body): (_, &'static [u8]) = if ready {
        (http::StatusCode::OK, b"ok")
    } else {
        (http::StatusCode::SERVICE_UNAVAILABLE, b"not ready")
    };
    let mut response =
        Response::new(tonic::body::Body::new(http_body_util::Full::new(bytes::Bytes::from_static(body))));
    *response.status_mut() = status;
    response
}

fn is_dashboard_path(path: &str) -> bool {
    path.strip_prefix(dashboard_edge::PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn is_grpc(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}
