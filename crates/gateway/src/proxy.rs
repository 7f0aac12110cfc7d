//! Forwarding a request to its upstream and streaming the answer back: the last step of the hot
//! path. Bodies are never collected, so memory per request stays flat whatever their size.

use std::error::Error as _;
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use gatehouse_model::{Upstream, UpstreamTls};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::{Either, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::forwarded::{Hop, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use crate::response::{ResponseBody, body_too_large, json_error};
use client_body::{ClientBody, ClientBodyError};

mod client_body;
pub mod tunnel;
mod upgrade;
pub mod upstream_tls;

/// How long the gateway waits on an upstream before answering 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTimeouts {
    /// TCP connect, per resolved address.
    pub connect: Duration,
    /// From handing the request to the pool (connect included) until the upstream's response
    /// head has arrived. The response body is not bounded: long downloads and streams are
    /// legitimate.
    pub response_header: Duration,
}

impl Default for ProxyTimeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), response_header: Duration::from_secs(30) }
    }
}

/// Long enough to carry connections across bursts of traffic, as Go's reverse proxy does. An
/// upstream that closes idle connections sooner is fine: the pool retries a request that finds
/// its connection closed before anything was written (`retry_canceled_requests`).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Default cap on a request body: generous for API payloads, small enough that one client
/// cannot stream unbounded data into an upstream through the gateway.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;

/// Default longest pause between two pieces of a proxied request body: long enough for a slow
/// mobile uplink, short enough that a stalled upload does not hold an upstream connection.
pub const DEFAULT_REQUEST_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled HTTP/1.1 client shared by every request of a gateway; cheap to clone. Speaks
/// https to upstreams too, verifying them against the system's trust store, or against an
/// API's own CA bundle (and with its client certificate) through a pool of its own.
#[derive(Clone)]
pub struct UpstreamClient {
    client: upstream_tls::PooledClient<Limited<ClientBody>>,
    tls: std::sync::Arc<upstream_tls::TlsClients<Limited<ClientBody>>>,
    timeouts: ProxyTimeouts,
    max_request_body: usize,
    request_body_idle_timeout: Duration,
    tunnels: tunnel::Tunnels,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies still meet in the wild.
/// They describe one connection, so forwarding them would make the next hop misframe or
/// misroute; `Proxy-Authorization` would also leak the client's proxy credentials upstream.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

impl UpstreamClient {
    pub fn new(timeouts: ProxyTimeouts) -> Self {
        // Only a client identity or a CA bundle can make this fail, and neither is given.
        #[allow(clippy::expect_used, reason = "no identity and no custom roots: cannot fail")]
        let client = upstream_tls::build_client(timeouts, None, None)
            .expect("a TLS client config without identity or custom roots always builds");
        let tls = std::sync::Arc::new(upstream_tls::TlsClients::new(timeouts));
        Self {
            client,
            tls,
            timeouts,
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
            request_body_idle_timeout: DEFAULT_REQUEST_BODY_IDLE_TIMEOUT,
            tunnels: Default::default(),
        }
    }

    /// Tracks upgraded connections in `tunnels` (default: idle timeout
    /// [`tunnel::DEFAULT_IDLE_TIMEOUT`]).
    pub fn tunnels(mut self, tunnels: tunnel::Tunnels) -> Self {
        self.tunnels = tunnels;
        self
    }

    /// The upgraded connections open through this client, for the drain.
    pub fn open_tunnels(&self) -> &tunnel::Tunnels {
        &self.tunnels
    }

    /// Sets the largest request body forwarded, in bytes (default [`DEFAULT_MAX_REQUEST_BODY`]).
    ///
    /// Enforced while streaming, never by buffering:
    /// - a declared `Content-Length` above the limit is answered 413 before the upstream is
    ///   contacted;
    /// - a body without a length (chunked, HTTP/2) is cut off before the chunk that would cross
    ///   the limit, so the upstream never receives more than `limit` bytes; the upstream
    ///   connection is then closed mid-request. If the upstream had not answered yet, the client
    ///   gets 413; if it had, its response is already on the way and cannot be taken back, so
    ///   the response body is aborted and the client sees its connection close early.
    pub fn max_request_body(mut self, limit: usize) -> Self {
        self.max_request_body = limit;
        self
    }

