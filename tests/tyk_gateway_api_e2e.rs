//! A script written for open-source Tyk's Gateway API (`x-tyk-authorization`, `/tyk/oauth/...`)
//! runs against Gatehouse with only its host and secret changed: create a client, get tokens,
//! list them, revoke one, invalidate a refresh token, revoke all (admin and API-scoped), rotate,
//! delete. Each request is the one the Tyk Gateway API's OpenAPI document
//! (tyk-gateway-api-oauth.yml) describes: same paths, headers and bodies; each answer is checked
//! for that document's status code and JSON field names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(10);
const REDIRECT: &str = "https://httpbin.org/ip";
const REDIRECT_ENC: &str = "https%3A%2F%2Fhttpbin.org%2Fip";
/// A client secret of the caller's choosing, shaped as Tyk generates them.
const SECRET: &str = "MmQwNTI5NGQtYjU0YS00NjMyLWIwZjktNTZjY2M1ZjhjYWY0";
const CLIENT: &str = "2a06b398c17f46908de3dffcb71ef87df";
const TYK_REFUSAL: &str = "Attempted administrative access with invalid or missing key!";

/// What a Tyk user's script holds: the gateway's address for the Gateway API (here the control
/// plane's), the address clients get tokens from, and the secret.
struct Script {
    http: reqwest::Client,
    admin_host: String,
    gateway_host: String,
    secret: &'static str,
}

impl Script {
    /// `curl -X <method> -H "x-tyk-authorization: <secret>" [-d '<json>'] <admin_host><path>`
    async fn tyk(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.admin_host))
            .header("x-tyk-authorization", self.secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    /// A form POST with the admin header (revoke, revoke_all, authorize-client).
    async fn tyk_form(&self, path: &str, form: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.admin_host))
            .header("x-tyk-authorization", self.secret)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        answer(request).await
    }

    /// A client's form POST to the gateway, Basic-authenticated or not.
    async fn client_form(&self, path: &str, basic: Option<(&str, &str)>, form: &str) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.gateway_host))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        answer(request).await
    }

    async fn client_credentials(&self, secret: &str) -> (StatusCode, Value) {
        self.client_form("/my-api/oauth/token/", Some((CLIENT, secret)), "grant_type=client_credentials")
            .await
    }

    async fn api_status(&self, token: &str) -> StatusCode {
        let url = format!("{}/my-api/anything", self.gateway_host);
        self.http.get(url).bearer_auth(token).send().await.unwrap().status()
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = request.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}"))
}

