//! Versioned APIs end to end: the version read from a header (defaulted when absent) or the
//! first path segment, stripped before the upstream sees it, and granted per version by the
//! client's policy, through a real gateway, Redis and upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_are_resolved_stripped_and_granted_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateway = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();

    // Orders: version in a header, v1 by default, kept from the upstream.
    let orders = json!({"api_id": "orders", "listen_path": "/orders/", "strip_listen_path": true,
        "upstream_url": upstream.url(), "oauth": {"allowed_grant_types": ["client_credentials"]},
        "versioning": {"location": "header", "key": "x-api-version", "default_version": "v1",
                       "versions": ["v1", "v2"], "strip_versioning_data": true}});
    admin_ok(&http, &cp, "POST", "/api/apis", orders).await;
    // Catalog: version as the first path segment, no default, listen path kept upstream.
    let catalog = json!({"api_id": "catalog", "listen_path": "/catalog/", "upstream_url": upstream.url(),
        "token_auth": true,
        "versioning": {"location": "url", "versions": ["v1", "v2"], "strip_versioning_data": true}});
    admin_ok(&http, &cp, "POST", "/api/apis", catalog).await;
    let rights = json!({"orders": {"api_id": "orders", "versions": ["v1"]},
                        "catalog": {"api_id": "catalog", "versions": []}});
    admin_ok(
        &http,
        &cp,
        "POST",
        "/api/portal/policies",
        json!({"id": "v1-only", "name": "v1 only", "active": true, "access_rights": rights}),
    )
    .await;
    let client = admin_ok(
        &http,
        &cp,
        "POST",
        "/api/apis/oauth/orders",
        json!({"client_id": "app", "policy_id": "v1-only"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    let token = access_token(&http, &gateway.url("/orders/oauth/token"), "app", &secret).await;

    let get = |path: &str, version: Option<&str>| {
        let mut request = http.get(gateway.url(path)).bearer_auth(&token);
        if let Some(v) = version {
            request = request.header("X-API-Version", v);
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };

    // The default version, then v1 by name: proxied, the header stripped.
    for version in [None, Some("v1")] {
        let (status, body) = get("/orders/items", version).await;
        assert_eq!(status, StatusCode::OK, "{version:?}: {body}");
        assert_eq!(body["path"], "/items");
        assert!(body["headers"].get("x-api-version").is_none(), "{body}");
    }
    // v2 exists but the policy grants v1 only; v3 does not exist.
    let (status, body) = get("/orders/items", Some("v2")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("Access to this API version has been disallowed"))
    );
    let (status, body) = get("/orders/items", Some("v3")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("This API version does not seem to exist"))
    );

    // The path version: every version granted (empty list), the segment removed upstream.
    let (status, body) = get("/catalog/v2/things?page=1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["path"], "/catalog/things?page=1");
    let (status, body) = get("/catalog/things", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("Version information not found"))
    );

    // The API reads back with its versioning.
    let r =
        http.get(cp.url() + "/api/apis/catalog").header("authorization", ADMIN_SECRET).send().await.unwrap();
    let api: Value = r.json().await.unwrap();
    assert_eq!(api["versioning"]["location"], "url_segment", "{api}");
    assert_eq!(api["versioning"]["versions"], json!(["v1", "v2"]));
}
