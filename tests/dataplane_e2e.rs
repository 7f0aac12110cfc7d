//! The data plane across three gateways on one Redis: one rate limit held exactly, quota
//! renewal, multi-API access through a shared policy, policy changes on live tokens, revocation
//! everywhere, and Redis going away and coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(10);

struct Cluster {
    cp: ControlPlaneProcess,
    gateways: Vec<GatewayProcess>,
    http: reqwest::Client,
}

impl Cluster {
    async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        admin_ok(&self.http, &self.cp, method, path, body).await
    }

    async fn token(&self, client_id: &str, secret: &str) -> String {
        let url = self.gateways[0].url("/issuer/oauth/token");
        eventually("a token is issued", SYNC, || async {
            let r = self
                .http
                .post(&url)
                .basic_auth(client_id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            body["access_token"].as_str().map(str::to_owned)
        })
        .await
    }

    async fn get(&self, gateway: usize, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.gateways[gateway].url(path)).bearer_auth(token).send().await.unwrap()
    }
}

/// Registers a client and waits until every gateway has it. Introspection authenticates the
/// client without spending any rate limit, and config arrives in order, so the policies created
/// before the client are there too.
async fn new_client(c: &Cluster, id: &str, policy: &str) -> String {
    let client =
        c.admin("POST", "/api/apis/oauth/issuer", json!({"client_id": id, "policy_id": policy})).await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    for gateway in &c.gateways {
        wait_for_client(&c.http, &gateway.url("/issuer/oauth/introspect"), id, &secret).await;
    }
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateways_enforce_one_set_of_limits() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let redis_port = redis.port();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateways = (0..3)
        .map(|i| GatewayProcess::start(&format!("gw{i}"), &cp.url(), &redis.url(), dir.path()))
        .collect();
    let c = Cluster { cp, gateways, http: reqwest::Client::new() };

    for (id, listen, oauth) in
        [("issuer", "/issuer/", true), ("partner", "/partner/", false), ("other", "/other/", false)]
    {
        let mut api = json!({"api_id": id, "listen_path": listen, "strip_listen_path": true,
                             "upstream_url": upstream.url(), "token_auth": !oauth});
        if oauth {
            api["oauth"] = json!({"allowed_grant_types": ["client_credentials"]});
        }
        c.admin("POST", "/api/apis", api).await;
    }
    let rights = json!({"issuer": {"api_id": "issuer"}, "partner": {"api_id": "partner"}});
    c.admin(
        "POST",
        "/api/portal/policies",
        json!({"id": "limited", "name": "limited", "active": true,
        "rate": 10, "per": 60, "access_rights": rights}),
    )
    .await;
    c.admin(
        "POST",
        "/api/portal/policies",
        json!({"id": "shared", "name": "shared", "active": true,
        "access_rights": rights}),
    )
    .await;
    c.admin(
        "POST",
        "/api/portal/policies",
        json!({"id": "quota", "name": "quota", "active": true,
        "quota_max": 3, "quota_renewal_rate": 2}),
    )
    .await;

    // --- One rate limit, exactly, across three gateways: 10/min, 30 requests → 10 pass.
    let secret = new_client(&c, "limited-client", "limited").await;
    let token = c.token("limited-client", &secret).await;
    let requests = (0..30).map(|i| c.get(i % 3, "/issuer/x", &token));
    let responses = futures_util::future::join_all(requests).await;
    let passed = responses.iter().filter(|r| r.status() == StatusCode::OK).count();
    let limited: Vec<_> = responses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!((passed, limited.len()), (10, 20));
    let ok = responses.iter().find(|r| r.status() == StatusCode::OK).unwrap();
    assert_eq!(ok.headers()["x-ratelimit-limit"], "10");
    assert!(
        limited
            .iter()
            .all(|r| r.headers()["x-ratelimit-remaining"] == "0" && r.headers().contains_key("retry-after"))
    );
    let body: Value = c.get(1, "/issuer/x", &token).await.json().await.unwrap();
    assert_eq!(body["error"], "Rate Limit Exceeded");
    // A second token of the same client does not buy more requests.
    let second = c.token("limited-client", &secret).await;
    assert_eq!(c.get(2, "/issuer/x", &second).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // --- Quota, and its renewal: 3 per 2 s.
    let secret = new_client(&c, "quota-client", "quota").await;
    let token = c.token("quota-client", &secret).await;
    let statuses: Vec<u16> =
        futures_util::future::join_all((0..4).map(|i| c.get(i % 3, "/issuer/q", &token)))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    // Tyk's answer to a spent quota: 403, and no rate-limit headers.
    let spent = c.get(0, "/issuer/q", &token).await;
    assert_eq!(spent.status(), StatusCode::FORBIDDEN);
    assert!(spent.headers().get("x-ratelimit-remaining").is_none());
    let body: Value = spent.json().await.unwrap();
    assert_eq!(body["error"], "Quota exceeded");
    eventually("the quota renews", Duration::from_secs(5), || async {
        (c.get(1, "/issuer/q", &token).await.status() == StatusCode::OK).then_some(())
    })
    .await;

    // --- Multi-API access through a shared policy; an API it does not grant is refused.
    let secret = new_client(&c, "shared-client", "shared").await;
    let token = c.token("shared-client", &secret).await;
    for g in 0..3 {
        assert_eq!(
            c.get(g, "/partner/x", &token).await.status(),
            StatusCode::OK,
            "token of issuer on partner"
        );
        let r = c.get(g, "/other/x", &token).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "Access to this API has been disallowed");
    }

    // --- A policy change reaches live tokens on every gateway.
    let narrowed = json!({"id": "shared", "name": "shared", "active": true,
        "access_rights": {"issuer": {"api_id": "issuer", "allowed_urls": [{"url": "^/public", "methods": ["GET"]}]}}});
    c.admin("PUT", "/api/portal/policies/shared", narrowed).await;
    for g in 0..3 {
        eventually("the narrowed policy applies", SYNC, || async {
            (c.get(g, "/partner/x", &token).await.status() == StatusCode::FORBIDDEN).then_some(())
        })
        .await;
        assert_eq!(c.get(g, "/issuer/public/a", &token).await.status(), StatusCode::OK);
        let r = c.get(g, "/issuer/private", &token).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "Access to this resource has been disallowed");
    }

    // --- Credentials where the API says they are, stripped before the upstream sees them.
    let api = json!({"api_id": "query-api", "listen_path": "/query-api/", "strip_listen_path": true,
                     "upstream_url": upstream.url(), "token_auth": true, "auth_query_param": "access_token",
                     "auth_cookie_name": "session", "strip_auth_data": true});
    c.admin("POST", "/api/apis", api).await;
    let rights = json!({"query-api": {"api_id": "query-api"}});
    c.admin("POST", "/api/portal/policies", json!({"id": "query", "name": "query", "access_rights": rights}))
        .await;
    let secret_q = new_client(&c, "query-client", "query").await;
    let token_q = c.token("query-client", &secret_q).await;
    // A token in the query and in the cookie: ambiguous (RFC 6750 §3.1), where Tyk would let
    // the cookie win.
    let r = c
        .http
        .get(c.gateways[1].url(&format!("/query-api/x?access_token={token_q}")))
        .header("cookie", "theme=dark; session=not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let via_query: Value = c
        .http
        .get(c.gateways[1].url(&format!("/query-api/x?a=1&access_token={token_q}&b=2")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_query["path"], "/x?a=1&b=2", "{via_query}");
    let via_cookie: Value = c
        .http
        .get(c.gateways[2].url("/query-api/y"))
        .header("cookie", format!("theme=dark; session={token_q}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_cookie["headers"]["cookie"], "theme=dark", "{via_cookie}");
    assert!(via_cookie["headers"].get("authorization").is_none());

    // --- A revoked token is refused by all three gateways.
    let r = c
        .http
        .post(format!("{}/api/apis/oauth/shared-client/revoke", c.cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for g in 0..3 {
        assert_eq!(c.get(g, "/issuer/public/a", &token).await.status(), StatusCode::UNAUTHORIZED);
    }

    // --- Redis gone: 503, quickly. Back: the gateways recover by themselves.
    let fresh = c.token("shared-client", &secret).await;
    drop(redis);
    let started = Instant::now();
    let r = c.get(0, "/issuer/public/a", &fresh).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no hang while Redis is down: {:?}",
        started.elapsed()
    );
    let _redis_again = RedisServer::start_on(redis_port);
    // The restarted Redis kept nothing (this test runs it without persistence), so the old token
    // is unknown: what matters is that every gateway answers from Redis again.
    for g in 0..3 {
        eventually("the gateway recovers once Redis is back", SYNC, || async {
            (c.get(g, "/issuer/public/a", &fresh).await.status() == StatusCode::UNAUTHORIZED).then_some(())
        })
        .await;
    }
    let token = c.token("shared-client", &secret).await;
    assert_eq!(c.get(2, "/issuer/public/a", &token).await.status(), StatusCode::OK);
}
