//! Certificates, keys and CA bundles from PEM.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What went wrong, naming the file (never its contents: a key file is a secret).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

impl TlsError {
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::File { path: path.to_owned(), message: message.into() }
    }
}

/// Reads a whole file; certificate and key files are small.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::file(path, format!("cannot read: {e}")))
}

/// Every certificate in `pem`, in order (leaf first for a chain). `what` names the source.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: not valid PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, String> {
    // The parser's error could quote key material: say only what kind of failure it was.
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| format!("{what}: no PEM private key found"))
}

/// A root store from a PEM bundle of CA certificates; every one must parse.
pub fn roots_from_pem(pem: &[u8], what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(pem, what)? {
        roots.add(cert).map_err(|e| format!("{what}: not a usable CA certificate: {e}"))?;
    }
    Ok(roots)
}

/// A certificate chain and its key as a rustls signing identity, checking that they belong
/// together: a half-rotated pair (new certificate, old key) must be refused, not served.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    what: &str,
) -> Result<rustls::sign::CertifiedKey, String> {
    let chain = certs_from_pem(cert_pem, what)?;
    let key = key_from_pem(key_pem, what)?;
    rustls::sign::CertifiedKey::from_der(chain, key, &crate::provider())
        .map_err(|e| format!("{what}: certificate and key do not form a usable pair: {e}"))
}