    /// Sets the longest wait for the next piece of a request body being forwarded (default
    /// [`DEFAULT_REQUEST_BODY_IDLE_TIMEOUT`]). Past it the upstream request is aborted; the
    /// client gets 408 if the upstream had not answered yet, else its connection closes early.
    pub fn request_body_idle_timeout(mut self, timeout: Duration) -> Self {
        self.request_body_idle_timeout = timeout;
        self
    }

    /// Forwards `req` to `upstream`. `path_and_query` is the path (starting with '/') and optional
    /// query to request, relative to the upstream base path (the caller has already stripped the
    /// listen path when configured); it is appended to `upstream.base_path`.
    /// `hop` is the incoming connection: forwarding headers are kept only from trusted proxies.
    /// https upstreams are verified against the system's trust store.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        upstream: &Upstream,
        path_and_query: &str,
        hop: &Hop,
    ) -> Response<ResponseBody> {
        let target = crate::upstream_path::below_base(&upstream.base_path, path_and_query);
        self.forward_tls(req, upstream, &UpstreamTls::default(), &target, hop).await
    }

    /// Forwards `req` to `upstream` with an API's TLS settings for an https upstream. `target` is
    /// the upstream's whole path and query, base path included (what
    /// [`upstream_path_and_query`](crate::upstream_path::upstream_path_and_query) makes).
    pub async fn forward_tls(
        &self,
        mut req: Request<Incoming>,
        upstream: &Upstream,
        tls: &UpstreamTls,
        target: &str,
        hop: &Hop,
    ) -> Response<ResponseBody> {
        if upstream.scheme != "http" && upstream.scheme != "https" {
            tracing::warn!(upstream = %upstream.authority, scheme = %upstream.scheme, "unsupported upstream scheme");
            return json_error(StatusCode::BAD_GATEWAY, "upstream unavailable");
        }
        let client = if tls.is_default() {
            self.client.clone()
        } else {
            match self.tls.get(tls).await {
                Ok(client) => client,
                Err(error) => {
                    tracing::warn!(upstream = %upstream, %error, "cannot set up TLS to the upstream");
                    return json_error(
                        StatusCode::BAD_GATEWAY,
                        "upstream TLS is misconfigured on this gateway",
                    );
                }
            }
        };
        let Some(uri) = upstream_uri(upstream, target) else {
            tracing::warn!(upstream = %upstream.authority, "cannot build the upstream URI");
            return json_error(StatusCode::BAD_GATEWAY, "upstream unavailable");
        };
        let Ok(host) = HeaderValue::from_str(&upstream.authority) else {
            tracing::warn!(upstream = %upstream.authority, "upstream authority is not a valid Host");
            return json_error(StatusCode::BAD_GATEWAY, "upstream unavailable");
        };

        // hyper fills the size hint from Content-Length, so an announced oversize body is refused
        // before a connection to the upstream is even taken from the pool.
        if req.body().size_hint().lower() > u64::try_from(self.max_request_body).unwrap_or(u64::MAX) {
            tracing::info!(upstream = %upstream.authority, "declared request body over the limit");
            return body_too_large();
        }
        let client_upgrade = upgrade::take(&mut req);

        let (mut parts, body) = req.into_parts();
        // HTTP/2 clients carry the host in the URI's authority, not in a Host header.
        let original_host = parts
            .headers
            .get(header::HOST)
            .cloned()
            .or_else(|| parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()));
        let headers = &mut parts.headers;
        strip_hop_by_hop(headers);
        if let Some(client_upgrade) = &client_upgrade {
            client_upgrade.restore_headers(headers);
        }
        headers.insert(header::HOST, host);
        // From anyone but a trusted proxy, forwarding headers are the client's word: dropped,
        // so the upstream sees this hop's view alone.
        hop.sanitise(headers);
        append_forwarded_for(headers, hop.peer);
        append_forwarded(headers, hop, original_host.as_ref());
        // A trusted proxy's scheme (it terminated TLS) is kept; otherwise this listener's.
        if !headers.contains_key(X_FORWARDED_PROTO) {
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(hop.proto()));
        }
        if let Some(original_host) = original_host {
            headers.entry(X_FORWARDED_HOST).or_insert(original_host);
        }
        parts.uri = uri;
        // The incoming request may be HTTP/2 or 1.0; the pool only speaks HTTP/1.1 upstream.
        let client_version = std::mem::replace(&mut parts.version, Version::HTTP_11);
        // Extensions set by the inbound server (upgrade handles, header-case maps) are about the
        // client connection and must not steer the upstream one.
        parts.extensions = http::Extensions::new();
        let req = Request::from_parts(
            parts,
            Limited::new(ClientBody::new(body, self.request_body_idle_timeout), self.max_request_body),
        );

        let result = tokio::time::timeout(self.timeouts.response_header, client.request(req)).await;
        match result {
            Ok(Ok(response)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                upgrade::switch(client_upgrade, response, &upstream.authority, &self.tunnels)
            }
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                // RFC 9110 §6.2: the version is this hop's. hyper writes an HTTP/1.0 status
                // line, and closes the connection after it, for a response marked 1.0.
                parts.version = client_version;
                Response::from_parts(parts, Either::Left(body))
            }
            Ok(Err(err)) if is_body_limit(&err) => {
                tracing::info!(upstream = %upstream.authority, "streamed request body over the limit");
                body_too_large()
            }
            // The client's own body broke (bad chunked framing, it hung up or went quiet
            // mid-upload): its fault, not the upstream's, whose connection hyper has already
            // discarded.
            Ok(Err(err)) if client_body_error(&err).is_some() => match client_body_error(&err) {
                Some(ClientBodyError::Idle(idle)) => {
                    tracing::info!(upstream = %upstream.authority, ?idle, "request body stalled");
                    json_error(StatusCode::REQUEST_TIMEOUT, "request body timed out")
                }
                _ => {
                    tracing::info!(upstream = %upstream.authority, "malformed or truncated request body");
                    json_error(StatusCode::BAD_REQUEST, "malformed request body")
                }
            },
            Ok(Err(err)) if upstream_tls::tls_failure(&err).is_some() => {
                let tls_error = upstream_tls::tls_failure(&err);
                let message =
                    tls_error.map_or("TLS handshake with the upstream failed", upstream_tls::describe);
                // Named upstream and rustls' reason: what an operator needs to fix it. Never
                // retried without verification.
                tracing::warn!(upstream = %upstream, error = ?tls_error, "upstream TLS handshake failed");
                json_error(StatusCode::BAD_GATEWAY, message)
            }
            Ok(Err(err)) => {
                let (status, kind) = classify(&err);
                tracing::warn!(upstream = %upstream.authority, error = kind, "upstream request failed");
                let message = if status == StatusCode::GATEWAY_TIMEOUT {
                    "upstream timed out"
                } else {
                    "upstream unavailable"
                };
                json_error(status, message)
            }
            Err(_elapsed) => {
                tracing::warn!(upstream = %upstream.authority, error = "response header timeout", "upstream request failed");
                json_error(StatusCode::GATEWAY_TIMEOUT, "upstream timed out")
            }
        }
    }
}

