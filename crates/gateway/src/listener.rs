//! The gateway's listeners: accepting connections, TLS handshakes, and what every response
//! gets by virtue of the connection it goes out on (HSTS).
//!
//! A gateway has one main listener (TLS when a certificate is configured, plain otherwise)
//! and, optionally, a plain one beside a TLS one (`--plain-listen`), for probes and keyless
//! traffic; on it, endpoints that carry credentials refuse to serve (see `Gateway::handle`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use gatehouse_tls::ServerTls;
use http::{HeaderValue, Request};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::forwarded::{Hop, TrustedProxies};
use crate::server::Gateway;

/// How this gateway meets its clients; set once at start-up.
#[derive(Debug, Clone, Default)]
pub struct EdgePolicy {
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// `Strict-Transport-Security` on responses to requests that came over TLS; `None`: not sent.
    pub hsts: Option<HeaderValue>,
    /// This gateway terminates TLS: a request reaching an endpoint that carries credentials
    /// (OAuth endpoints, protected APIs) without TLS is refused, never redirected, since the
    /// credentials have already crossed the network in clear.
    pub tls_required: bool,
}

/// One socket the gateway serves, with its TLS config when it speaks TLS.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Arc<ServerTls>>,
}

impl Listener {
    pub fn plain(tcp: TcpListener) -> Self {
        Self { tcp, tls: None }
    }
}

impl Gateway {
    /// Serves every listener until `shutdown` resolves, then stops accepting and lets in-flight
    /// requests finish, for at most `drain_timeout`.
    pub async fn serve_listeners(
        self: Arc<Self>,
        listeners: Vec<Listener>,
        shutdown: impl Future<Output = ()>,
        drain_timeout: std::time::Duration,
    ) {
        let graceful = GracefulShutdown::new();
        let (accepted_tx, mut accepted) = tokio::sync::mpsc::channel(64);
        let acceptors: Vec<_> = listeners
            .into_iter()
            .map(|listener| tokio::spawn(accept_loop(listener, accepted_tx.clone())))
            .collect();
        drop(accepted_tx);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer, tls) = tokio::select! {
                next = accepted.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
                () = &mut shutdown => break,
            };
            let hop = self.edge.trusted_proxies.hop(peer, tls.is_some());
            tokio::spawn(serve_connection(Arc::clone(&self), stream, tls, hop, graceful.watcher()));
        }
        // Stop accepting (the listeners are dropped with their tasks); open connections finish
        // their requests and close.
        for acceptor in acceptors {
            acceptor.abort();
        }
        let deadline = tokio::time::Instant::now() + drain_timeout;
        if tokio::time::timeout(drain_timeout, graceful.shutdown()).await.is_err() {
            tracing::warn!(?drain_timeout, "drain timeout: exiting with requests still in flight");
        }
        // Upgraded connections left hyper's tracking when they switched: they get what is left
        // of the drain, then are closed rather than cut by the exit.
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.upstream.open_tunnels().drain(remaining).await;
    }
}

type Accepted = (TcpStream, std::net::SocketAddr, Option<Arc<ServerTls>>);

async fn accept_loop(listener: Listener, accepted: tokio::sync::mpsc::Sender<Accepted>) {
    loop {
        match listener.tcp.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                if accepted.send((stream, peer, listener.tls.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// The handshake (in this connection's own task, so a slow client delays no one else), then
/// HTTP/1.1 or h2 as negotiated.
async fn serve_connection(
    gateway: Arc<Gateway>,
    stream: TcpStream,
    tls: Option<Arc<ServerTls>>,
    hop: Hop,
    watcher: Watcher,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let gateway = Arc::clone(&gateway);
        async move {
            let hsts = match &gateway.edge.hsts {
                Some(value) if hop.secure(req.headers()) => Some(value.clone()),
                _ => None,
            };
            let mut response = gateway.handle(req, hop).await;
            if let Some(value) = hsts {
                response.headers_mut().insert(http::header::STRICT_TRANSPORT_SECURITY, value);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let result = match tls {
        None => {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
        Some(tls) => {
            let stream = match tls.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    // Scanners and clients that distrust our certificate: routine, not a warning.
                    tracing::debug!(peer = %hop.peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            watcher.watch(connection.into_owned()).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