/// Tyk's `ApiStatusMessage`: `{"status": <status>, "message": <text>}`.
fn assert_status_message(v: &Value, status: &str) {
    assert_eq!(v["status"], status, "{v}");
    assert!(v["message"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tyk_gateway_api_script_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gw = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // The API and policy exist beforehand (a Tyk user would have them already): set up here
    // over Gatehouse's own admin API.
    admin_ok(&http, &cp, "POST", "/api/portal/policies", json!({"id": "gold", "name": "Gold"})).await;
    let api = json!({
        "api_id": "b84fe1a04e5648927971c0557971565c", "listen_path": "/my-api/", "strip_listen_path": true,
        "upstream_url": upstream.url(),
        "oauth": {
            "allowed_grant_types": ["authorization_code", "client_credentials", "refresh_token"],
            "allowed_authorize_types": ["code"],
            "auth_login_redirect": "https://login.example/",
        }
    });
    admin_ok(&http, &cp, "POST", "/api/apis", api).await;
    let api_id = "b84fe1a04e5648927971c0557971565c";
    let script = Script { http, admin_host: cp.url(), gateway_host: gw.url(""), secret: ADMIN_SECRET };

    // Without the secret, or with a wrong one: Tyk's 403 and message.
    for secret in [None, Some("wrong-secret-0123456789abcdefghijklmnop")] {
        let mut request = script.http.get(format!("{}/tyk/oauth/clients/{api_id}", script.admin_host));
        if let Some(secret) = secret {
            request = request.header("x-tyk-authorization", secret);
        }
        let (status, body) = answer(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body, json!({"status": "error", "message": TYK_REFUSAL}));
    }

    // createOAuthClient: the swagger's example body.
    let create = json!({
        "api_id": api_id, "client_id": CLIENT, "description": "google client",
        "meta_data": {"user_id": "362b3fb9a1d5e4f00017226f5"}, "redirect_uri": REDIRECT,
        "secret": SECRET, "policy_id": "gold",
    });
    let (status, created) = script.tyk("POST", "/tyk/oauth/clients/create", Some(create)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    for field in ["client_id", "description", "meta_data", "redirect_uri", "secret", "policy_id"] {
        assert!(!created[field].is_null(), "{field} in {created}");
    }
    assert_eq!((str_of(&created, "client_id"), str_of(&created, "secret")), (CLIENT, SECRET));
    let (status, body) = script
        .tyk(
            "POST",
            "/tyk/oauth/clients/create",
            Some(json!({"api_id": "no-such-api", "redirect_uri": REDIRECT})),
        )
        .await;
    // Tyk says 400 here; Gatehouse's unknown ids are 404 on every path (README).
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_status_message(&body, "error");

    // listOAuthClients: a bare array of NewClientRequest.
    let (status, list) = script.tyk("GET", &format!("/tyk/oauth/clients/{api_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let clients = list.as_array().expect("a bare array");
    assert_eq!(clients.len(), 1, "{list}");
    assert_eq!(clients[0]["client_id"], CLIENT);
    assert_eq!(clients[0]["redirect_uri"], REDIRECT);

    // getOAuthClient, and its 404.
    let client_path = format!("/tyk/oauth/clients/{api_id}/{CLIENT}");
    let (status, client) = script.tyk("GET", &client_path, None).await;
    assert_eq!(status, StatusCode::OK, "{client}");
    assert_eq!(client["description"], "google client");
    assert_eq!(client["meta_data"], json!({"user_id": "362b3fb9a1d5e4f00017226f5"}));
    let (status, body) = script.tyk("GET", &format!("/tyk/oauth/clients/{api_id}/nobody"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_status_message(&body, "error");

    // updateOAuthClient: the swagger's body, the secret in it included (and ignored).
    let update = json!({
        "api_id": api_id, "client_id": CLIENT, "description": "changed description sample",
        "meta_data": {"user_id": "362b3fb9a1d5e4f00017226f5"}, "redirect_uri": REDIRECT,
        "secret": SECRET, "policy_id": "gold",
    });
    let (status, updated) = script.tyk("PUT", &client_path, Some(update)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "changed description sample");
    assert_eq!(updated["client_id"], CLIENT);

    // Tokens: client credentials from the gateway, and a code through authorize-client (at
    // the API's listen path, as the Tyk Gateway serves it) redeemed for a refresh token too.
    let cc = eventually_backing_off("the gateway issues tokens", SYNC, || async {
        let (status, body) = script.client_credentials(SECRET).await;
        (status == StatusCode::OK).then(|| str_of(&body, "access_token").to_owned())
    })
    .await;
    let form = format!("response_type=code&client_id={CLIENT}&redirect_uri={REDIRECT_ENC}");
    let (status, authorized) = script.tyk_form("/my-api/tyk/oauth/authorize-client/", &form).await;
    assert_eq!(status, StatusCode::OK, "{authorized}");
    let code = str_of(&authorized, "code");
    assert!(str_of(&authorized, "redirect_to").starts_with(&format!("{REDIRECT}?code=")), "{authorized}");
    let form =
        format!("grant_type=authorization_code&client_id={CLIENT}&code={code}&redirect_uri={REDIRECT_ENC}");
    let (status, issued) = script.client_form("/my-api/oauth/token/", Some((CLIENT, SECRET)), &form).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let (code_token, refresh) = (str_of(&issued, "access_token"), str_of(&issued, "refresh_token"));
    assert_eq!(script.api_status(&cc).await, StatusCode::OK);
    assert_eq!(script.api_status(code_token).await, StatusCode::OK);

    // getOAuthClientTokens: a bare array without `page`, Tyk's paged object with it.
    let tokens_path = format!("{client_path}/tokens");
    let (status, tokens) = script.tyk("GET", &tokens_path, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let tokens = tokens.as_array().expect("a bare array");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    for token in tokens {
        assert!(token["code"].is_string() && token["expires"].is_u64(), "{token}");
    }
    let (status, paged) = script.tyk("GET", &format!("{tokens_path}?page=1"), None).await;
    assert_eq!(status, StatusCode::OK, "{paged}");
    assert_eq!(paged["Pagination"], json!({"page_num": 1, "page_size": 100, "page_total": 1}), "{paged}");
    assert_eq!(paged["Tokens"].as_array().map(Vec::len), Some(2), "{paged}");

    // revokeSingleToken: the client-credentials token stops working at once.
    let form = format!("token={cc}&token_type_hint=access_token&client_id={CLIENT}");
    let (status, body) = script.tyk_form("/tyk/oauth/revoke", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_status_message(&body, "ok");
    assert_ne!(script.api_status(&cc).await, StatusCode::OK);
    assert_eq!(script.api_status(code_token).await, StatusCode::OK, "the other token is untouched");

    // invalidateOAuthRefresh: `api_id` is required; then the refresh token is dead.
    let (status, body) = script.tyk("DELETE", &format!("/tyk/oauth/refresh/{refresh}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_status_message(&body, "error");
    let (status, body) =
        script.tyk("DELETE", &format!("/tyk/oauth/refresh/{refresh}?api_id={api_id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"key": refresh, "status": "ok", "action": "deleted"}));
    let form = format!("grant_type=refresh_token&refresh_token={refresh}");
    let (status, body) = script.client_form("/my-api/oauth/token/", Some((CLIENT, SECRET)), &form).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert_eq!(body["error"], "invalid_grant");

    // revokeAllTokens (admin): everything the client holds, listing included.
    let fresh = str_of(&script.client_credentials(SECRET).await.1, "access_token").to_owned();
    let form = format!("client_id={CLIENT}&client_secret={SECRET}");
    let (status, body) = script.tyk_form("/tyk/oauth/revoke_all", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "ok", "message": "tokens revoked successfully"}));
    assert_ne!(script.api_status(&fresh).await, StatusCode::OK);
    let (status, tokens) = script.tyk("GET", &tokens_path, None).await;
    assert_eq!((status, tokens), (StatusCode::OK, json!([])));

    // The API-scoped revoke_all on the gateway: the client authenticates with its secret in
    // the form, as Tyk takes it; errors are RFC 6749's.
    let fresh = str_of(&script.client_credentials(SECRET).await.1, "access_token").to_owned();
    let (status, body) = script
        .client_form("/my-api/oauth/revoke_all", None, &format!("client_id={CLIENT}&client_secret=wrong"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(script.api_status(&fresh).await, StatusCode::OK, "a wrong secret revokes nothing");
    let (status, body) = script.client_form("/my-api/oauth/revoke_all", None, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "ok", "message": "tokens revoked successfully"}));
    assert_ne!(script.api_status(&fresh).await, StatusCode::OK);

    // rotateOauthClient: a new secret, the old one refused.
    let (status, rotated) = script.tyk("PUT", &format!("{client_path}/rotate"), None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = str_of(&rotated, "secret").to_owned();
    assert_ne!(new_secret, SECRET);
    eventually_backing_off("the gateway takes the new secret", SYNC, || async {
        (script.client_credentials(&new_secret).await.0 == StatusCode::OK).then_some(())
    })
    .await;

    // deleteOAuthClient: Tyk's ApiModifyKeySuccess, then 404.
    let (status, body) = script.tyk("DELETE", &client_path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"key": CLIENT, "status": "ok", "action": "deleted"}));
    let (status, body) = script.tyk("GET", &client_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_status_message(&body, "error");
}

/// Guessing through the Tyk paths meets the throttles the other paths have: wrong
/// `x-tyk-authorization` secrets count towards the admin secret's lockout of the address (and
/// the lockout covers the Dashboard's paths too), and wrong client secrets at the API-scoped
/// `revoke_all` towards the client authentication lockout, in RFC 6749's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tyk_paths_are_throttled_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let limit = ["--auth-failure-limit", "3"];
    let cp = ControlPlaneProcess::start_with_args(
        "control-plane",
        &dir.path().join("data"),
        dir.path(),
        &[&["--redis", &redis.url()][..], &limit[..]].concat(),
    );
    let gw = GatewayProcess::start_with("gw", &cp.url(), &redis.url(), dir.path(), "info", &limit);
    let http = reqwest::Client::new();
    let api = json!({"api_id": "svc", "listen_path": "/svc/", "upstream_url": "http://127.0.0.1:9",
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin_ok(&http, &cp, "POST", "/api/apis", api).await;
    let client = admin_ok(&http, &cp, "POST", "/api/apis/oauth/svc", json!({"client_id": "app"})).await;
    let secret = str_of(&client, "secret").to_owned();
    // Waiting for "app" itself would count each try made before the sync as a failure, for
    // "app" and for this address, and spend the lockout's budget of 3 on a slow machine. So a
    // second client, registered after it, is awaited from another loopback address: once the
    // gateway knows it, it knows "app" too, and no failure was counted against either.
    let probe = admin_ok(&http, &cp, "POST", "/api/apis/oauth/svc", json!({"client_id": "probe"})).await;
    let elsewhere = reqwest::Client::builder().local_address("127.0.0.2".parse().ok()).build().unwrap();
    wait_for_client(&elsewhere, &gw.url("/svc/oauth/introspect"), "probe", str_of(&probe, "secret")).await;

    let revoke_all = |secret: String| {
        let request = http
            .post(gw.url("/svc/oauth/revoke_all"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id=app&client_secret={secret}"));
        async move {
            let r = request.send().await.unwrap();
            let retry_after = r.headers().get("retry-after").cloned();
            let status = r.status();
            (status, retry_after, r.json::<Value>().await.unwrap())
        }
    };
    for attempt in 0..3 {
        let (status, _, body) = revoke_all(format!("wrong-{attempt}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {body}");
        assert_eq!(body["error"], "invalid_client");
    }
    let (status, retry_after, body) = revoke_all(secret.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right secret, once locked out: {body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(retry_after.is_some(), "Retry-After");

    let clients = format!("{}/tyk/oauth/clients/svc", cp.url());
    for attempt in 0..3 {
        let r =
            http.get(&clients).header("x-tyk-authorization", "not-the-admin-secret").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "attempt {attempt}");
    }
    let r = http.get(&clients).header("x-tyk-authorization", ADMIN_SECRET).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error", "{body}");
    let r = http
        .get(format!("{}/api/apis", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "one lockout per address, whichever header");
}
