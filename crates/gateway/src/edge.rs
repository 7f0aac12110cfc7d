//! How a gateway meets its clients: trusted proxies, HSTS, whether credentials need TLS, the
//! connection limits and the issuer name metadata speaks in. Set once at start-up and read by
//! the listeners and the request pipeline alike, so it depends on neither.

use http::HeaderValue;

use crate::conn::Connections;
use crate::forwarded::TrustedProxies;
use crate::oauth::issuer::IssuerPolicy;

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
    /// Read deadlines, header limits and the connection cap, shared by every listener and
    /// serving thread of this gateway.
    pub connections: Connections,
    /// Whose name RFC 8414 metadata speaks in (`--public-url`, `--public-hosts`).
    pub issuer: IssuerPolicy,
    /// Write one access-log line per request (`--access-log`; see `access_log.rs`).
    pub access_log: bool,
}
