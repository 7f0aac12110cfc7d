//! TLS for Gatehouse: rustls on the ring provider, no OpenSSL.
//!
//! # Layout
//! - `error`: [`TlsError`], naming the file or setting at fault, with the cause as `source`.
//! - [`pem`]: certificates, keys and CA bundles from PEM files or text.
//! - [`server`]: listener configs (TLS 1.2 + 1.3, ALPN h2 + http/1.1, SNI with several
//!   certificates, optional client certificates), rebuilt when the files on disk change, and the
//!   handshake with a deadline.
//! - [`client`]: client configs for upstreams and for the control plane (CA bundle or the
//!   system roots, optional client certificate).
//! - [`identity`]: the name a verified client certificate stands for.
//!
//! Every config here is built with [`provider`] and [`PROTOCOL_VERSIONS`], so no code path can
//! end up with another crypto provider or an older protocol.

pub mod client;
mod error;
pub mod identity;
pub mod pem;
pub mod server;

use std::sync::Arc;

pub use client::{ClientIdentity, client_config, system_roots};
pub use error::TlsError;
pub use identity::peer_identity;
pub use server::{ServerTls, ServerTlsOptions, SniCert};

pub use rustls;
pub use tokio_rustls;

/// TLS 1.3 and 1.2 only (BCP 195): 1.0 and 1.1 are not even compiled into rustls.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider of every config: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
