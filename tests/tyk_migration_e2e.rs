//! Tyk users moving in with what they have, over real HTTP against spawned processes: the
//! seed's multi-API access set up from Tyk OAS definitions alone (one OAuth API, two Auth Token
//! APIs, one policy), a bare Tyk Classic definition posted as the Dashboard takes it, and
//! clients with several redirect URIs, in Gatehouse's list or Tyk's separator form.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};

async fn send(http: &reqwest::Client, method: &str, url: &str, body: Value) -> (u16, Value) {
    let r = http
        .request(method.parse().unwrap(), url)
        .header("authorization", ADMIN_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A Tyk OAS API whose enabled scheme is `scheme`, described in OpenAPI by `component`.
fn tyk_oas(id: &str, listen: &str, upstream: &str, scheme: Value, component: Value) -> Value {
    let name = scheme.as_object().unwrap().keys().next().unwrap().clone();
    json!({
        "openapi": "3.0.3",
        "info": { "title": id, "version": "1.0.0" },
        "paths": {},
        "security": [{ name.clone(): [] }],
        "components": { "securitySchemes": { name: component } },
        "x-tyk-api-gateway": {
            "info": { "id": id, "name": id, "state": { "active": true } },
            "server": {
                "listenPath": { "value": listen, "strip": true },
                "authentication": { "enabled": true, "securitySchemes": scheme }
            },
            "upstream": { "url": upstream }
        }
    })
}

/// Tyk's Auth Token method as Tyk's documentation writes it: the OpenAPI `apiKey` scheme says
/// where the token is.
fn auth_token_api(id: &str, listen: &str, upstream: &str, place: &str, name: &str) -> Value {
    let mut scheme = json!({ "enabled": true });
    if place != "header" {
        // Tyk reads the Authorization header only when told; Gatehouse always does.
        scheme["header"] = json!({ "enabled": true, "name": "Authorization" });
    }
    tyk_oas(
        id,
        listen,
        upstream,
        json!({ "authToken": scheme }),
        json!({ "type": "apiKey", "in": place, "name": name }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_multi_api_access_works_from_tyk_oas_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gw = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();
    let oas = format!("{}/api/apis/oas", cp.url());

    // One OAuth API that issues tokens, two Auth Token APIs that accept them: Tyk OAS only.
    let issuer = tyk_oas(
        "auth-api",
        "/auth/",
        &upstream.url(),
        json!({ "oauth": { "enabled": true, "header": { "enabled": true, "name": "Authorization" } } }),
        json!({ "type": "oauth2", "flows": { "clientCredentials": { "tokenUrl": "/oauth/token", "scopes": {} } } }),
    );
    let (status, api) = send(&http, "POST", &oas, issuer).await;
    assert_eq!((status, &api["warnings"]), (200, &json!([])), "{api}");
    for (id, listen, place, name) in
        [("orders", "/orders/", "header", "Authorization"), ("stock", "/stock/", "query", "access_token")]
    {
        let (status, api) =
            send(&http, "POST", &oas, auth_token_api(id, listen, &upstream.url(), place, name)).await;
        assert_eq!(status, 200, "{api}");
        assert_eq!(api["token_auth"], true, "{api}");
        assert!(api.get("oauth").is_none_or(Value::is_null), "{api}");
        // The one thing that does not come along, said.
        let warnings = api["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{api}");
        assert!(warnings[0].as_str().unwrap().contains("standalone keys"), "{api}");
    }

    // One policy granting all three (the seed's "common policy"), one lacking the stock API.
    let all = json!({ "auth-api": { "api_id": "auth-api" }, "orders": { "api_id": "orders" },
                      "stock": { "api_id": "stock" } });
    admin_ok(
        &http,
        &cp,
        "POST",
        "/api/portal/policies",
        json!({ "id": "all", "name": "all", "access_rights": all }),
    )
    .await;
    let partial = json!({ "auth-api": { "api_id": "auth-api" }, "orders": { "api_id": "orders" } });
    let policy = json!({ "id": "partial", "name": "partial", "access_rights": partial });
    admin_ok(&http, &cp, "POST", "/api/portal/policies", policy).await;
    let mut secrets = Vec::new();
    for (client, policy) in [("app", "all"), ("narrow", "partial")] {
        let created = admin_ok(
            &http,
            &cp,
            "POST",
            "/api/apis/oauth/auth-api",
            json!({ "client_id": client, "policy_id": policy }),
        )
        .await;
        secrets.push(created["secret"].as_str().unwrap().to_owned());
    }
    let token_url = gw.url("/auth/oauth/token");
    let token = access_token(&http, &token_url, "app", &secrets[0]).await;

    // The token works on both Auth Token APIs, each reading it where its definition says.
    let orders = eventually("the orders API serves the token", Duration::from_secs(10), || async {
        let r = http.get(gw.url("/orders/list")).bearer_auth(&token).send().await.ok()?;
        (r.status() == 200).then_some(r)
    })
    .await;
    assert_eq!(orders.json::<Value>().await.unwrap()["path"], "/list");
    let stock = http.get(gw.url(&format!("/stock/items?access_token={token}"))).send().await.unwrap();
    assert_eq!(stock.status(), 200);
    // The credential's query parameter never reaches the upstream.
    assert_eq!(stock.json::<Value>().await.unwrap()["path"], "/items");
    // No token, no access: the Auth Token APIs are protected, not keyless.
    assert_eq!(http.get(gw.url("/orders/list")).send().await.unwrap().status(), 401);

    // A token whose policy lacks an API is refused there, and accepted where it grants.
    let narrow = access_token(&http, &token_url, "narrow", &secrets[1]).await;
    assert_eq!(http.get(gw.url("/orders/list")).bearer_auth(&narrow).send().await.unwrap().status(), 200);
    let refused = http.get(gw.url(&format!("/stock/items?access_token={narrow}"))).send().await.unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_tyk_classic_definition_posts_as_the_dashboard_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let cp = ControlPlaneProcess::start(&dir.path().join("data"), dir.path());
    let http = reqwest::Client::new();
    let url = format!("{}/api/apis", cp.url());
    let classic = |id: &str, listen: &str| {
        json!({
            "api_id": id, "name": id, "use_oauth2": true,
            "oauth_meta": { "allowed_access_types": ["client_credentials"], "allowed_authorize_types": [],
                            "auth_login_redirect": "" },
            "proxy": { "listen_path": listen, "strip_listen_path": true, "target_url": "http://127.0.0.1:9" }
        })
    };

    let (status, api) = send(&http, "POST", &url, classic("bare", "/bare/")).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!((api["api_id"].as_str(), api["listen_path"].as_str()), (Some("bare"), Some("/bare/")));
    assert_eq!(api["oauth"]["allowed_grant_types"], json!(["client_credentials"]));
    assert_eq!(api["warnings"], json!([]), "{api}");
    let stored = admin_ok(&http, &cp, "GET", "/api/apis/bare", Value::Null).await;
    assert_eq!(stored["listen_path"], "/bare/");

    // The Dashboard's wrapper keeps working.
    let wrapped = json!({ "api_definition": classic("wrapped", "/wrapped/") });
    let (status, api) = send(&http, "POST", &url, wrapped).await;
    assert_eq!((status, api["api_id"].as_str()), (200, Some("wrapped")), "{api}");

    // A bare definition's own errors name its paths, as the wrapped form's do.
    let mut broken = classic("broken", "/broken/");
    broken["proxy"]["target_url"] = json!("ftp://x");
    let (status, body) = send(&http, "POST", &url, broken).await;
    assert_eq!(status, 400);
    assert!(body["Message"].as_str().unwrap().contains("proxy.target_url"), "{body}");

    // Gatehouse's own shape with a misspelt field still says which.
    let (status, body) =
        send(&http, "POST", &url, json!({ "api_id": "own", "listen": "/own/", "upstream_url": "http://u" }))
            .await;
    assert_eq!(status, 400);
    assert!(body["Message"].as_str().unwrap().contains("listen"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_several_redirect_uris_matches_any_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start("upstream").await;
    let dev = DevProcess::start_with_args(dir.path(), ADMIN_SECRET, &["--oauth-redirect-uri-separator", ";"]);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let api = json!({ "api_id": "web", "listen_path": "/web/", "upstream_url": upstream.url(),
                      "oauth": { "allowed_grant_types": ["authorization_code"], "allowed_authorize_types": ["code"],
                                 "auth_login_redirect": "http://idp.example/login" } });
    admin(&http, &dev.admin, "POST", "/api/apis", api).await;

    // Tyk's separator form, split by the configured separator and shown back joined.
    let (a, b) = ("https://app.example/cb", "https://m.example/cb");
    let tyk_shape =
        json!({ "client_id": "tyk-style", "secret": "tyk-style-secret", "redirect_uri": format!("{a};{b}") });
    let client = admin(&http, &dev.admin, "POST", "/api/apis/oauth/web", tyk_shape).await;
    assert_eq!(client["redirect_uris"], json!([a, b]), "{client}");
    assert_eq!(client["redirect_uri"], format!("{a};{b}"));
    // Gatehouse's list.
    let listed = json!({ "client_id": "listed", "redirect_uris": [a, "myapp://cb"] });
    let client = admin(&http, &dev.admin, "POST", "/api/apis/oauth/web", listed).await;
    assert_eq!(client["redirect_uris"], json!([a, "myapp://cb"]), "{client}");
    // Joined some other way, it is not one URI: refused, never stored as one that cannot match.
    let joined = json!({ "client_id": "joined", "redirect_uri": format!("{a},{b}") });
    let (status, body) = send(&http, "POST", &format!("{}/api/apis/oauth/web", dev.admin), joined).await;
    assert_eq!(status, 400, "{body}");
    let message = body["Message"].as_str().unwrap();
    assert!(message.starts_with("redirect_uri:") && message.contains("several URIs"), "{body}");

    // The gateway's authorize endpoint accepts each registered URI exactly.
    let authorize = |redirect: Option<&str>| {
        let mut params = vec![("response_type", "code"), ("client_id", "tyk-style")];
        params.extend(redirect.map(|r| ("redirect_uri", r)));
        reqwest::Url::parse_with_params(&format!("{}/web/oauth/authorize", dev.gateway), &params).unwrap()
    };
    let first = eventually("the gateway knows the client", Duration::from_secs(10), || async {
        let r = http.get(authorize(Some(a))).send().await.ok()?;
        (r.status() == 307).then_some(r)
    })
    .await;
    assert!(first.headers()["location"].to_str().unwrap().starts_with("http://idp.example/login"));
    assert_eq!(http.get(authorize(Some(b))).send().await.unwrap().status(), 307);
    for bad in [Some("https://m.example/cb/"), Some("https://app.example/cb;https://m.example/cb"), None] {
        let r = http.get(authorize(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request", "{bad:?}");
    }

    // A code for the second URI, exchanged with it.
    let code: Value = http
        .post(format!("{}/api/apis/oauth/web/authorize-client/", dev.admin))
        .header("authorization", ADMIN_SECRET)
        .form(&[("response_type", "code"), ("client_id", "tyk-style"), ("redirect_uri", b)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(code["redirect_to"].as_str().unwrap().starts_with(b), "{code}");
    let token = http
        .post(format!("{}/web/oauth/token", dev.gateway))
        .basic_auth("tyk-style", Some("tyk-style-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code["code"].as_str().unwrap()),
            ("redirect_uri", b),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
}
