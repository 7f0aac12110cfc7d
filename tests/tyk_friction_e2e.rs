//! What a Tyk user meets moving in, end to end on `gatehouse dev`: token listings that show
//! live tokens only and all of them, Tyk's answer to an expired token, clients refused on APIs
//! without OAuth, Basic secrets sent unencoded, and the Dashboard's list parameters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::EchoUpstream;
use serde_json::{Value, json};

impl Dev {
    /// An OAuth API at `/<id>/` with the client_credentials grant and `extra` oauth settings.
    async fn oauth_api(&self, id: &str, upstream: &EchoUpstream, extra: Value) {
        let mut oauth = json!({"allowed_grant_types": ["client_credentials"]});
        oauth.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let api = json!({"api_id": id, "listen_path": format!("/{id}/"), "strip_listen_path": true,
                         "upstream_url": upstream.url(), "oauth": oauth});
        let (s, v) = self.admin("POST", "/api/apis", Some(api)).await;
        assert_eq!(s, 200, "{v}");
    }

    /// Registers `client_id` on `api` with `secret`, and waits until the gateway knows it.
    async fn client(&self, api: &str, client_id: &str, secret: &str) {
        let body = json!({"client_id": client_id, "secret": secret});
        let (s, v) = self.admin("POST", &format!("/api/apis/oauth/{api}"), Some(body)).await;
        assert_eq!(s, 200, "{v}");
        let introspect = format!("{}/{api}/oauth/introspect", self.inner.gateway);
        wait_for_client(&self.http, &introspect, client_id, secret).await;
    }

    async fn token(&self, api: &str, client_id: &str, secret: &str) -> String {
        let url = format!("{}/{api}/oauth/token", self.inner.gateway);
        access_token(&self.http, &url, client_id, secret).await
    }

