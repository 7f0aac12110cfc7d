//! TLS to https upstreams: pooled clients per trust configuration, and what a TLS failure
//! means for the caller.
//!
//! An API without TLS settings uses the shared client, which verifies against the system's
//! trust store. An API with a CA bundle or a client certificate gets its own pooled client,
//! built on first use. Every client verifies the upstream's certificate and its name against
//! the upstream URL's host, which also goes out as SNI; there is no path that skips it.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use gatehouse_model::UpstreamTls;
use gatehouse_tls::{ClientIdentity, rustls};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sha2::{Digest as _, Sha256};

use super::{POOL_IDLE_TIMEOUT, ProxyTimeouts};

pub(super) type PooledClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// How often the client certificate files of an API are re-read, to pick up a rotation.
const IDENTITY_RECHECK: Duration = Duration::from_secs(30);

/// A pooled client built for one [`UpstreamTls`], with what it was built from.
struct Built<B> {
    client: Result<PooledClient<B>, String>,
    /// Digest of the client certificate files read, to rebuild only on a change.
    identity_digest: [u8; 32],
    checked: Instant,
}

/// The clients for APIs with their own TLS settings.
pub(super) struct TlsClients<B> {
    timeouts: ProxyTimeouts,
    clients: RwLock<HashMap<UpstreamTls, Arc<Built<B>>>>,
}

impl<B> TlsClients<B>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub(super) fn new(timeouts: ProxyTimeouts) -> Self {
        Self { timeouts, clients: RwLock::new(HashMap::new()) }
    }

    /// The client for `settings` (never the default ones), or why none can be built.
    pub(super) async fn get(&self, settings: &UpstreamTls) -> Result<PooledClient<B>, String> {
        let cached = self.clients.read().ok().and_then(|c| c.get(settings).cloned());
        // Only files can change under the same settings: a CA-only entry is final.
        if let Some(built) = &cached
            && (built.checked.elapsed() < IDENTITY_RECHECK || settings.client_cert_file.is_empty())
        {
            return built.client.clone();
        }
        let identity = read_identity(settings).await;
        let digest = match &identity {
            Ok(Some(identity)) => digest(identity),
            _ => [0; 32],
        };
        if let Some(built) = cached.filter(|b| b.identity_digest == digest && b.client.is_ok()) {
            // Unchanged files: keep the pool (and its warm connections).
            let refreshed = Arc::new(Built {
                client: built.client.clone(),
                identity_digest: digest,
                checked: Instant::now(),
            });
            self.store(settings, refreshed);
            return built.client.clone();
        }
        let client = identity.and_then(|identity| {
            let roots = if settings.ca_pem.is_empty() {
                None
            } else {
                Some(
                    gatehouse_tls::pem::roots_from_pem(settings.ca_pem.as_bytes(), "upstream_ca_pem")
                        .map_err(|e| e.to_string())?,
                )
            };
            build_client(self.timeouts, roots, identity.as_ref())
        });
        let built =
            Arc::new(Built { client: client.clone(), identity_digest: digest, checked: Instant::now() });
        self.store(settings, built);
        client
    }

    fn store(&self, settings: &UpstreamTls, built: Arc<Built<B>>) {
        if let Ok(mut clients) = self.clients.write() {
            clients.insert(settings.clone(), built);
        }
    }
}

async fn read_identity(settings: &UpstreamTls) -> Result<Option<ClientIdentity>, String> {
    if settings.client_cert_file.is_empty() {
        return Ok(None);
    }
    let read = |path: String| async move {
        tokio::fs::read(&path).await.map_err(|e| format!("cannot read {path}: {e}"))
    };
    let cert_pem = read(settings.client_cert_file.clone()).await?;
    let key_pem = read(settings.client_key_file.clone()).await?;
    Ok(Some(ClientIdentity { cert_pem, key_pem }))
}

fn digest(identity: &ClientIdentity) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((identity.cert_pem.len() as u64).to_be_bytes());
    hasher.update(&identity.cert_pem);
    hasher.update(&identity.key_pem);
    hasher.finalize().into()
}

/// A pooled HTTP/1.1 client for http and https upstreams, verifying against `roots` (the
/// system's when `None`).
pub(super) fn build_client<B>(
    timeouts: ProxyTimeouts,
    roots: Option<rustls::RootCertStore>,
    identity: Option<&ClientIdentity>,
) -> Result<PooledClient<B>, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(timeouts.connect));
    // Small request/response heads would otherwise wait on Nagle + delayed ACK (~40 ms).
    http.set_nodelay(true);
    // The https connector wraps this one and needs it to accept https URIs.
    http.enforce_http(false);
    // ALPN stays empty here: the connector sets it to what the pool speaks (HTTP/1.1).
    let config = gatehouse_tls::client_config(roots, identity, &[]).map_err(|e| e.to_string())?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // Without a timer the pool never evicts idle connections in the background.
        .pool_timer(TokioTimer::new())
        .build(connector))
}

/// The TLS failure behind a failed upstream request, if that is what it was.
pub(super) fn tls_failure(err: &hyper_util::client::legacy::Error) -> Option<&rustls::Error> {
    // The connector reports a handshake failure as an io::Error wrapping tokio-rustls' io::Error
    // wrapping the rustls error. io::Error's own `source` skips the error it wraps, so step
    // into each wrapped error instead.
    let mut next: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// What the caller is told about a TLS failure (the log carries the details).
pub(super) fn describe(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidCertificate(_) => "upstream certificate verification failed",
        rustls::Error::AlertReceived(_) => "upstream refused the TLS handshake",
        _ => "TLS handshake with the upstream failed",
    }
}
