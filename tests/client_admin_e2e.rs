//! Client apps and their tokens, administered as the Dashboard does: update (a new policy
//! revokes the client's tokens), secret rotation, paginated listing, token listing, revoke-all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::EchoUpstream;
use serde_json::{Value, json};

impl Dev {
    async fn token(&self, client_id: &str, secret: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/svc/oauth/token", self.inner.gateway))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/svc/x", self.inner.gateway))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_and_tokens_are_administered_like_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path());
    let upstream = EchoUpstream::start("svc").await;
    for (id, name) in [("gold", "Gold"), ("silver", "Silver")] {
        let (s, v) = dev.admin("POST", "/api/portal/policies", Some(json!({"id": id, "name": name}))).await;
        assert_eq!(s, 200, "{v}");
    }
    let api = json!({"api_id": "svc", "listen_path": "/svc/", "strip_listen_path": true, "upstream_url": upstream.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    assert_eq!(dev.admin("POST", "/api/apis", Some(api)).await.0, 200);
    let (_, client) = dev
        .admin("POST", "/api/apis/oauth/svc", Some(json!({"client_id": "app", "policy_id": "gold"})))
        .await;
    let secret = client["secret"].as_str().unwrap().to_owned();

    // Tokens, listed a page at a time, in the Dashboard's bare-array shape.
    let token = eventually("the gateway issues tokens", Duration::from_secs(10), || async {
        let (s, v) = dev.token("app", &secret).await;
        (s == 200).then(|| v["access_token"].as_str().unwrap().to_owned())
    })
    .await;
    let (_, second) = dev.token("app", &secret).await;
    let (s, tokens) = dev.admin("GET", "/api/apis/oauth/svc/app/tokens/", None).await;
    assert_eq!(s, 200);
    let tokens = tokens.as_array().expect("a bare array").clone();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens
            .iter()
            .all(|t| t["code"].as_str().unwrap().starts_with("at:") && t["expires"].as_u64().is_some())
    );
    assert!(!tokens.iter().any(|t| t["code"] == token.as_str()), "listings never show token values");
    assert_eq!(dev.call(&token).await, 200);

    // A listed id revokes its token (the dashboard's per-row button): only that one, only for
    // its own client; an id another client lists is unknown here.
    let (_, third) = dev.token("app", &secret).await;
    let third = third["access_token"].as_str().unwrap().to_owned();
    let (_, listed) = dev.admin("GET", "/api/apis/oauth/svc/app/tokens", None).await;
    let before: Vec<String> = tokens.iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect();
    let third_id = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["code"].as_str().unwrap().to_owned())
        .find(|id| !before.contains(id))
        .expect("the new token is listed");
    let (s, v) = dev.admin("POST", "/api/apis/oauth/nobody/revoke", Some(json!({"token": third_id}))).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = dev.admin("POST", "/api/apis/oauth/app/revoke", Some(json!({"token": third_id}))).await;
    assert_eq!((s, v["Message"].as_str()), (200, Some("access token revoked")), "{v}");
    assert_eq!(dev.call(&third).await, 401);
    assert_eq!(dev.call(&token).await, 200);
    let (s, v) = dev.admin("POST", "/api/apis/oauth/app/revoke", Some(json!({"token": third_id}))).await;
    assert_eq!((s, v["Message"].as_str()), (200, Some("no such live token")), "{v}");
    let (s, v) = dev.admin("POST", "/api/apis/oauth/app/revoke", Some(json!({"token": "at:zz"}))).await;
    assert_eq!((s, v["Message"].as_str()), (200, Some("no such live token")), "{v}");

    // Updating without a policy change keeps tokens; changing the policy revokes them.
    let update = json!({"redirect_uri": "https://app.example/cb", "policy_id": "gold", "description": "v2"});
    let (s, v) = dev.admin("PUT", "/api/apis/oauth/svc/app", Some(update)).await;
    assert_eq!((s, v["description"].as_str()), (200, Some("v2")), "{v}");
    assert_eq!(dev.call(&token).await, 200);
    let (s, _) = dev.admin("PUT", "/api/apis/oauth/svc/app", Some(json!({"policy_id": "silver"}))).await;
    assert_eq!(s, 200);
    assert_eq!(dev.call(&token).await, 401);
    assert_eq!(dev.call(second["access_token"].as_str().unwrap()).await, 401);
    let (_, tokens) = dev.admin("GET", "/api/apis/oauth/svc/app/tokens", None).await;
    assert_eq!(tokens, json!([]));
    let (s, v) = dev.admin("PUT", "/api/apis/oauth/svc/app", Some(json!({"policy_id": "bronze"}))).await;
    assert_eq!(s, 400, "{v}");

    // Rotation: the new secret is shown once; the old one stops working at once.
    let (s, rotated) = dev.admin("PUT", "/api/apis/oauth/svc/app/rotate", None).await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    eventually("the rotated secret reaches the gateway", Duration::from_secs(10), || async {
        (dev.token("app", &new_secret).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(dev.token("app", &secret).await.0, 401);

    // revoke_all needs the client's secret, as in Tyk; one answer for wrong secret and unknown client.
    let (_, fresh) = dev.token("app", &new_secret).await;
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    let (s, _) =
        dev.admin("POST", "/api/apis/oauth/app/revoke_all", Some(json!({"client_secret": secret}))).await;
    assert_eq!(s, 401);
    let (s, _) =
        dev.admin("POST", "/api/apis/oauth/nobody/revoke_all", Some(json!({"client_secret": secret}))).await;
    assert_eq!(s, 401);
    assert_eq!(dev.call(&fresh).await, 200);
    let (s, v) = dev
        .admin("POST", "/api/apis/oauth/app/revoke_all/", Some(json!({"client_secret": new_secret})))
        .await;
    assert_eq!((s, v["Status"].as_str()), (200, Some("OK")), "{v}");
    assert_eq!(dev.call(&fresh).await, 401);
    // Without the client's secret, the admin's authority is enough (the dashboard has no
    // client secrets); an unknown client is then 404.
    let (_, again) = dev.token("app", &new_secret).await;
    let again = again["access_token"].as_str().unwrap().to_owned();
    let (s, v) = dev.admin("POST", "/api/apis/oauth/app/revoke_all", Some(json!({}))).await;
    assert_eq!((s, v["Status"].as_str()), (200, Some("OK")), "{v}");
    assert_eq!(dev.call(&again).await, 401);
    let (s, _) = dev.admin("POST", "/api/apis/oauth/nobody/revoke_all", Some(json!({}))).await;
    assert_eq!(s, 404);

    // Client lists are paginated in the Dashboard's shape: {"apps": [...], "pages": N}.
    for i in 0..11 {
        dev.admin("POST", "/api/apis/oauth/svc", Some(json!({"client_id": format!("c{i:02}")}))).await;
    }
    let (_, page1) = dev.admin("GET", "/api/apis/oauth/svc?p=1", None).await;
    let (_, page2) = dev.admin("GET", "/api/apis/oauth/svc?p=2", None).await;
    assert_eq!((page1["pages"].as_i64(), page1["apps"].as_array().unwrap().len()), (Some(2), 10));
    assert_eq!(page2["apps"].as_array().unwrap().len(), 2);
    let (_, all) = dev.admin("GET", "/api/apis/oauth/svc", None).await;
    assert_eq!(all["apps"].as_array().unwrap().len(), 12);
}
