//! An upstream that echoes the request as JSON: `{"upstream", "method", "path", "headers"}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running echo upstream; stops when dropped.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    scheme: &'static str,
    task: JoinHandle<()>,
}

async fn serve_echo<I>(io: I, name: &'static str, delay: std::time::Duration)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<hyper::body::Incoming>| async move {
        tokio::time::sleep(delay).await;
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("<binary>").into()))
            .collect();
        let body = serde_json::json!({
            "upstream": name,
            "method": req.method().as_str(),
            "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
            "headers": headers,
        });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        response
            .headers_mut()
            .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
        Ok::<_, Infallible>(response)
    });
    let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(io, service).await;
}

impl EchoUpstream {
    /// Starts an upstream named `name` on a free loopback port. Needs a tokio runtime.
    pub async fn start(name: &'static str) -> Self {
        Self::start_with_delay(name, std::time::Duration::ZERO).await
    }

    /// An upstream that waits `delay` before answering, so requests stay in flight a while.
    pub async fn start_with_delay(name: &'static str, delay: std::time::Duration) -> Self {
        Self::launch(name, delay, None).await
    }

    /// An https upstream with `tls` (see [`crate::Leaf::server_config`]).
    pub async fn start_tls(name: &'static str, tls: rustls::ServerConfig) -> Self {
        Self::launch(name, std::time::Duration::ZERO, Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls))))
            .await
    }

    async fn launch(
        name: &'static str,
        delay: std::time::Duration,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_echo(TokioIo::new(stream), name, delay).await,
                        // A client that does not trust us, or has no certificate we accept,
                        // fails here; the gateway reports it.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                serve_echo(TokioIo::new(stream), name, delay).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, scheme, task }
    }

    /// `http://127.0.0.1:port`, or for a TLS upstream `https://localhost:port` (the name its
    /// certificate is issued for).
    pub fn url(&self) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}", self.addr.port()),
            _ => format!("http://{}", self.addr),
        }
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
