//! Helpers for the TLS end-to-end tests: HTTPS clients trusting a test CA, and the admin calls
//! that set up an API and a client.

use std::path::Path;

use gatehouse_testkit::{Leaf, TestCa};
use serde_json::{Value, json};

use super::ADMIN_SECRET;

/// An HTTPS client trusting only `ca` (no system roots), presenting `identity` when given.
/// `http1_only`: never negotiate h2.
pub fn https_client(ca: &TestCa, identity: Option<&Leaf>, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA"))
        .timeout(std::time::Duration::from_secs(10));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().expect("https client")
}

/// A certificate for the loopback interface, written to `dir/<stem>.{crt,key}`, as the paths
/// to give `--tls-cert` and `--tls-key`.
pub fn loopback_cert(ca: &TestCa, dir: &Path, stem: &str) -> (String, String) {
    let (cert, key) = ca.issue(&["localhost", "127.0.0.1"]).write(dir, stem);
    (cert.display().to_string(), key.display().to_string())
}

/// `POST` to the admin REST API; panics unless it answers 2xx.
pub async fn admin_post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let response =
        http.post(url).header("authorization", ADMIN_SECRET).json(&body).send().await.expect("admin call");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

/// A keyless API forwarding `listen_path` to `upstream`, with `extra` fields merged in.
pub async fn keyless_api(http: &reqwest::Client, admin: &str, id: &str, upstream: &str, extra: Value) {
    let mut api = json!({
        "api_id": id, "name": id, "listen_path": format!("/{id}/"), "strip_listen_path": true,
        "upstream_url": upstream,
    });
    if let (Some(api), Some(extra)) = (api.as_object_mut(), extra.as_object()) {
        api.extend(extra.clone());
    }
    admin_post(http, &format!("{admin}/api/apis"), api).await;
}

/// An OAuth API allowing client_credentials, and a client `client`/`secret` for it.
pub async fn oauth_api(
    http: &reqwest::Client,
    admin: &str,
    id: &str,
    upstream: &str,
    client: &str,
    secret: &str,
) {
    keyless_api(http, admin, id, upstream, json!({"oauth": {"allowed_grant_types": ["client_credentials"]}}))
        .await;
    let body = json!({"client_id": client, "secret": secret, "redirect_uri": "https://app.example/cb"});
    admin_post(http, &format!("{admin}/api/apis/oauth/{id}/"), body).await;
}
