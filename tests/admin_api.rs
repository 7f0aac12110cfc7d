//! The admin API's contract, REST and gRPC, against `gatehouse dev`: authentication, precise
//! errors with the right status, and the Dashboard's shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse::pb;
use serde_json::Value;

async fn call(
    http: &reqwest::Client,
    dev: &DevProcess,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = http
        .request(method.parse().unwrap(), format!("{}{path}", dev.admin))
        .header("authorization", &dev.secret);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn message(v: &Value) -> &str {
    v["Message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_admin_errors_are_precise() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let http = reqwest::Client::new();
    assert!(dev.secret.len() >= 32);

    // Unauthenticated, wrong secret.
    let r = http.get(format!("{}/api/apis", dev.admin)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["Status"], "Error");
    let r = http
        .get(format!("{}/api/apis", dev.admin))
        .header("authorization", "x".repeat(40))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Malformed JSON names line and column.
    let (s, v) = call(&http, &dev, "POST", "/api/apis", Some("{\"api_id\": \"a\",\n")).await;
    assert_eq!(s, 400);
    assert!(message(&v).contains("line 2"), "{v}");
    // Unknown field, wrong type, missing field.
    let (s, v) = call(&http, &dev, "POST", "/api/apis", Some(r#"{"api_id":"a","listen":"/a/"}"#)).await;
    assert_eq!(s, 400);
    assert!(message(&v).contains("unknown field `listen`"), "{v}");
    let (s, v) =
        call(&http, &dev, "POST", "/api/apis", Some(r#"{"api_id":"a","strip_listen_path":"yes"}"#)).await;
    assert_eq!(s, 400, "{v}");
    assert!(message(&v).contains(r#"field "strip_listen_path""#), "a type error names its field: {v}");
    let (s, v) =
        call(&http, &dev, "POST", "/api/portal/policies", Some(r#"{"id":"p","name":"p","rate":"lots"}"#))
            .await;
    assert_eq!(s, 400, "{v}");
    assert!(message(&v).contains(r#"field "rate""#), "a type error names its field: {v}");
    let (s, v) =
        call(&http, &dev, "POST", "/api/apis", Some(r#"{"api_id":"a","upstream_url":"http://127.0.0.1:1"}"#))
            .await;
    assert_eq!(s, 400);
    assert!(message(&v).starts_with("listen_path:"), "{v}");
    let (s, v) =
        call(&http, &dev, "POST", "/api/apis", Some(r#"{"listen_path":"/a/","upstream_url":"ftp://x"}"#))
            .await;
    assert_eq!(s, 400);
    assert!(message(&v).starts_with("upstream_url:"), "{v}");
    let bad_grant = r#"{"listen_path":"/a/","upstream_url":"http://127.0.0.1:1","oauth":{"allowed_grant_types":["implicit"]}}"#;
    let (s, v) = call(&http, &dev, "POST", "/api/apis", Some(bad_grant)).await;
    assert_eq!(s, 400);
    assert!(message(&v).starts_with("oauth.allowed_grant_types[0]:"), "{v}");
    let (s, _) = call(&http, &dev, "POST", "/api/apis", Some("[1,2]")).await;
    assert_eq!(s, 400);

    // Create (id generated), conflict on id and on listen path. An OAuth API: clients are
    // registered on it below.
    let api = r#"{"name":"a","listen_path":"/a","upstream_url":"http://127.0.0.1:1","oauth":{"allowed_grant_types":["client_credentials"]}}"#;
    let (s, created) = call(&http, &dev, "POST", "/api/apis/", Some(api)).await;
    assert_eq!(s, 200, "{created}");
    let api_id = created["api_id"].as_str().unwrap().to_owned();
    assert_eq!(api_id.len(), 32);
    assert_eq!(created["listen_path"], "/a/");
    let (s, v) = call(&http, &dev, "POST", "/api/apis", Some(api)).await;
    assert_eq!(s, 409);
    assert!(message(&v).contains("listen_path \"/a/\" is already used"), "{v}");
    let dup_id =
        format!(r#"{{"api_id":"{api_id}","listen_path":"/b/","upstream_url":"http://127.0.0.1:1"}}"#);
    assert_eq!(call(&http, &dev, "POST", "/api/apis", Some(&dup_id)).await.0, 409);

    // Not found, for APIs and clients; method not allowed.
    let (s, v) = call(&http, &dev, "GET", "/api/apis/nope", None).await;
    assert_eq!((s, message(&v)), (404, "API \"nope\" not found"));
    assert_eq!(call(&http, &dev, "PUT", "/api/apis/nope", Some(api)).await.0, 404);
    assert_eq!(call(&http, &dev, "DELETE", "/api/apis/nope/", None).await.0, 404);
    assert_eq!(call(&http, &dev, "GET", "/api/apis/oauth/nope", None).await.0, 404);
    assert_eq!(call(&http, &dev, "POST", "/api/apis/oauth/nope", Some("{}")).await.0, 404);
    assert_eq!(call(&http, &dev, "GET", &format!("/api/apis/oauth/{api_id}/nope"), None).await.0, 404);
    assert_eq!(call(&http, &dev, "GET", "/api/nothing", None).await.0, 404);
    assert_eq!(call(&http, &dev, "PATCH", "/api/apis", None).await.0, 405);

    // Clients: Dashboard list shape, bad redirect URI, duplicate id, short chosen secret.
    let clients = format!("/api/apis/oauth/{api_id}");
    let (s, v) = call(&http, &dev, "POST", &clients, Some(r#"{"redirect_uri":"not a uri"}"#)).await;
    assert_eq!(s, 400);
    assert!(message(&v).starts_with("redirect_uri:"), "{v}");
    let (s, v) = call(&http, &dev, "POST", &clients, Some(r#"{"client_id":"c1","secret":"short"}"#)).await;
    assert_eq!(s, 400);
    assert!(message(&v).starts_with("secret:"), "{v}");
    let (s, v) = call(&http, &dev, "POST", &clients, Some(r#"{"client_id":"c1","policy_id":"p"}"#)).await;
    assert_eq!(s, 400, "an unknown policy is refused");
    assert!(message(&v).starts_with("policy_id:"), "{v}");
    let (s, v) = call(
        &http,
        &dev,
        "POST",
        "/api/portal/policies",
        Some(r#"{"id":"p","name":"gold","rate":10,"per":60}"#),
    )
    .await;
    assert_eq!((s, v["Message"].as_str()), (200, Some("p")), "{v}");
    let (s, v) = call(&http, &dev, "POST", &clients, Some(r#"{"client_id":"c1","policy_id":"p"}"#)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(&http, &dev, "DELETE", "/api/portal/policies/p", None).await;
    assert_eq!(s, 409, "a policy in use is not deleted: {v}");
    assert_eq!(call(&http, &dev, "POST", &clients, Some(r#"{"client_id":"c1"}"#)).await.0, 409);
    let (s, list) = call(&http, &dev, "GET", &format!("{clients}/"), None).await;
    assert_eq!(s, 200);
    assert_eq!(list["pages"], 1);
    assert_eq!(list["apps"][0]["client_id"], "c1");
    assert!(list["apps"][0].get("secret").is_none());

    // A form-encoded body is accepted where the seed's curl sends one.
    let r = http
        .post(format!("{}{clients}", dev.admin))
        .header("authorization", &dev.secret)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=c2&redirect_uri=https%3A%2F%2Fapp.example%2Fcb")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["redirect_uri"], "https://app.example/cb");

    // Deleting the API deletes its clients.
    let (s, v) = call(&http, &dev, "DELETE", &format!("/api/apis/{api_id}"), None).await;
    assert_eq!((s, v["Status"].as_str()), (200, Some("OK")));
    assert_eq!(call(&http, &dev, "GET", &clients, None).await.0, 404);

    // The dev gateway serves what was configured; unknown paths are 404 JSON.
    let url = format!("{}/nothing", dev.gateway);
    let r = eventually("the dev gateway has its config", Duration::from_secs(10), || async {
        let r = http.get(&url).send().await.ok()?;
        (r.status() != 503).then_some(r)
    })
    .await;
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_admin_errors_are_precise_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let mut apis = pb::api_service_client::ApiServiceClient::connect(dev.admin.clone()).await.unwrap();
    let bearer = format!("Bearer {}", dev.secret);
    fn with<T>(bearer: &str, m: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        r.metadata_mut().insert("authorization", bearer.parse().unwrap());
        r
    }
    let e = apis.list_apis(pb::ListApisRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = apis.create_api(with(&bearer, pb::CreateApiRequest { api: None })).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (tonic::Code::InvalidArgument, "api: is required"));
    let e = apis.get_api(with(&bearer, pb::GetApiRequest { api_id: "nope".into() })).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let api = pb::Api {
        api_id: "g".into(),
        listen_path: "/g/".into(),
        upstream_url: "http://127.0.0.1:1".into(),
        ..Default::default()
    };
    let created =
        apis.create_api(with(&bearer, pb::CreateApiRequest { api: Some(api.clone()) })).await.unwrap();
    // A write answers with its revision, once the dev gateway serves it (read-your-writes).
    let revision = created.metadata().get("gatehouse-revision").expect("the write's revision");
    assert!(revision.to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(created.metadata().get("gatehouse-not-applied-by").is_none());
    let e = apis.create_api(with(&bearer, pb::CreateApiRequest { api: Some(api) })).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    assert!(e.metadata().get("gatehouse-revision").is_none(), "a refused write commits nothing");
    let listed = apis.list_apis(with(&bearer, pb::ListApisRequest::default())).await.unwrap().into_inner();
    assert_eq!(listed.apis.len(), 1);
}

/// The OpenAPI document is served without the secret, is the committed copy, and describes
/// what the server answers: a created API read back matches the `Api` schema's properties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(dir.path());
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/api/openapi.json", dev.admin)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served = r.text().await.unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    assert_eq!(served, committed);
    // Only the document is public: its siblings still need the secret.
    let r = http.get(format!("{}/api/openapi.yaml", dev.admin)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http.post(format!("{}/api/openapi.json", dev.admin)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let document: Value = serde_json::from_str(&served).unwrap();
    let (s, api) = call(
        &http,
        &dev,
        "POST",
        "/api/apis",
        Some(r#"{"api_id":"doc","listen_path":"/doc/","upstream_url":"http://127.0.0.1:9"}"#),
    )
    .await;
    assert_eq!(s, 200, "{api}");
    let properties = document["components"]["schemas"]["Api"]["properties"].as_object().unwrap();
    for key in api.as_object().unwrap().keys() {
        assert!(properties.contains_key(key), "the answer's field {key} is not in the Api schema");
    }
    let create = &document["paths"]["/api/apis"]["post"];
    assert_eq!(
        create["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Api"
    );
    assert!(create["responses"]["200"]["links"]["GetApi"].is_object());
}

/// The dashboard's sign-in: the secret is exchanged for an HttpOnly, SameSite=Strict cookie;
/// the REST API takes the cookie for reads and, with the session's CSRF token, for writes;
/// sign-out and expiry end it; wrong secrets count towards the same lockout as API calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_authenticate_the_rest_api_with_csrf_on_writes() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "dashboard-test-admin-secret-0123456789abcdef";
    let dev = DevProcess::start_with_args(dir.path(), secret, &["--dashboard-session-ttl", "2"]);
    let stdout = std::fs::read_to_string(&dev.process.stdout_path).unwrap();
    assert!(stdout.contains(&format!("dashboard:     {}/dashboard/", dev.admin)), "{stdout}");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", dev.admin);

    let page = http.get(url("/dashboard/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");

    let wrong =
        http.post(url("/dashboard/session")).body(r#"{"secret":"not-the-secret"}"#).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let signed_in = http
        .post(url("/dashboard/session"))
        .json(&serde_json::json!({ "secret": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let set_cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=2"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let session: Value = signed_in.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(session["gateway_url"], dev.gateway);
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let read = http.get(url("/api/apis")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let body = r#"{"id":"dash","name":"Dash"}"#;
    let without_csrf =
        http.post(url("/api/portal/policies")).header("cookie", &cookie).body(body).send().await.unwrap();
    assert_eq!(without_csrf.status(), 403);
    let with_csrf = http
        .post(url("/api/portal/policies"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(with_csrf.status(), 200);
    // Try it: a write like any other (CSRF), on an existing API, below its listen path.
    let attempt = |body: serde_json::Value, csrf: Option<&str>| {
        let mut request = http.post(url("/dashboard/try")).header("cookie", &cookie).json(&body);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let call = serde_json::json!({"action": "call", "api_id": "nope", "access_token": "t", "path": "/"});
    assert_eq!(attempt(call.clone(), None).await.unwrap().status(), 403);
    assert_eq!(attempt(call, Some(&csrf)).await.unwrap().status(), 404);
    let api = r#"{"api_id":"tried","listen_path":"/tried/","upstream_url":"http://127.0.0.1:9"}"#;
    let created =
        http.post(url("/api/apis")).header("cookie", &cookie).header("x-csrf-token", &csrf).body(api);
    assert_eq!(created.send().await.unwrap().status(), 200);
    let climb =
        serde_json::json!({"action": "call", "api_id": "tried", "access_token": "t", "path": "/a/../../x"});
    let refused = attempt(climb, Some(&csrf)).await.unwrap();
    assert_eq!(refused.status(), 400);
    let encoded = serde_json::json!({"action": "call", "api_id": "tried", "access_token": "t", "path": "/%2e%2E/other/x"});
    assert_eq!(attempt(encoded, Some(&csrf)).await.unwrap().status(), 400);
    let unknown = serde_json::json!({"action": "fetch", "url": "http://169.254.169.254/"});
    assert_eq!(attempt(unknown, Some(&csrf)).await.unwrap().status(), 400);
    let keyless = serde_json::json!({"action": "call", "api_id": "tried", "access_token": "t", "path": "/x"});
    let answer: Value = attempt(keyless, Some(&csrf)).await.unwrap().json().await.unwrap();
    assert_eq!(answer["status"], 502, "the keyless API's upstream is closed: {answer}");
    assert!(
        answer["request"].as_str().unwrap().starts_with(&format!("GET {}/tried/x", dev.gateway)),
        "{answer}"
    );

    // The Tyk Gateway API's paths take no cookie: they are for scripts.
    let tyk = http.get(url("/tyk/oauth/clients/x")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(tyk.status(), 403);
    // The page reloads: the session gives its CSRF token back.
    let current = http.get(url("/dashboard/session")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(current.json::<Value>().await.unwrap()["csrf_token"], csrf.as_str());

    // Expiry: the same cookie is refused once its lifetime has passed.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let expired = http.get(url("/api/apis")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(expired.status(), 401);
    assert!(message(&expired.json().await.unwrap()).contains("sign in again"));

    // Sign-out needs the CSRF token and ends the session for good.
    let again = http
        .post(url("/dashboard/session"))
        .json(&serde_json::json!({ "secret": secret }))
        .send()
        .await
        .unwrap();
    let cookie = again.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = again.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let forged = http.delete(url("/dashboard/session")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let out = http
        .delete(url("/dashboard/session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let after = http.get(url("/api/apis")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(after.status(), 401);
}
