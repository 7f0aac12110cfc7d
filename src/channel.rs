//! gRPC channels to the control plane, over TLS when the URL is https (gateways and the admin
//! CLI share this).

use std::time::Duration;

use gatehouse_tls::rustls::ClientConfig;
use hyper_util::client::legacy::connect::HttpConnector;
use tonic::transport::{Channel, Endpoint};

/// Connects `endpoint`; with `tls`, through rustls with ALPN h2 (gRPC over TLS), the server's
/// certificate verified against the config's roots and its name against the URL's host.
pub async fn connect(
    endpoint: Endpoint,
    tls: Option<&ClientConfig>,
    connect_timeout: Duration,
) -> Result<Channel, tonic::transport::Error> {
    let Some(tls) = tls else { return endpoint.connect().await };
    let mut http = HttpConnector::new();
    // The https connector wraps this one and needs it to accept https URIs.
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    endpoint.connect_with_connector(connector).await
}
