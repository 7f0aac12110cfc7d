//! Client TLS configs: to upstreams and to the control plane.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};

use crate::{TlsError, pem};

/// A client certificate chain and its key, in PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity(<redacted>)")
    }
}

/// The operating system's trust store (what `update-ca-certificates` maintains), loaded once.
/// Certificates that do not parse are skipped with a warning; an empty store is logged, since
/// every verification against it will fail (and be answered as such, never skipped).
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "while loading the system's CA certificates");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!(ignored, "system CA certificates that do not parse were skipped");
        }
        if added == 0 {
            tracing::warn!("no system CA certificates found: HTTPS upstreams need a CA bundle");
        }
        Arc::new(roots)
    }))
}

/// A client config verifying servers against `roots` (the system's when `None`), presenting
/// `identity` when given, offering `alpn`.
pub fn client_config(
    roots: Option<RootCertStore>,
    identity: Option<&ClientIdentity>,
    alpn: &[&[u8]],
) -> Result<ClientConfig, TlsError> {
    let roots = match roots {
        Some(roots) => Arc::new(roots),
        None => system_roots(),
    };
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(crate::PROTOCOL_VERSIONS)
        .map_err(TlsError::Config)?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(identity) => {
            let chain = pem::certs_from_pem(&identity.cert_pem, "client certificate")?;
            let key = pem::key_from_pem(&identity.key_pem, "client key")?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsError::UnusableClientPair { source })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
