//! The gateway side of the config stream: follow the control plane, apply what it sends,
//! reconnect with backoff and resume from the revision held.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gatehouse_gateway::LiveConfig;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Uri};
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;

use crate::pb;
use crate::wire::{change_from_wire, snapshot_from_wire};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Short, so a gateway resyncs within a second of the control plane's return (at most this
/// plus half of it in jitter, then one connect): with a longer cap, a control plane down for a
/// few seconds left its gateways on stale config for seconds more after it came back. A refused
/// connect costs the control plane's host almost nothing, even from a large fleet.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// How a gateway reaches and proves itself to the control plane.
#[derive(Clone, Default)]
pub struct ControlPlaneAccess {
    /// Sent in `authorization` when set; with mutual TLS the certificate is enough.
    pub node_secret: Option<String>,
    /// For an https URL: roots to verify the control plane, and the client certificate.
    pub tls: Option<gatehouse_tls::rustls::ClientConfig>,
}

/// Refuses, at start, a `--control-plane` that cannot name a control plane: without a scheme
/// (`control-plane:7070`) it would otherwise be retried forever and the gateway never be ready.
pub fn check_url(url: &str) -> anyhow::Result<()> {
    let expected = "expected http://host:port or https://host:port";
    let uri: Uri =
        url.parse().with_context(|| format!("--control-plane {url:?} is not a URL: {expected}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        anyhow::bail!("--control-plane {url:?} has no http:// or https:// scheme: {expected}");
    }
    if uri.host().is_none_or(str::is_empty) {
        anyhow::bail!("--control-plane {url:?} names no host: {expected}");
    }
    // gRPC calls go to fixed paths at the root: a path here would be silently dropped.
    if uri.path() != "/" || uri.query().is_some() {
        anyhow::bail!("--control-plane {url:?} has a path or query, which gRPC cannot use: {expected}");
    }
    Ok(())
}

/// Follows the control plane at `url` forever. While it is unreachable the gateway keeps
/// serving the config it last applied.
pub async fn follow(url: String, access: ControlPlaneAccess, node_id: String, live: Arc<LiveConfig>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut opened = false;
        match follow_once(&url, &access, &node_id, &live, &mut opened).await {
            Ok(()) => tracing::warn!(control_plane = %url, "config stream ended; reconnecting"),
            Err(e) => tracing::warn!(
                error = %crate::report::one_line(e.as_ref()),
                control_plane = %url,
                "config stream failed; reconnecting"
            ),
        }
        if opened {
            // The control plane was up until just now: a restart, most likely. Retry promptly.
            backoff = MIN_BACKOFF;
        }
        // Jitter spreads a fleet's reconnects after a control-plane restart.
        let jitter_ms = rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1);
        tokio::time::sleep(backoff + Duration::from_millis(jitter_ms)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn follow_once(
    url: &str,
    access: &ControlPlaneAccess,
    node_id: &str,
    live: &LiveConfig,
    opened: &mut bool,
) -> anyhow::Result<()> {
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    let endpoint = Endpoint::from_shared(url.to_owned())
        .context("bad control-plane URL")?
        .connect_timeout(CONNECT_TIMEOUT)
        // Detects a control plane that vanished without closing the connection.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    let channel = crate::channel::connect(endpoint, access.tls.as_ref(), CONNECT_TIMEOUT)
        .await
        .context("cannot connect")?;
    let answered_by: std::sync::Arc<str> = url.into();
    let channel = tower::ServiceBuilder::new()
        .map_response(move |response| explain_non_grpc(&answered_by, response))
        .service(channel);
    let secret: Option<MetadataValue<_>> = match &access.node_secret {
        Some(secret) => {
            Some(secret.parse().map_err(|_| anyhow::anyhow!("node secret is not a valid header value"))?)
        }
        None => None,
    };
    let mut client = pb::config_service_client::ConfigServiceClient::with_interceptor(
        channel,
        move |mut req: tonic::Request<()>| {
            if let Some(secret) = &secret {
                req.metadata_mut().insert("authorization", secret.clone());
            }
            Ok(req)
        },
    );
    let (store_id, revision) = live.position().unwrap_or_default();
    let request = pb::WatchRequest { node_id: node_id.to_owned(), store_id, revision, reports_applied: true };
    let response =
        client.watch(request).await.map_err(|s| anyhow::anyhow!("watch refused: {}", s.message()))?;
    // Without a session (an older control plane) there is no one to report to.
    let session = response
        .metadata()
        .get(crate::admin::config_stream::SESSION_METADATA)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let (applied, reports) = tokio::sync::watch::channel(None);
    if let Some(session) = session {
        tokio::spawn(report_applied(client.clone(), session, reports));
    }
    let mut stream = response.into_inner();
    *opened = true;
    tracing::info!(control_plane = %url, held_revision = revision, "config stream open");
    while let Some(event) =
        stream.message().await.map_err(|s| anyhow::anyhow!("stream error: {}", s.message()))?
    {
        match event.event {
            Some(pb::config_event::Event::Snapshot(snapshot)) => {
                let state = snapshot_from_wire(snapshot)?;
                let revision = state.revision;
                let first = live.load().is_none();
                live.apply_snapshot(state);
                tracing::info!(revision, "config snapshot applied");
                if first {
                    // What `/readyz` waited for (with Redis, which answered at start).
                    tracing::info!(revision, "gateway ready");
                }
                applied.send_replace(Some(revision));
            }
            Some(pb::config_event::Event::Delta(delta)) => {
                let (revision, change) = change_from_wire(delta)?;
                // A gap means this stream cannot be trusted: reconnect and resume from what
                // we hold, which yields the missing deltas or a snapshot.
                live.apply_delta(revision, &change)?;
                tracing::info!(revision, "config delta applied");
                applied.send_replace(Some(revision));
            }
            None => anyhow::bail!("empty config event"),
        }
    }
    Ok(())
}

/// Tells the control plane each revision this gateway now serves, so that admin writes can
/// return once it does. Reports are coalesced (a burst of deltas costs one call) and sent
/// beside the stream, never holding it up; the task ends with the stream (`applied`'s sender).
async fn report_applied<S>(
    mut client: pb::config_service_client::ConfigServiceClient<S>,
    session: u64,
    mut applied: tokio::sync::watch::Receiver<Option<u64>>,
) where
    S: tonic::client::GrpcService<tonic::body::Body> + Send + 'static,
    S::Future: Send,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    while applied.changed().await.is_ok() {
        let Some(revision) = *applied.borrow_and_update() else { continue };
        if let Err(status) = client.report_applied(pb::AppliedReport { session, revision }).await {
            // The stream breaks too when the control plane goes; admin writes meanwhile wait
            // their bounded time and name this gateway.
            tracing::debug!(revision, error = %status.message(), "cannot report the applied revision");
        }
    }
}

/// A gRPC answer as it is; anything else (a gateway's port, a web server) as a trailers-only
/// gRPC error saying what answered. tonic would otherwise read the HTTP body as gRPC frames
/// and fail on its first byte (`invalid compression flag: 123` for a JSON `{`), after the call
/// seemed to succeed, which also reset the backoff.
fn explain_non_grpc(url: &str, response: http::Response<Body>) -> http::Response<Body> {
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/grpc") {
        return response;
    }
    let message =
        format!("this is not a Gatehouse control plane (HTTP {} from {url})", response.status().as_u16());
    let mut explained = http::Response::new(Body::empty());
    let headers = explained.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(tonic::Code::Unavailable as i32));
    // grpc-message is percent-encoded on the wire; tonic decodes it.
    let encoded = percent_encoding::utf8_percent_encode(&message, percent_encoding::CONTROLS).to_string();
    if let Ok(value) = HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", value);
    }
    explained
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_plane_url_needs_a_scheme_and_a_host_and_nothing_else() {
        for good in ["http://control-plane:7070", "https://cp.example.com", "http://127.0.0.1:7070/"] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "control-plane:7070",
            "127.0.0.1:7070",
            "ftp://cp:7070",
            "http://",
            "http://cp:7070/api",
            "http://cp:7070/?x=1",
            "",
        ] {
            let error = check_url(bad).unwrap_err().to_string();
            assert!(error.starts_with("--control-plane"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_plain_http_answer_becomes_an_unavailable_status_naming_what_answered() {
        let response = http::Response::builder()
            .status(404)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::empty())
            .unwrap();
        let explained = explain_non_grpc("http://127.0.0.1:8080", response);
        let status = tonic::Status::from_header_map(explained.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.message(),
            "this is not a Gatehouse control plane (HTTP 404 from http://127.0.0.1:8080)"
        );
    }
}
