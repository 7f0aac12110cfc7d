//! A protected API never becomes public by accident, over the REST API of `gatehouse dev`:
//! exporting an API as Tyk OAS or Classic and putting the export back keeps every setting and
//! keeps it refusing requests without a token; a Tyk OAS document whose authentication was lost is
//! refused over a protected API unless the caller asks for a keyless one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::EchoUpstream;
use serde_json::{Value, json};

async fn send(http: &reqwest::Client, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = http.request(method.parse().unwrap(), url).header("authorization", ADMIN_SECRET);
    if let Some(body) = body {
        request = request.json(body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The status of a GET through the gateway, with optional extra headers.
async fn status_of(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = http.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Creates a keyless API on `listen_path` and waits for the gateway to serve it: config arrives
/// in order, so every change made before it has reached the gateway too.
async fn sync_marker(http: &reqwest::Client, dev: &DevProcess, upstream: &str, listen_path: &str) {
    let marker = json!({"api_id": listen_path.trim_matches('/'), "name": "marker", "listen_path": listen_path,
                        "upstream_url": upstream});
    let (status, body) = send(http, "POST", &format!("{}/api/apis", dev.admin), Some(&marker)).await;
    assert_eq!(status, 200, "{body}");
    let url = format!("{}{listen_path}x", dev.gateway);
    eventually("the gateway has caught up", Duration::from_secs(10), || async {
        (status_of(http, &url, &[]).await == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oas_export_and_import_keep_protected_apis_protected() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start_with_secret(dir.path(), ADMIN_SECRET);
    let upstream = EchoUpstream::start("backend").await;
    let http = reqwest::Client::new();
    let apis = format!("{}/api/apis", dev.admin);

    let token_auth = json!({
        "api_id": "tok", "name": "Token auth", "listen_path": "/tok/", "strip_listen_path": true,
        "upstream_url": upstream.url(), "token_auth": true,
        "auth_header_name": "X-Api-Token", "auth_query_param": "access_token", "auth_cookie_name": "session",
        "strip_auth_data": true,
        "versioning": {"location": "header", "key": "x-api-version", "default_version": "v1",
                       "versions": ["v1", "v2"], "strip_versioning_data": true},
    });
    let oauth = json!({
        "api_id": "oa", "name": "OAuth", "listen_path": "/oa/", "strip_listen_path": true,
        "upstream_url": upstream.url(),
        "oauth": {"allowed_grant_types": ["client_credentials"], "access_token_ttl_seconds": 900,
                  "error_status_code": 403},
        "auth_query_param": "token", "strip_auth_data": true,
        "versioning": {"location": "query_param", "key": "version", "default_version": "v2",
                       "versions": ["v2", "v1"], "strip_versioning_data": true},
    });
    for api in [&token_auth, &oauth] {
        let (status, body) = send(&http, "POST", &apis, Some(api)).await;
        assert_eq!(status, 200, "{body}");
    }
    let client = json!({"client_id": "oa-client", "secret": "oa-client-secret-0123456789"});
    let (status, body) = send(&http, "POST", &format!("{apis}/oauth/oa"), Some(&client)).await;
    assert_eq!(status, 200, "{body}");
    sync_marker(&http, &dev, &upstream.url(), "/marker-1/").await;
    for id in ["tok", "oa"] {
        assert_eq!(status_of(&http, &format!("{}/{id}/x", dev.gateway), &[]).await, 401, "{id} before");
    }

    // Export, put back: every setting is the same, and there is nothing to warn about.
    for id in ["tok", "oa"] {
        let (_, before) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        let (status, exported) = send(&http, "GET", &format!("{apis}/oas/{id}"), None).await;
        assert_eq!(status, 200, "{exported}");
        let (status, put) = send(&http, "PUT", &format!("{apis}/oas/{id}"), Some(&exported)).await;
        assert_eq!(status, 200, "{put}");
        assert_eq!(put["warnings"], json!([]), "{put}");
        let (_, after) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        assert_eq!(after, before, "the round trip changed {id}: {exported:#}");
    }
    sync_marker(&http, &dev, &upstream.url(), "/marker-2/").await;
    for id in ["tok", "oa"] {
        assert_eq!(status_of(&http, &format!("{}/{id}/x", dev.gateway), &[]).await, 401, "{id} after");
    }
    // The OAuth API's settings still take effect: its token goes in the query parameter, which
    // is stripped, as the version parameter is.
    let token = access_token(
        &http,
        &format!("{}/oa/oauth/token", dev.gateway),
        "oa-client",
        "oa-client-secret-0123456789",
    )
    .await;
    let r = http.get(format!("{}/oa/x?token={token}&version=v1", dev.gateway)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echoed: Value = r.json().await.unwrap();
    assert_eq!(echoed["path"], "/x", "{echoed}");

    // The same through Tyk Classic: export, delete, create from the export.
    for id in ["tok", "oa"] {
        let (_, before) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        let (status, exported) = send(&http, "GET", &format!("{apis}/classic/{id}"), None).await;
        assert_eq!(status, 200, "{exported}");
        let (status, _) = send(&http, "DELETE", &format!("{apis}/{id}"), None).await;
        assert_eq!(status, 200);
        let (status, created) = send(&http, "POST", &apis, Some(&exported)).await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["warnings"], json!([]), "{created}");
        let (_, after) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        // Classic names versions by the keys of a JSON object: they come back sorted.
        let mut expected = before.clone();
        if let Some(versions) = expected["versioning"]["versions"].as_array_mut() {
            versions.sort_by_key(|v| v.as_str().map(str::to_owned));
        }
        assert_eq!(after, expected, "the Classic round trip changed {id}: {exported:#}");
    }
    sync_marker(&http, &dev, &upstream.url(), "/marker-classic/").await;
    for id in ["tok", "oa"] {
        assert_eq!(
            status_of(&http, &format!("{}/{id}/x", dev.gateway), &[]).await,
            401,
            "{id} after Classic"
        );
    }

    // A Tyk OAS document whose authentication was lost (as the old export wrote it) would make
    // the API public: refused, saying so, and the API is unchanged.
    for id in ["tok", "oa"] {
        let (_, before) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        let (_, mut lost) = send(&http, "GET", &format!("{apis}/oas/{id}"), None).await;
        lost["x-tyk-api-gateway"]["server"].as_object_mut().unwrap().remove("authentication");
        lost.as_object_mut().unwrap().remove("x-gatehouse");
        let (status, body) = send(&http, "PUT", &format!("{apis}/oas/{id}"), Some(&lost)).await;
        assert_eq!(status, 400, "{body}");
        let message = body["Message"].as_str().unwrap();
        assert!(
            message.contains("would make it keyless") && message.contains("allow_keyless=true"),
            "{message}"
        );
        let (_, after) = send(&http, "GET", &format!("{apis}/{id}"), None).await;
        assert_eq!(after, before);
    }
    sync_marker(&http, &dev, &upstream.url(), "/marker-3/").await;
    assert_eq!(status_of(&http, &format!("{}/tok/x", dev.gateway), &[]).await, 401);

    // Asked for, it is done.
    let (_, mut lost) = send(&http, "GET", &format!("{apis}/oas/tok"), None).await;
    lost["x-tyk-api-gateway"]["server"].as_object_mut().unwrap().remove("authentication");
    lost.as_object_mut().unwrap().remove("x-gatehouse");
    let (status, body) = send(&http, "PUT", &format!("{apis}/oas/tok?allow_keyless=true"), Some(&lost)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("oauth").is_none() && body["token_auth"].as_bool() != Some(true), "{body}");
    let url = format!("{}/tok/x", dev.gateway);
    eventually("the API is public, as asked", Duration::from_secs(10), || async {
        (status_of(&http, &url, &[]).await == 200).then_some(())
    })
    .await;
}
