//! The control plane's one port: gRPC and REST side by side. Requests whose content-type is
//! `application/grpc*` go to tonic; the rest to the REST transcoder.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_control::ControlPlane;
use gatehouse_store::health::Reachability;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpConnectInfo;
use tower::Service as _;

use crate::admin::AdminServices;
use crate::admin::auth::SecretCheck;
use crate::admin::config_stream::ConfigStreamImpl;
use crate::pb;
use crate::rest;

/// Secrets guarding the control plane.
#[derive(Clone)]
pub struct ControlSecrets {
    pub admin: SecretCheck,
    pub node: SecretCheck,
}

/// Serves gRPC + REST on `listener` until `shutdown` resolves.
pub async fn serve_control_plane(
    listener: TcpListener,
    control: Arc<ControlPlane>,
    secrets: ControlSecrets,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let services = AdminServices::new(Arc::clone(&control));
    let (health_reporter, health) = tonic_health::server::health_reporter();
    // The state is loaded before we get here: every service is ready to serve. From now on
    // `report_health` keeps this in step with `/readyz`.
    health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let readiness = Arc::new(Readiness { control: Arc::clone(&control), store: Reachability::new() });
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
        pb::config_service_server::ConfigServiceServer::new(ConfigStreamImpl { control }),
        secrets.node.interceptor(),
    ))
    .add_service(InterceptedService::new(reflection_v1()?, secrets.admin.interceptor()))
    .add_service(InterceptedService::new(reflection_v1alpha()?, secrets.admin.interceptor()))
    .prepare();
    let shared = Arc::new(Shared { services, admin: secrets.admin, grpc, readiness: Arc::clone(&readiness) });
    let health_task = tokio::spawn(report_health(readiness, health_reporter));

    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
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
        let local = stream.local_addr().ok();
        let shared = Arc::clone(&shared);
        let service = service_fn(move |req| {
            let shared = Arc::clone(&shared);
            async move {
                let response = crate::observe::admin_call(req, |req| route(&shared, req, local, peer)).await;
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
    health_task.abort();
    // Open config streams never end by themselves: bound the drain.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

/// What every connection shares.
struct Shared {
    services: AdminServices,
    admin: SecretCheck,
    grpc: Routes,
    readiness: Arc<Readiness>,
}

/// The control plane is ready while its state store answers: without it no admin write can
/// commit, and a replica cannot follow the others. (It has loaded its state before listening.)
struct Readiness {
    control: Arc<ControlPlane>,
    store: Reachability,
}

impl Readiness {
    async fn ready(&self) -> bool {
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

// gRPC server reflection, so grpcurl and other generic clients need no .proto files. Both
// versions: some clients still speak only v1alpha.
fn reflection_v1() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
    String,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("cannot build gRPC reflection: {e}"))
}

fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    String,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| format!("cannot build gRPC reflection: {e}"))
}

async fn route(
    shared: &Shared,
    mut req: Request<Incoming>,
    local: Option<SocketAddr>,
    peer: SocketAddr,
) -> Response<tonic::body::Body> {
    // Probes for Kubernetes: live while it answers, ready while its state store does.
    match req.uri().path() {
        "/healthz" => return probe(true),
        "/readyz" => return probe(shared.readiness.ready().await),
        _ => {}
    }
    if is_grpc(&req) {
        req.extensions_mut().insert(TcpConnectInfo { local_addr: local, remote_addr: Some(peer) });
        let mut grpc = shared.grpc.clone();
        match grpc.call(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    } else {
        rest::handle(&shared.services, &shared.admin, req).await.map(tonic::body::Body::new)
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

fn is_grpc(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}