/// `scheme://authority` + `target`. `None` only when the caller passed characters a URI cannot
/// hold.
fn upstream_uri(upstream: &Upstream, target: &str) -> Option<Uri> {
    let mut uri = String::with_capacity(upstream.scheme.len() + 3 + upstream.authority.len() + target.len());
    uri.push_str(&upstream.scheme);
    uri.push_str("://");
    uri.push_str(&upstream.authority);
    uri.push_str(target);
    Uri::try_from(uri).ok()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Names listed in Connection are hop-by-hop too (RFC 9110 §7.6.1). Unparsable tokens name no
    // header we could forward, so they are skipped. The Vec only allocates when the list is used.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// Appends the peer's IP to X-Forwarded-For, folding repeated fields into one list. Whatever
/// is already there came from a trusted proxy ([`Hop::sanitise`] removed it otherwise).
fn append_forwarded_for(headers: &mut HeaderMap, client_addr: SocketAddr) {
    let mut ip = Vec::with_capacity(48);
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; upstreams expect a.b.c.d.
    // Writing into a Vec cannot fail.
    let _ = write!(ip, "{}", client_addr.ip().to_canonical());
    append_to_list(headers, X_FORWARDED_FOR, ip);
}

/// Appends this hop's element to `Forwarded` (RFC 7239): `for=<peer>;proto=<scheme>;host=<host>`,
/// after the elements trusted proxies added.
fn append_forwarded(headers: &mut HeaderMap, hop: &Hop, original_host: Option<&HeaderValue>) {
    let mut element = Vec::with_capacity(96);
    // An IPv6 literal holds ':', which a token cannot, so RFC 7239 §6 wants it bracketed and
    // quoted; IPv4 is a plain token. Writing into a Vec cannot fail.
    let _ = match hop.peer.ip().to_canonical() {
        IpAddr::V4(ip) => write!(element, "for={ip}"),
        IpAddr::V6(ip) => write!(element, "for=\"[{ip}]\""),
    };
    element.extend_from_slice(b";proto=");
    element.extend_from_slice(hop.proto().as_bytes());
    if let Some(host) = original_host {
        element.extend_from_slice(b";host=");
        push_token_or_quoted(&mut element, host.as_bytes());
    }
    append_to_list(headers, header::FORWARDED, element);
}

/// RFC 7239 values are `token / quoted-string`: a host with a port (':') must be quoted.
fn push_token_or_quoted(out: &mut Vec<u8>, value: &[u8]) {
    let is_tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if !value.is_empty() && value.iter().all(is_tchar) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &b in value {
        // quoted-pair: only these two need escaping inside a quoted-string.
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends `element` to the comma-separated list header `name`, folding repeated fields into
/// one so the upstream sees a single, ordered list.
///
/// Runs for every proxied request, usually with no earlier field: then `element` becomes the
/// header value as it is, without a copy.
fn append_to_list(headers: &mut HeaderMap, name: HeaderName, element: Vec<u8>) {
    let mut existing = headers.get_all(&name).iter().peekable();
    let value = if existing.peek().is_none() {
        element
    } else {
        let mut value: Vec<u8> = Vec::new();
        for field in existing {
            value.extend_from_slice(field.as_bytes());
            value.extend_from_slice(b", ");
        }
        value.extend_from_slice(&element);
        value
    };
    // Every piece is already a valid header value, so this cannot fail; should it ever, the
    // header is left as the trusted proxies sent it.
    if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
        headers.insert(name, value);
    }
}

/// Whether the request failed because `Limited` cut the client's body off.
fn is_body_limit(err: &hyper_util::client::legacy::Error) -> bool {
    std::iter::successors(err.source(), |e| (*e).source()).any(|e| e.is::<LengthLimitError>())
}

/// How reading the client's body failed, when that is why the request failed.
fn client_body_error(err: &hyper_util::client::legacy::Error) -> Option<&ClientBodyError> {
    std::iter::successors(err.source(), |e| (*e).source()).find_map(|e| e.downcast_ref::<ClientBodyError>())
}

/// Maps a client error to the status the caller sees and a log label. Labels only: error chains
/// can quote the request, and requests carry tokens.
fn classify(err: &hyper_util::client::legacy::Error) -> (StatusCode, &'static str) {
    let mut chain = std::iter::successors(err.source(), |e| (*e).source());
    if err.is_connect() {
        let io_kind = chain.find_map(|e| e.downcast_ref::<io::Error>()).map(io::Error::kind);
        return match io_kind {
            Some(io::ErrorKind::TimedOut) => (StatusCode::GATEWAY_TIMEOUT, "connect timeout"),
            Some(io::ErrorKind::ConnectionRefused) => (StatusCode::BAD_GATEWAY, "connection refused"),
            _ => (StatusCode::BAD_GATEWAY, "connect error"),
        };
    }
    let label = match chain.find_map(|e| e.downcast_ref::<hyper::Error>()) {
        Some(e) if e.is_user() => "request body or head error",
        Some(e) if e.is_parse() => "invalid upstream response",
        Some(e) if e.is_incomplete_message() || e.is_closed() => "upstream closed the connection",
        _ => "upstream connection error",
    };
    (StatusCode::BAD_GATEWAY, label)
}
