//! Gateways and the control plane's token operations on a real three-node Redis Cluster: tokens
//! issued by one gateway work on the other, one rate limit holds across both, codes are single
//! use, and a revocation reaches both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisCluster};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_core_flows_work_on_redis_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = tokio::task::spawn_blocking(RedisCluster::start).await.unwrap();
    let url = cluster.url();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &url);
    let gw1 = GatewayProcess::start("cluster-gw1", &cp.url(), &url, dir.path());
    let gw2 = GatewayProcess::start("cluster-gw2", &cp.url(), &url, dir.path());
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        http.post(format!("{}{path}", cp.url())).header("authorization", ADMIN_SECRET).json(&body).send()
    };
    let api = json!({"api_id": "svc", "listen_path": "/svc/", "upstream_url": upstream.url(),
        "oauth": {"allowed_grant_types": ["authorization_code", "client_credentials", "refresh_token"],
                  "allowed_authorize_types": ["code"], "auth_login_redirect": "http://idp.example/login"}});
    assert_eq!(admin("/api/apis", api).await.unwrap().status(), 200);
    let policy = json!({"id": "five", "name": "five", "rate": 5, "per": 60});
    assert_eq!(admin("/api/portal/policies", policy).await.unwrap().status(), 200);
    let client = json!({"client_id": "app", "policy_id": "five", "redirect_uri": "http://app.example/cb"});
    let client: Value = admin("/api/apis/oauth/svc", client).await.unwrap().json().await.unwrap();
    let secret = client["secret"].as_str().unwrap().to_owned();

    // A token from gateway 1 works on gateway 2; the rate limit holds across both.
    let token_url = gw1.url("/svc/oauth/token");
    let token = eventually("gateway 1 issues tokens", Duration::from_secs(10), || async {
        let body: Value =
            client_credentials_token(&http, &token_url, "app", &secret).await.json().await.ok()?;
        body["access_token"].as_str().map(str::to_owned)
    })
    .await;
    // Introspection authenticates the client without spending its rate limit.
    let introspect = gw2.url("/svc/oauth/introspect");
    wait_for_client(&http, &introspect, "app", &secret).await;
    let calls = (0..12).map(|i| {
        let gw = if i % 2 == 0 { &gw1 } else { &gw2 };
        http.get(gw.url("/svc/x")).bearer_auth(&token).send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 7, "{statuses:?}");

    // A code minted by the control plane into the cluster is redeemed once, on either gateway.
    let issued: Value = http
        .post(format!("{}/api/apis/oauth/svc/authorize-client", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&json!({"response_type": "code", "client_id": "app", "redirect_uri": "http://app.example/cb"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = issued["code"].as_str().unwrap().to_owned();
    let redeem = |gw: &GatewayProcess| {
        http.post(gw.url("/svc/oauth/token"))
            .basic_auth("app", Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            // RFC 6749 §4.1.3: the code was asked for with redirect_uri, so it is repeated.
            .body(format!(
                "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Fapp.example%2Fcb"
            ))
            .send()
    };
    let (first, second) = tokio::join!(redeem(&gw1), redeem(&gw2));
    let mut statuses = [first.unwrap().status(), second.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);

    // Sessions are keyed by their token's hash, so a dozen of them land on several nodes
    // (checked before revoke_all deletes them).
    let mut minted = Vec::new();
    for _ in 0..12 {
        let r = client_credentials_token(&http, &token_url, "app", &secret).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        minted.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert!(cluster.key_counts().iter().filter(|n| **n > 0).count() >= 2, "keys spread over the nodes");

    // A gateway refuses what it revoked itself the moment the revocation answers, although
    // pub/sub crosses the cluster bus: its store tells its cache in the revoking task. (The rate
    // limit is spent, so a live token answers 429, a refused one 401.)
    for own in &minted[..4] {
        assert_eq!(http.get(gw1.url("/svc/x")).bearer_auth(own).send().await.unwrap().status(), 429);
        assert_eq!(oauth_revoke(&http, &gw1.url("/svc/oauth/revoke"), "app", &secret, own).await, 200);
        assert_eq!(http.get(gw1.url("/svc/x")).bearer_auth(own).send().await.unwrap().status(), 401);
    }

    // revoke_all reaches both gateways: Redis at once, their session caches over pub/sub, which on
    // a cluster crosses the cluster bus (milliseconds; the bound only keeps a broken eviction
    // path from passing).
    let r = admin("/api/apis/oauth/app/revoke_all", json!({"client_secret": secret})).await.unwrap();
    assert_eq!(r.status(), 200);
    for gw in [&gw1, &gw2] {
        let url = gw.url("/svc/x");
        eventually("the revoked token is refused on every gateway", Duration::from_secs(2), || async {
            (http.get(&url).bearer_auth(&token).send().await.ok()?.status() == 401).then_some(())
        })
        .await;
    }
}
