//! What went wrong loading TLS material, naming the file or setting at fault and never quoting
//! a file's contents (a key file is a secret).
//!
//! Each variant keeps the underlying error (I/O, PEM, rustls) as its `source`, and also shows
//! it in its message: the listener's reload loop, the gateway's 502 bodies and admin errors print
//! the message alone. Reports that walk the chain (the binary's start-up errors) skip a source
//! whose text the message already holds.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Something wrong with the contents of `path` (a certificate, key or CA file).
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<TlsError>,
    },
    #[error("{what}: not valid PEM certificates: {source}")]
    Pem {
        what: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")]
    NoCertificate { what: String },
    /// The PEM parser's error is not kept: it could quote key material.
    #[error("{what}: no PEM private key found")]
    NoPrivateKey { what: String },
    #[error("{what}: not a usable CA certificate: {source}")]
    UnusableCa {
        what: String,
        #[source]
        source: rustls::Error,
    },
    #[error("{what}: certificate and key do not form a usable pair: {source}")]
    UnusablePair {
        what: String,
        #[source]
        source: rustls::Error,
    },
    #[error("client certificate and key do not form a usable pair: {source}")]
    UnusableClientPair {
        #[source]
        source: rustls::Error,
    },
    #[error("{}: {source}", path.display())]
    ClientVerifier {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// The protocol versions or provider refused: a build problem rather than a file's.
    #[error("{0}")]
    Config(#[source] rustls::Error),
    /// A `--tls-sni-cert` value that is not `HOST=CERT.pem,KEY.pem`.
    #[error("{spec:?}: {problem}")]
    SniSpec { spec: String, problem: String },
}

impl TlsError {
    /// `self`, as found in the file at `path`.
    pub fn in_file(path: impl Into<PathBuf>, error: TlsError) -> Self {
        Self::InFile { path: path.into(), source: Box::new(error) }
    }
}
