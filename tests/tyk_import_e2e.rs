//! Tyk users' API definitions, imported through the Dashboard-style REST API of `gatehouse dev`:
//! the seed's "complete and valid" Tyk OAS example takes effect on the gateway; a Classic
//! definition wrapped as the Dashboard takes it works; unsupported fields come back as warnings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const SEED_OAS: &str = include_str!("../crates/tyk/tests/fixtures/tyk-oas-oauth-seed.json");

async fn send(http: &reqwest::Client, method: &str, url: &str, body: Option<String>) -> (u16, Value) {
    let mut request = http.request(method.parse().unwrap(), url).header("authorization", ADMIN_SECRET);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tyk_definitions_import_and_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start_with_secret(dir.path(), ADMIN_SECRET);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let oas_url = format!("{}/api/apis/oas/", dev.admin);

    // As printed, the seed has a trailing comma: refused with line and column.
    let (status, body) = send(&http, "POST", &oas_url, Some(SEED_OAS.to_owned())).await;
    assert_eq!(status, 400);
    assert!(body["Message"].as_str().unwrap().contains("line 32 column 7"), "{body}");

    // Without it, it imports verbatim, with nothing to warn about.
    let fixed = SEED_OAS.replacen("\"active\": true,", "\"active\": true", 1);
    let (status, api) = send(&http, "POST", &oas_url, Some(fixed.clone())).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["warnings"], json!([]), "{api}");
    assert_eq!(api["listen_path"], "/my-oauth-api/");
    let api_id = api["api_id"].as_str().unwrap().to_owned();
    assert_eq!(api["oauth"]["allowed_grant_types"], json!(["authorization_code", "refresh_token"]));

    // Its OAuth settings take effect on the gateway: the authorize endpoint sends users to the
    // configured login page, and a code exchange yields a refresh token (refreshToken: true).
    let client = json!({"client_id": "seed-client", "secret": "seed-client-secret",
                        "redirect_uri": "http://identityserver.com/client-redirect-uri"});
    let (status, _) =
        send(&http, "POST", &format!("{}/api/apis/oauth/{api_id}", dev.admin), Some(client.to_string()))
            .await;
    assert_eq!(status, 200);
    let authorize = format!(
        "{}/my-oauth-api/oauth/authorize?response_type=code&client_id=seed-client&redirect_uri=http%3A%2F%2Fidentityserver.com%2Fclient-redirect-uri",
        dev.gateway
    );
    let r = eventually("the gateway serves the imported API", Duration::from_secs(10), || async {
        let r = http.get(&authorize).send().await.ok()?;
        // Config arrives in order: the redirect means both the API and its client are there.
        (r.status() == 307).then_some(r)
    })
    .await;
    assert_eq!(r.status(), 307);
    assert!(
        r.headers()["location"].to_str().unwrap().starts_with("http://<identity-server>/client-redirect-uri")
    );
    let code_request = format!(
        "response_type=code&client_id=seed-client&redirect_uri={}",
        "http%3A%2F%2Fidentityserver.com%2Fclient-redirect-uri"
    );
    let code: Value = http
        .post(format!("{}/api/apis/oauth/{api_id}/authorize-client/", dev.admin))
        .header("authorization", ADMIN_SECRET)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(code_request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = http
        .post(format!("{}/my-oauth-api/oauth/token", dev.gateway))
        .basic_auth("seed-client", Some("seed-client-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        // RFC 6749 §4.1.3: the code was asked for with redirect_uri, so it is repeated.
        .body(format!(
            "grant_type=authorization_code&code={}&redirect_uri={}",
            code["code"].as_str().unwrap(),
            "http%3A%2F%2Fidentityserver.com%2Fclient-redirect-uri"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(token["refresh_token"].is_string(), "{token}");
    // client_credentials is not among the seed API's flows.
    let r = http
        .post(format!("{}/my-oauth-api/oauth/token", dev.gateway))
        .basic_auth("seed-client", Some("seed-client-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized_client");

    // Export gives a Tyk OAS document that imports back to the same API.
    let (status, exported) = send(&http, "GET", &format!("{oas_url}{api_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(exported["x-tyk-api-gateway"]["server"]["listenPath"]["value"], "/my-oauth-api/");
    let (status, again) = send(&http, "PUT", &format!("{oas_url}{api_id}"), Some(exported.to_string())).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["warnings"], json!([]));

    // Unsupported fields are reported, never silently dropped; invalid ones name their path.
    let mut with_extras: Value = serde_json::from_str(&fixed).unwrap();
    with_extras["x-tyk-api-gateway"]["server"]["listenPath"]["value"] = json!("/extras/");
    with_extras["x-tyk-api-gateway"]["middleware"] = json!({"global": {"cors": {"enabled": true}}});
    let (status, api) = send(&http, "POST", &oas_url, Some(with_extras.to_string())).await;
    assert_eq!(status, 200, "{api}");
    let warnings = api["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("middleware")), "{warnings:?}");
    let mut broken: Value = serde_json::from_str(&fixed).unwrap();
    broken["x-tyk-api-gateway"]["upstream"]["url"] = json!(42);
    let (status, body) = send(&http, "POST", &oas_url, Some(broken.to_string())).await;
    assert_eq!(status, 400);
    assert!(body["Message"].as_str().unwrap().contains("x-tyk-api-gateway.upstream.url"), "{body}");

    // Tyk Classic, wrapped as the Dashboard takes it.
    let classic = json!({"api_definition": {
        "api_id": "classic-api", "name": "Classic", "use_oauth2": true,
        "oauth_meta": {"allowed_access_types": ["client_credentials"], "allowed_authorize_types": [],
                       "auth_login_redirect": ""},
        "proxy": {"listen_path": "/classic/", "strip_listen_path": true, "target_url": "http://127.0.0.1:9"}
    }});
    let (status, api) =
        send(&http, "POST", &format!("{}/api/apis", dev.admin), Some(classic.to_string())).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(
        (api["api_id"].as_str(), api["listen_path"].as_str()),
        (Some("classic-api"), Some("/classic/"))
    );
    let client = json!({"client_id": "classic-client", "secret": "classic-client-secret"});
    send(&http, "POST", &format!("{}/api/apis/oauth/classic-api", dev.admin), Some(client.to_string())).await;
    let token_url = format!("{}/classic/oauth/token", dev.gateway);
    eventually("the classic API issues tokens", Duration::from_secs(10), || async {
        let r = http
            .post(&token_url)
            .basic_auth("classic-client", Some("classic-client-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
}
