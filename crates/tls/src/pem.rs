//! Certificates, keys and CA bundles from PEM.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Reads a whole file; certificate and key files are small.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

/// Every certificate in `pem`, in order (leaf first for a chain). `what` names the source.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what: what.to_owned(), source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what: what.to_owned() });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    // The parser's error could quote key material: say only what kind of failure it was.
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| TlsError::NoPrivateKey { what: what.to_owned() })
}

/// A root store from a PEM bundle of CA certificates; every one must parse.
pub fn roots_from_pem(pem: &[u8], what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(pem, what)? {
        roots.add(cert).map_err(|source| TlsError::UnusableCa { what: what.to_owned(), source })?;
    }
    Ok(roots)
}

/// A certificate chain and its key as a rustls signing identity, checking that they belong
/// together: a half-rotated pair (new certificate, old key) must be refused, not served.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    what: &str,
) -> Result<rustls::sign::CertifiedKey, TlsError> {
    let chain = certs_from_pem(cert_pem, what)?;
    let key = key_from_pem(key_pem, what)?;
    rustls::sign::CertifiedKey::from_der(chain, key, &crate::provider())
        .map_err(|source| TlsError::UnusablePair { what: what.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn errors_name_the_input_and_keep_the_cause() {
        let missing = read(Path::new("/nonexistent/cert.pem")).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/cert.pem: cannot read: "), "{missing}");
        assert!(missing.source().is_some_and(|s| s.is::<std::io::Error>()));

        let none = certs_from_pem(b"no PEM here", "ca.pem").unwrap_err();
        assert_eq!(none.to_string(), "ca.pem: no PEM certificate (-----BEGIN CERTIFICATE-----) found");

        let secret = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
        let key = key_from_pem(&secret[..40], "key.pem").unwrap_err();
        assert_eq!(key.to_string(), "key.pem: no PEM private key found");
    }
}
