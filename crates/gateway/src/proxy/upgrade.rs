//! WebSocket upgrades through the proxy: the upgrade headers are the one exception to
//! hop-by-hop stripping, and a `101 Switching Protocols` from the upstream turns the request
//! into a byte tunnel between the two upgraded connections.
//!
//! Only `websocket` (RFC 6455) is spliced. A tunnel carries whatever the client sends after the
//! one request the gateway checked; for WebSocket that is the API's own message stream, but
//! `h2c` (RFC 7540 §3.2, deprecated by RFC 9113 §3.1) or any other protocol would carry further
//! HTTP requests to the upstream with no token, path, rate or quota check. Other offers are
//! dropped rather than refused: the `Upgrade` header (and what `Connection` lists) is stripped
//! as hop-by-hop and the request is forwarded as a plain HTTP/1.1 one, which RFC 9110 §7.8
//! lets any server do, so clients that opportunistically offer h2c (curl --http2) keep working.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::strip_hop_by_hop;
use super::tunnel::{TunnelEnd, Tunnels};
use crate::response::{ResponseBody, json_error};

/// The client's side of a pending upgrade: what it offered, and the handle that yields its
/// connection once the 101 has been written to it.
pub(super) struct ClientUpgrade {
    on_upgrade: OnUpgrade,
    protocols: Vec<HeaderValue>,
}

/// The one protocol spliced (RFC 6455 §4.1: the token is case-insensitive).
const WEBSOCKET: &str = "websocket";

/// Takes the upgrade handle out of `req` when it asks to switch to WebSocket (`Connection:
/// upgrade` plus `Upgrade: websocket`, HTTP/1.1 only: HTTP/1.0 has no upgrades and HTTP/2
/// forbids these headers). Of several offered protocols only `websocket` is passed on. `None`
/// also when nothing else is offered, or when the inbound connection cannot upgrade (served
/// without upgrade support): the request is then forwarded as a plain one.
///
/// Must run before the request is taken apart: the handle lives in the request's extensions,
/// which are not forwarded.
pub(super) fn take(req: &mut Request<Incoming>) -> Option<ClientUpgrade> {
    if req.version() != Version::HTTP_11 || !connection_has_token(req.headers(), "upgrade") {
        return None;
    }
    let protocols: Vec<HeaderValue> = req
        .headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|offered| offered.eq_ignore_ascii_case(WEBSOCKET))
        .filter_map(|offered| HeaderValue::from_str(offered).ok())
        .take(1)
        .collect();
    if protocols.is_empty() {
        return None;
    }
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>()?;
    Some(ClientUpgrade { on_upgrade, protocols })
}

impl ClientUpgrade {
    /// Puts back, after hop-by-hop stripping, the two headers the upstream needs to see the
    /// upgrade request. Other Connection-listed headers stay stripped.
    pub(super) fn restore_headers(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        for protocol in &self.protocols {
            headers.append(header::UPGRADE, protocol.clone());
        }
    }

    /// Whether the upstream picked a protocol the client offered (RFC 9110 §7.8: a server may
    /// only switch to one of them). Tokens compare case-insensitively, versions included.
    fn offered(&self, chosen: &HeaderValue) -> bool {
        let Ok(chosen) = chosen.to_str() else { return false };
        let chosen = chosen.trim();
        self.protocols
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|offered| offered.trim().eq_ignore_ascii_case(chosen))
    }
}

/// Handles an upstream `101`: relays it to the client and splices the two connections once both
/// sides have switched. A 101 the client did not ask for, or to a protocol it did not offer,
/// cannot be relayed meaningfully, so it becomes a 502 (the upstream connection is dropped).
pub(super) fn switch(
    client: Option<ClientUpgrade>,
    mut response: Response<Incoming>,
    authority: &str,
    tunnels: &Tunnels,
) -> Response<ResponseBody> {
    let Some(client) = client else {
        tracing::warn!(upstream = %authority, "upstream switched protocols unasked");
        return json_error(StatusCode::BAD_GATEWAY, "upstream unavailable");
    };
    let chosen = match response.headers().get(header::UPGRADE) {
        Some(chosen) if client.offered(chosen) => chosen.clone(),
        _ => {
            tracing::warn!(upstream = %authority, "upstream switched to a protocol the client did not offer");
            return json_error(StatusCode::BAD_GATEWAY, "upstream unavailable");
        }
    };
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let (parts, _empty_body) = response.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, chosen);

    // The client's connection only switches after this 101 has been written, i.e. after we
    // return, hence the task.
    let authority = authority.to_owned();
    let tunnels = tunnels.clone();
    tokio::spawn(async move {
        let (client_io, upstream_io) = match tokio::try_join!(client.on_upgrade, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(upstream = %authority, error = %e, "upgrade did not complete");
                return;
            }
        };
        match tunnels.relay(TokioIo::new(client_io), TokioIo::new(upstream_io)).await {
            TunnelEnd::Closed { up, down } => {
                tracing::debug!(upstream = %authority, up, down, "upgraded connection closed")
            }
            // Resets are how many tunnels end; nothing for an operator to act on.
            TunnelEnd::Failed(e) => {
                tracing::debug!(upstream = %authority, error = %e, "upgraded connection failed")
            }
            TunnelEnd::Idle => tracing::debug!(upstream = %authority, "upgraded connection closed: idle"),
            TunnelEnd::Drained => {
                tracing::debug!(upstream = %authority, "upgraded connection closed: shutdown")
            }
        }
    });

    let mut relayed = Response::new(Either::Right(Full::new(Bytes::new())));
    *relayed.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *relayed.headers_mut() = headers;
    relayed
}

fn connection_has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