    /// A call to the API with `token`: status and body.
    async fn call(&self, api: &str, token: &str) -> (u16, String) {
        let r =
            self.http.get(format!("{}/{api}/x", self.inner.gateway)).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn listed(&self, api: &str, client_id: &str, query: &str) -> Vec<Value> {
        let (s, v) =
            self.admin("GET", &format!("/api/apis/oauth/{api}/{client_id}/tokens{query}"), None).await;
        assert_eq!(s, 200, "{v}");
        v.as_array().expect("the Dashboard's bare array").clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_listings_show_every_live_token_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let upstream = EchoUpstream::start("svc").await;
    dev.oauth_api("svc", &upstream, json!({})).await;
    dev.client("svc", "app", "app-secret-1").await;
    let mut tokens = Vec::new();
    for _ in 0..150 {
        tokens.push(dev.token("svc", "app", "app-secret-1").await);
    }
    // Without ?p= Tyk lists every token; pages of 100 still work.
    assert_eq!(dev.listed("svc", "app", "").await.len(), 150);
    assert_eq!(dev.listed("svc", "app", "?p=1").await.len(), 100);
    assert_eq!(dev.listed("svc", "app", "?p=2").await.len(), 50);

    // Revoked through the Dashboard's revoke and through /oauth/revoke: gone from the listing.
    let body = json!({"token": tokens[0], "token_type_hint": "access_token"});
    let (s, v) = dev.admin("POST", "/api/apis/oauth/app/revoke", Some(body)).await;
    assert_eq!((s, v["Message"].as_str()), (200, Some("access token revoked")), "{v}");
    let revoke_url = format!("{}/svc/oauth/revoke", dev.inner.gateway);
    assert_eq!(oauth_revoke(&dev.http, &revoke_url, "app", "app-secret-1", &tokens[1]).await, 200);
    assert_eq!(dev.call("svc", &tokens[1]).await.0, 401);
    let listed = dev.listed("svc", "app", "").await;
    assert_eq!(listed.len(), 148);
    assert_eq!(dev.listed("svc", "app", "?p=2").await.len(), 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_told_so_as_tyk_tells_it() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let upstream = EchoUpstream::start("short").await;
    dev.oauth_api("short", &upstream, json!({"access_token_ttl_seconds": 1})).await;
    dev.client("short", "app", "app-secret-1").await;
    let token = dev.token("short", "app", "app-secret-1").await;
    // The first refusal is the expiry: the session outlives it as a marker.
    let (status, body) = eventually("the token expires", Duration::from_secs(10), || async {
        let (status, body) = dev.call("short", &token).await;
        (status != 200).then_some((status, body))
    })
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Key has expired, please renew"), "{body}");
    // And it stays so, well past the instant the token expired (the store used to drop the
    // session then, and the answer became "Key not authorised").
    let since = std::time::Instant::now();
    while since.elapsed() < Duration::from_millis(2500) {
        let (status, body) = dev.call("short", &token).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("Key has expired, please renew"), "after {:?}: {body}", since.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_need_an_oauth_api_and_basic_secrets_work_unencoded() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let upstream = EchoUpstream::start("svc").await;
    let keyless = json!({"api_id": "open", "listen_path": "/open/", "upstream_url": upstream.url()});
    assert_eq!(dev.admin("POST", "/api/apis", Some(keyless)).await.0, 200);
    let (s, v) = dev.admin("POST", "/api/apis/oauth/open", Some(json!({"client_id": "app"}))).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["Message"].as_str().unwrap().contains("does not use OAuth"), "{v}");
    let (s, _) = dev.admin("GET", "/api/apis/oauth/open/app", None).await;
    assert_eq!(s, 404, "nothing was registered");

    // A secret migrated from Tyk with `+` and `%`, sent as curl -u and reqwest send it: raw.
    const SECRET: &str = "tyk+migrated%2Fsecret";
    dev.oauth_api("svc", &upstream, json!({})).await;
    let body = json!({"client_id": "migrated", "secret": SECRET});
    assert_eq!(dev.admin("POST", "/api/apis/oauth/svc", Some(body)).await.0, 200);
    let token = eventually("the raw Basic secret is accepted", Duration::from_secs(10), || async {
        let r = dev
            .http
            .post(format!("{}/svc/oauth/token", dev.inner.gateway))
            .basic_auth("migrated", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        (status == 200).then(|| v["access_token"].as_str().unwrap().to_owned())
    })
    .await;
    assert_eq!(dev.call("svc", &token).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_routes_take_the_dashboards_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    for (id, active) in [("on", true), ("off", false)] {
        let policy = json!({"id": id, "name": id, "active": active});
        let (s, v) = dev.admin("POST", "/api/portal/policies", Some(policy)).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = dev.admin("GET", "/api/portal/policies?active=true", None).await;
    assert_eq!(s, 200, "{v}");
    let ids: Vec<&str> = v["Data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["on"]);
    let (s, v) = dev.admin("GET", "/api/portal/policies?p=-1&sort=name&q=x", None).await;
    assert_eq!((s, v["Data"].as_array().map(Vec::len)), (200, Some(2)), "{v}");
    // Every list route ignores what it does not know, as Tyk does.
    for path in
        ["/api/apis?p=1&sort=name", "/api/apis/oauth/nothing?p=1&q=x", "/api/users?p=1", "/api/gateways?x=1"]
    {
        let (s, v) = dev.admin("GET", path, None).await;
        assert_ne!(s, 400, "{path}: {v}");
    }
    // A write keeps refusing what it does not know: it may carry intent.
    let (s, v) = dev.admin("POST", "/api/portal/policies?alow_keyless=true", Some(json!({"id": "x"}))).await;
    assert_eq!(s, 400, "{v}");
}

/// The same on a control plane and gateway sharing a real Redis: revoked tokens leave the
/// listing, and an expired token is told so past the instant it expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_listings_drop_revoked_tokens_and_expiry_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let redis = gatehouse_testkit::RedisServer::start();
    let upstream = EchoUpstream::start("svc").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gw = GatewayProcess::start("friction-gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();
    for (id, ttl) in [("svc", 3600), ("short", 1)] {
        let api = json!({"api_id": id, "listen_path": format!("/{id}/"), "upstream_url": upstream.url(),
                         "oauth": {"allowed_grant_types": ["client_credentials"], "access_token_ttl_seconds": ttl}});
        admin(&http, &cp.url(), "POST", "/api/apis", api).await;
        admin(
            &http,
            &cp.url(),
            "POST",
            &format!("/api/apis/oauth/{id}"),
            json!({"client_id": "app", "secret": "app-secret-1"}),
        )
        .await;
        wait_for_client(&http, &gw.url(&format!("/{id}/oauth/introspect")), "app", "app-secret-1").await;
    }
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(access_token(&http, &gw.url("/svc/oauth/token"), "app", "app-secret-1").await);
    }
    admin(&http, &cp.url(), "POST", "/api/apis/oauth/app/revoke", json!({"token": tokens[0]})).await;
    assert_eq!(
        oauth_revoke(&http, &gw.url("/svc/oauth/revoke"), "app", "app-secret-1", &tokens[1]).await,
        200
    );
    let listed = admin(&http, &cp.url(), "GET", "/api/apis/oauth/svc/app/tokens", Value::Null).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let token = access_token(&http, &gw.url("/short/oauth/token"), "app", "app-secret-1").await;
    let call = || async {
        let r = http.get(gw.url("/short/x")).bearer_auth(&token).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    eventually("the token expires", Duration::from_secs(10), || async {
        (call().await.0 != 200).then_some(())
    })
    .await;
    let since = std::time::Instant::now();
    while since.elapsed() < Duration::from_millis(2500) {
        let (status, body) = call().await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("Key has expired, please renew"), "after {:?}: {body}", since.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tyk answers its Dashboard and Gateway API on the gateway's port, and a client pointed at the
/// wrong port meets a generic refusal: both say which port serves what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_port_says_which_port_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let message =
        |v: &Value| format!("{}{}", v["error"].as_str().unwrap_or(""), v["Message"].as_str().unwrap_or(""));
    eventually("the gateway holds its first config", Duration::from_secs(10), || async {
        let r = dev.http.get(format!("{}/readyz", dev.inner.gateway)).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // Tyk's Gateway API on the gateway's port, with Tyk's header.
    let r = dev
        .http
        .get(format!("{}/tyk/apis", dev.inner.gateway))
        .header("x-tyk-authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(message(&v).contains("served on the control plane's port"), "{v}");
    // An ordinary miss on the gateway says no more than before.
    let v: Value =
        dev.http.get(format!("{}/nothing/", dev.inner.gateway)).send().await.unwrap().json().await.unwrap();
    assert_eq!(message(&v), "no API is listening on this path");

    // An OAuth client on the admin port, with or without the admin secret.
    for secret in [None, Some(ADMIN_SECRET)] {
        let mut request = dev
            .http
            .post(format!("{}/my-api/oauth/token/", dev.inner.admin))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        if let Some(secret) = secret {
            request = request.header("authorization", secret);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 404);
        let v: Value = r.json().await.unwrap();
        assert!(message(&v).contains("served by the gateway's port"), "{v}");
    }
    // Admin routes still need the secret.
    let r = dev.http.get(format!("{}/api/apis", dev.inner.admin)).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
