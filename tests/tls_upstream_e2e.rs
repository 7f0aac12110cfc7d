//! https upstreams and trusted proxies, end to end: an upstream whose certificate nobody we
//! trust signed gives 502 with a clear JSON error and a log line naming it, never a fallback
//! to no verification; one signed by the API's CA bundle works, and so does one that requires
//! a client certificate when the API names it. X-Forwarded-For and -Proto are believed only
//! from configured proxy networks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::tls::keyless_api;
use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer, TestCa};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(15);

/// GETs `url` until the gateway has the API (anything but 404 or 503), then returns status
/// and body.
async fn get_when_routed(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    eventually("the gateway routes the API", SYNC, || async {
        let mut request = http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        if status == 404 || status == 503 {
            return None;
        }
        Some((status, response.json().await.unwrap_or(Value::Null)))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstreams_are_verified_against_the_system_roots_or_the_apis_ca() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let cp = ControlPlaneProcess::start(&dir.path().join("cp"), dir.path());
    let gw = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();

    let upstream_ca = TestCa::new("upstream CA");
    let upstream =
        EchoUpstream::start_tls("tls-echo", upstream_ca.issue(&["localhost"]).server_config(None)).await;
    let client_ca = TestCa::new("upstream clients CA");
    let mtls_upstream = EchoUpstream::start_tls(
        "mtls-echo",
        upstream_ca.issue(&["localhost"]).server_config(Some(&client_ca)),
    )
    .await;
    let (client_cert, client_key) = client_ca.issue(&["gateway.test"]).write(dir.path(), "upstream-client");

    // Signed by a CA the system does not know: refused, and said so.
    keyless_api(&http, &cp.url(), "untrusted", &upstream.url(), json!({})).await;
    let (status, body) = get_when_routed(&http, &gw.url("/untrusted/x"), &[]).await;
    assert_eq!(status, 502);
    assert_eq!(body, json!({"error": "upstream certificate verification failed"}));
    let logs = gw.process.logs();
    assert!(
        logs.contains("upstream TLS handshake failed") && logs.contains(&upstream.url()),
        "the log names the upstream:\n{logs}"
    );

    // The same upstream with the API's CA bundle: verified, name checked against "localhost".
    let ca = json!({"upstream_ca_pem": upstream_ca.pem()});
    keyless_api(&http, &cp.url(), "trusted", &upstream.url(), ca.clone()).await;
    let (status, body) = get_when_routed(&http, &gw.url("/trusted/x"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"], "tls-echo");
    assert_eq!(body["path"], "/x");

    // An upstream that requires a client certificate: without one, 502; with the API's, 200.
    keyless_api(&http, &cp.url(), "no-client-cert", &mtls_upstream.url(), ca.clone()).await;
    let (status, _) = get_when_routed(&http, &gw.url("/no-client-cert/x"), &[]).await;
    assert_eq!(status, 502);
    let mut with_cert = ca.clone();
    with_cert["upstream_client_cert_file"] = client_cert.display().to_string().into();
    with_cert["upstream_client_key_file"] = client_key.display().to_string().into();
    keyless_api(&http, &cp.url(), "client-cert", &mtls_upstream.url(), with_cert).await;
    let (status, body) = get_when_routed(&http, &gw.url("/client-cert/x"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"], "mtls-echo");

    // A CA bundle that is not one is refused by the admin API, naming the field.
    let response = http
        .post(format!("{}/api/apis", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&json!({"api_id": "bad", "name": "bad", "listen_path": "/bad/", "upstream_url": upstream.url(),
                      "upstream_ca_pem": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("upstream_ca_pem"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_headers_are_believed_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("echo").await;
    let cp = ControlPlaneProcess::start(&dir.path().join("cp"), dir.path());
    // The test connects from 127.0.0.1: an untrusted peer for one gateway, a trusted proxy
    // for the other.
    let untrusting = GatewayProcess::start_with(
        "gw-untrusting",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--trusted-proxies", "10.0.0.0/8,192.168.0.0/16"],
    );
    let trusting = GatewayProcess::start_with(
        "gw-trusting",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--trusted-proxies", "127.0.0.0/8"],
    );
    let http = reqwest::Client::new();
    keyless_api(&http, &cp.url(), "echo", &upstream.url(), json!({})).await;
    let spoofed = [
        ("x-forwarded-for", "203.0.113.50"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "spoofed.example"),
        ("forwarded", "for=203.0.113.50;proto=https"),
    ];

    let (status, seen) = get_when_routed(&http, &untrusting.url("/echo/"), &spoofed).await;
    assert_eq!(status, 200);
    let headers = &seen["headers"];
    // The upstream sees the real peer, not the claim.
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], format!("127.0.0.1:{}", untrusting.port));
    assert_eq!(
        headers["forwarded"],
        format!("for=127.0.0.1;proto=http;host=\"127.0.0.1:{}\"", untrusting.port)
    );

    let (status, seen) = get_when_routed(&http, &trusting.url("/echo/"), &spoofed).await;
    assert_eq!(status, 200);
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], "203.0.113.50, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "https");
    assert_eq!(headers["x-forwarded-host"], "spoofed.example");
    assert_eq!(
        headers["forwarded"],
        format!(
            "for=203.0.113.50;proto=https, for=127.0.0.1;proto=http;host=\"127.0.0.1:{}\"",
            trusting.port
        )
    );
}
