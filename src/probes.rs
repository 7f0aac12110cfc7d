//! A plain-HTTP port answering only the control plane's probes, for when its main port
//! requires client certificates (`--tls-client-ca`): Kubernetes' HTTP probes cannot present
//! one. It serves `/healthz` and `/readyz` and nothing else, so it opens no way around mTLS.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gatehouse_gateway::conn::watchdog::{Tracked, Watchdog};
use gatehouse_gateway::conn::{Admission, Connections};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::listener::Readiness;

/// Serves the probes on `listener` until the process ends, with the main port's readiness:
/// ready while the state store answers. Connections meet the main port's deadlines and a cap
/// of their own.
pub async fn serve(listener: TcpListener, readiness: Arc<Readiness>, connections: Connections) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let (Admission::Served(slot) | Admission::ProbesOnly(slot)) = connections.admit() else {
            continue;
        };
        let readiness = Arc::clone(&readiness);
        let (builder, watchdog) = (connections.limits.builder(false), Watchdog::new(&connections.limits));
        let role = connections.role();
        tokio::spawn(async move {
            let _slot = slot;
            let requests = watchdog.clone();
            let service = service_fn(|req: Request<Incoming>| {
                let readiness = Arc::clone(&readiness);
                let in_flight = requests.request(req.version());
                async move {
                    let (status, body) = match req.uri().path() {
                        "/healthz" => (StatusCode::OK, "ok"),
                        "/readyz" if readiness.ready().await => (StatusCode::OK, "ok"),
                        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
                        _ => (StatusCode::NOT_FOUND, "probes only: /healthz, /readyz"),
                    };
                    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
                }
            });
            let connection = builder.serve_connection(TokioIo::new(watchdog.watch(stream)), service);
            tokio::select! {
                _ = connection => {}
                kind = watchdog.expired() => gatehouse_telemetry::metrics::connections::timed_out(role, kind),
            }
        });
    }
}
