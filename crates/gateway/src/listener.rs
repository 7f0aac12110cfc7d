//! The gateway's listeners: accepting connections, TLS handshakes, and what every response
//! gets by virtue of the connection it goes out on (HSTS).
//!
//! Every connection meets `crate::conn` first: the connection cap on accept, then the read
//! deadlines, header limits and `Host` check while it is served.
//!
//! A gateway has one main listener (TLS when a certificate is configured, plain otherwise)
//! and, optionally, a plain one beside a TLS one (`--plain-listen`), for probes and keyless
//! traffic; on it, endpoints that carry credentials refuse to serve (see `Gateway::handle`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use gatehouse_tls::ServerTls;
use http::{HeaderValue, Request, Response};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::conn::watchdog::{Tracked, Watchdog};
use crate::conn::{Admission, BodyReadTimeout, Slot, host, is_probe_path};
use crate::forwarded::Hop;
use crate::response::{ResponseBody, json_error};
use crate::server::Gateway;

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
            let (slot, probes_only) = match self.edge.connections.admit() {
                Admission::Served(slot) => (slot, false),
                Admission::ProbesOnly(slot) => (slot, true),
                Admission::Refused => {
                    tracing::debug!(%peer, "connection cap reached: closed on accept");
                    continue;
                }
            };
            let hop = self.edge.trusted_proxies.hop(peer, tls.is_some());
            let accepted = Accepted { stream, tls, hop, slot, probes_only };
            tokio::spawn(serve_connection(Arc::clone(&self), accepted, graceful.watcher()));
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

type Incoming = (TcpStream, std::net::SocketAddr, Option<Arc<ServerTls>>);

async fn accept_loop(listener: Listener, accepted: tokio::sync::mpsc::Sender<Incoming>) {
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

/// A connection admitted under the cap, with what it needs to be served.
struct Accepted {
    stream: TcpStream,
    tls: Option<Arc<ServerTls>>,
    hop: Hop,
    /// Held until the connection ends.
    slot: Slot,
    probes_only: bool,
}

/// The handshake (in this connection's own task, so a slow client delays no one else), then
/// HTTP/1.1 or h2 as negotiated, until the client closes, a deadline passes or the gateway
/// drains.
async fn serve_connection(gateway: Arc<Gateway>, accepted: Accepted, watcher: Watcher) {
    let Accepted { stream, tls, hop, slot: _slot, probes_only } = accepted;
    let connections = gateway.edge.connections.clone();
    let limits = &connections.limits;
    let watchdog = Watchdog::new(limits);
    let body_read_timeout = BodyReadTimeout(limits.body_read_timeout);
    let requests = watchdog.clone();
    let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let gateway = Arc::clone(&gateway);
        let in_flight = requests.request(req.version());
        async move {
            let response = if let Err(reason) = host::check(req.version(), req.headers()) {
                let mut response = json_error(http::StatusCode::BAD_REQUEST, reason);
                // A request whose framing is in doubt ends the connection.
                if req.version() < http::Version::HTTP_2 {
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
            } else if probes_only && !is_probe_path(req.uri().path()) {
                json_error(http::StatusCode::SERVICE_UNAVAILABLE, "gateway at its connection limit")
            } else {
                let hsts = match &gateway.edge.hsts {
                    Some(value) if hop.secure(req.headers()) => Some(value.clone()),
                    _ => None,
                };
                // Only requests with a body need the deadline (and the extension map it allocates).
                if !hyper::body::Body::is_end_stream(req.body()) {
                    req.extensions_mut().insert(body_read_timeout);
                }
                let mut response: Response<ResponseBody> = gateway.handle(req, hop).await;
                if let Some(value) = hsts {
                    response.headers_mut().insert(http::header::STRICT_TRANSPORT_SECURITY, value);
                }
                response
            };
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
        }
    });
    let builder = limits.builder(probes_only);
    let served = async {
        match tls {
            None => {
                let io = TokioIo::new(watchdog.watch(stream));
                watcher.watch(builder.serve_connection_with_upgrades(io, service).into_owned()).await
            }
            Some(tls) => {
                let stream = match tls.accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        // Scanners and clients that distrust our certificate: routine, not a warning.
                        tracing::debug!(peer = %hop.peer, %error, "TLS handshake failed");
                        return Ok(());
                    }
                };
                let io = TokioIo::new(watchdog.watch(stream));
                watcher.watch(builder.serve_connection_with_upgrades(io, service).into_owned()).await
            }
        }
    };
    tokio::select! {
        result = served => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        kind = watchdog.expired() => {
            gatehouse_telemetry::metrics::connections::timed_out(connections.role(), kind);
            tracing::debug!(peer = %hop.peer, kind, "connection closed: read deadline passed");
        }
    }
}
