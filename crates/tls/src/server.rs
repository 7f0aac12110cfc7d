//! Listener TLS: one config per listener, rebuilt whenever its files change on disk.
//!
//! Certificates are re-read every [`RELOAD_INTERVAL`] and compared by content, which covers
//! every way they get replaced: an edit in place, a rename over the file, and Kubernetes'
//! Secret volumes, where `tls.crt` is a symlink through `..data`, itself a symlink swapped
//! atomically to a new timestamped directory (the content changes, the path does not). A
//! changed set that does not load (say the certificate was written but not yet its key) is
//! logged and the previous config kept; the next tick tries again.
//!
//! Each connection takes the config current at its handshake, so a swap never touches an
//! established connection: they keep their session until they close.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::{TlsError, pem};

/// How often certificate files are re-read. Reading a few small files each second costs
/// nothing measurable, and a rotated certificate is served within about a second.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A client that opens a TCP connection and never finishes the handshake must not hold a
/// task and a socket forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An extra certificate served to clients asking for `host` (SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniCert {
    /// A host name, or `*.example.com` for any single label under example.com.
    pub host: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl SniCert {
    /// Parses `host=cert.pem,key.pem`.
    pub fn parse(spec: &str) -> Result<Self, TlsError> {
        let invalid = |problem: String| TlsError::SniSpec { spec: spec.to_owned(), problem };
        let usage = || invalid("expected HOST=CERT.pem,KEY.pem".to_owned());
        let (host, files) = spec.trim().split_once('=').ok_or_else(usage)?;
        let (cert, key) = files.split_once(',').ok_or_else(usage)?;
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let valid =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
        let name_ok = match host.strip_prefix("*.") {
            Some(rest) => valid(rest),
            None => valid(&host),
        };
        if !name_ok {
            return Err(invalid(format!("{host:?} is not a host name")));
        }
        let (cert, key) = (cert.trim(), key.trim());
        if cert.is_empty() || key.is_empty() {
            return Err(usage());
        }
        Ok(Self { host, cert: cert.into(), key: key.into() })
    }

    /// Parses a list as the environment carries it: specs separated by `;`, or by newlines.
    /// (`,` already separates a spec's two files.)
    pub fn parse_list(list: &str) -> Result<Vec<Self>, TlsError> {
        list.split([';', '\n']).filter(|s| !s.trim().is_empty()).map(Self::parse).collect()
    }
}

/// Everything a TLS listener is configured with.
#[derive(Debug, Clone, Default)]
pub struct ServerTlsOptions {
    /// Default certificate chain and key: served when SNI names no other.
    pub cert: PathBuf,
    pub key: PathBuf,
    pub sni: Vec<SniCert>,
    /// When set, clients must present a certificate chaining to one of these CAs.
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsOptions {
    fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.cert.as_path(), self.key.as_path()];
        for sni in &self.sni {
            files.extend([sni.cert.as_path(), sni.key.as_path()]);
        }
        files.extend(self.client_ca.as_deref());
        files
    }
}

/// A listener's TLS config, reloaded from disk in the background for as long as it lives.
pub struct ServerTls {
    config: ArcSwap<ServerConfig>,
    options: ServerTlsOptions,
    /// Hash of the files' contents the current config was built from.
    loaded: std::sync::Mutex<[u8; 32]>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("options", &self.options).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads the files now (an error names the file at fault) and starts watching them.
    pub fn load(options: ServerTlsOptions) -> Result<Arc<Self>, TlsError> {
        let (contents, digest) = read_all(&options)?;
        let config = build(&options, &contents)?;
        let tls = Arc::new(Self { config: ArcSwap::from_pointee(config), options, loaded: digest.into() });
        let weak = Arc::downgrade(&tls);
        // A plain thread: it blocks on file reads, and it stops by itself once the listener's
        // config is dropped.
        let spawned = std::thread::Builder::new().name("tls-reload".into()).spawn(move || watch(weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the certificate reloader: certificates will not reload");
        }
        Ok(tls)
    }

    /// The config for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_cert(&self) -> bool {
        self.options.client_ca.is_some()
    }

