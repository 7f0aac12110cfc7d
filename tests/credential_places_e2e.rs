//! Where a proxied request's token may be, through `gatehouse dev` and a real upstream: in
//! exactly one of the places the API allows (RFC 6750 §3.1: more than one is
//! `400 invalid_request`), and never forwarded in a URL, even by an API that keeps credentials
//! for its upstream (`strip_auth_data` off).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use common::*;
use gatehouse_testkit::EchoUpstream;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_in_one_place_and_never_in_the_upstream_url() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start("upstream").await;
    let dev = DevProcess::start_with_secret(dir.path(), ADMIN_SECRET);
    let http = reqwest::Client::new();
    let api = json!({"api_id": "keeps", "listen_path": "/keeps/", "strip_listen_path": true,
        "upstream_url": upstream.url(), "oauth": {"allowed_grant_types": ["client_credentials"]},
        "auth_query_param": "access_token", "auth_cookie_name": "session", "strip_auth_data": false});
    admin(&http, &dev.admin, "POST", "/api/apis", api).await;
    let rights = json!({"keeps": {"api_id": "keeps", "versions": []}});
    let policy = json!({"id": "p", "name": "p", "active": true, "access_rights": rights});
    admin(&http, &dev.admin, "POST", "/api/portal/policies", policy).await;
    let client = admin(
        &http,
        &dev.admin,
        "POST",
        "/api/apis/oauth/keeps",
        json!({"client_id": "app", "policy_id": "p"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    let token = access_token(&http, &format!("{}/keeps/oauth/token", dev.gateway), "app", &secret).await;
    let url = |path: &str| format!("{}{path}", dev.gateway);

    // One place each: accepted. The header and cookie are kept (strip_auth_data is off), the
    // query parameter is not.
    let r = http.get(url("/keeps/x?a=1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["headers"]["authorization"], format!("Bearer {token}"), "{seen}");
    let r = http.get(url(&format!("/keeps/x?a=1&access_token={token}&b=2"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["path"], "/x?a=1&b=2", "the token went upstream in the URL: {seen}");
    let r = http.get(url(&format!("/keeps/x?access_token={token}"))).send().await.unwrap();
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["path"], "/x", "{seen}");
    let r = http
        .get(url("/keeps/y"))
        .header("cookie", format!("theme=dark; session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // More than one place, or twice in one: 400 invalid_request, whichever the values.
    let ambiguous = [
        http.get(url(&format!("/keeps/x?access_token={token}"))).bearer_auth(&token),
        http.get(url("/keeps/x?access_token=other")).bearer_auth(&token),
        http.get(url("/keeps/x")).bearer_auth(&token).header("cookie", format!("session={token}")),
        http.get(url(&format!("/keeps/x?access_token={token}"))).header("cookie", format!("session={token}")),
        http.get(url(&format!("/keeps/x?access_token={token}&access_token={token}"))),
    ];
    for (i, request) in ambiguous.into_iter().enumerate() {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "case {i}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_request\""), "case {i}: {challenge}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "Bearer token sent in more than one place", "case {i}");
    }
}
