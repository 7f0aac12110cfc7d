//! Gateways caching sessions (the default; `--session-cache` is passed anyway, as a deployment
//! might) keep Redis off the hot path, and a revocation still reaches
//! every one of them: the store announces each deleted session and every gateway evicts it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_evicts_cached_sessions_on_every_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateways: Vec<GatewayProcess> = (0..3)
        .map(|i| {
            let name = format!("cached-gw{i}");
            GatewayProcess::start_with(
                &name,
                &cp.url(),
                &redis.url(),
                dir.path(),
                "info",
                &["--session-cache"],
            )
        })
        .collect();
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        http.post(format!("{}{path}", cp.url())).header("authorization", ADMIN_SECRET).json(&body).send()
    };
    let api = json!({"api_id": "svc", "listen_path": "/svc/", "upstream_url": upstream.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    assert_eq!(admin("/api/apis", api).await.unwrap().status(), 200);
    let client: Value =
        admin("/api/apis/oauth/svc", json!({"client_id": "app"})).await.unwrap().json().await.unwrap();
    let secret = client["secret"].as_str().unwrap().to_owned();

    let mut tokens = Vec::new();
    for gw in &gateways {
        let url = gw.url("/svc/oauth/token");
        let token = eventually("the gateway issues tokens", Duration::from_secs(10), || async {
            let r = client_credentials_token(&http, &url, "app", &secret).await;
            let body: Value = r.json().await.ok()?;
            body["access_token"].as_str().map(str::to_owned)
        })
        .await;
        tokens.push(token);
    }
    // Every gateway has served (and cached) every token.
    for token in &tokens {
        for gw in &gateways {
            for _ in 0..2 {
                assert_eq!(http.get(gw.url("/svc/x")).bearer_auth(token).send().await.unwrap().status(), 200);
            }
        }
    }
    // Revoking all of the client's tokens reaches every cache.
    let started = Instant::now();
    let r = admin("/api/apis/oauth/app/revoke_all", json!({"client_secret": secret})).await.unwrap();
    assert_eq!(r.status(), 200);
    for token in &tokens {
        for gw in &gateways {
            let url = gw.url("/svc/x");
            eventually(
                "the revoked token is refused by a caching gateway",
                Duration::from_secs(2),
                || async {
                    (http.get(&url).bearer_auth(token).send().await.ok()?.status() == 401).then_some(())
                },
            )
            .await;
        }
    }
    eprintln!("revoke_all to refusal on 3 caching gateways: {:?}", started.elapsed());
}