    /// The TLS handshake on an accepted connection, bounded by [`HANDSHAKE_TIMEOUT`].
    pub async fn accept(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current());
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    /// Re-reads the files; rebuilds and swaps the config if they changed. Returns whether a
    /// new config is in place.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let (contents, digest) = read_all(&self.options)?;
        let Ok(mut loaded) = self.loaded.lock() else { return Ok(false) };
        if *loaded == digest {
            return Ok(false);
        }
        let config = build(&self.options, &contents)?;
        self.config.store(Arc::new(config));
        *loaded = digest;
        Ok(true)
    }
}

fn watch(tls: Weak<ServerTls>) {
    // Logged once per distinct failure, not once a second.
    let mut last_error = String::new();
    loop {
        std::thread::sleep(RELOAD_INTERVAL);
        let Some(tls) = tls.upgrade() else { return };
        match tls.reload() {
            Ok(true) => {
                last_error.clear();
                tracing::info!(cert = %tls.options.cert.display(), "TLS certificates reloaded");
            }
            Ok(false) => last_error.clear(),
            Err(e) => {
                let message = e.to_string();
                if message != last_error {
                    tracing::warn!(error = %message, "TLS certificates changed but do not load; still serving the previous ones");
                    last_error = message;
                }
            }
        }
    }
}

/// The contents of each file, by path.
type Contents = HashMap<PathBuf, Vec<u8>>;

fn read_all(options: &ServerTlsOptions) -> Result<(Contents, [u8; 32]), TlsError> {
    let mut hasher = Sha256::new();
    let mut contents = HashMap::new();
    for path in options.files() {
        let bytes = pem::read(path)?;
        // Length-prefixed, so moving bytes from one file to the next changes the digest.
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(&bytes);
        contents.insert(path.to_owned(), bytes);
    }
    Ok((contents, hasher.finalize().into()))
}

fn build(options: &ServerTlsOptions, contents: &Contents) -> Result<ServerConfig, TlsError> {
    let file = |path: &Path| contents.get(path).map(Vec::as_slice).unwrap_or_default();
    let pair = |cert: &Path, key: &Path| {
        pem::certified_key(file(cert), file(key), &cert.display().to_string())
            .map(Arc::new)
            .map_err(|e| TlsError::in_file(key, e))
    };
    let default = pair(&options.cert, &options.key)?;
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    for sni in &options.sni {
        let key = pair(&sni.cert, &sni.key)?;
        match sni.host.strip_prefix("*.") {
            Some(parent) => wildcard.insert(parent.to_owned(), key),
            None => exact.insert(sni.host.clone(), key),
        };
    }
    let resolver = Arc::new(SniResolver { default, exact, wildcard });
    let builder = ServerConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(crate::PROTOCOL_VERSIONS)
        .map_err(TlsError::Config)?;
    let builder = match &options.client_ca {
        Some(ca) => {
            let roots = pem::roots_from_pem(file(ca), "client CA").map_err(|e| TlsError::in_file(ca, e))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::provider())
                .build()
                .map_err(|source| TlsError::ClientVerifier { path: ca.clone(), source })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    // h2 first: clients that speak both get HTTP/2 (gRPC needs it).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Picks the certificate by the name the client asked for: an exact name, then a wildcard for
/// its parent domain, then the default (also for clients sending no SNI, e.g. by IP address).
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else { return Some(Arc::clone(&self.default)) };
        // rustls hands SNI over lower-cased and validated as a DNS name.
        let name = name.trim_end_matches('.');
        let found = self
            .exact
            .get(name)
            .or_else(|| name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)));
        Some(Arc::clone(found.unwrap_or(&self.default)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_specs_parse() {
        let s = SniCert::parse(" API.example.com=/c/a.pem,/c/a.key ").unwrap();
        assert_eq!(
            (s.host.as_str(), s.cert.to_str(), s.key.to_str()),
            ("api.example.com", Some("/c/a.pem"), Some("/c/a.key"))
        );
        assert_eq!(SniCert::parse("*.example.com=a,b").unwrap().host, "*.example.com");
        for bad in ["", "host", "host=a", "=a,b", "h st=a,b", "host=,b", "*.=a,b"] {
            assert!(SniCert::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            SniCert::parse("host=a").unwrap_err().to_string(),
            r#""host=a": expected HOST=CERT.pem,KEY.pem"#
        );
        assert_eq!(
            SniCert::parse("h st=a,b").unwrap_err().to_string(),
            r#""h st=a,b": "h st" is not a host name"#
        );
        let list = SniCert::parse_list("a.test=1,2; b.test=3,4;").unwrap();
        assert_eq!(list.len(), 2);
    }
}
