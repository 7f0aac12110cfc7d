//! A plain-HTTP port answering only the control plane's probes, for when its main port
//! requires client certificates (`--tls-client-ca`): Kubernetes' HTTP probes cannot present
//! one. It serves `/healthz` and `/readyz` and nothing else, so it opens no way around mTLS.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::listener::Readiness;

/// Serves the probes on `listener` until the process ends, with the main port's readiness:
/// ready while the state store answers.
pub async fn serve(listener: TcpListener, readiness: Arc<Readiness>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let readiness = Arc::clone(&readiness);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| {
                let readiness = Arc::clone(&readiness);
                async move {
                    let (status, body) = match req.uri().path() {
                        "/healthz" => (StatusCode::OK, "ok"),
                        "/readyz" if readiness.ready().await => (StatusCode::OK, "ok"),
                        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
                        _ => (StatusCode::NOT_FOUND, "probes only: /healthz, /readyz"),
                    };
                    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
