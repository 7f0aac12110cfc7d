//! RFC details of the authorization server's HTTP edge, against `gatehouse dev`: protective
//! headers on every authorize and token response, secrets refused at the authorization
//! endpoint, error descriptions that echo nothing of the request, `key_rules` naming a missing
//! policy refused (REST and gRPC), and RFC 8414 metadata that never takes its issuer from an
//! arbitrary `Host`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{ChildProcess, free_port, wait_for_port};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const REDIRECT: &str = "https://app.example/cb";
const REDIRECT_ENC: &str = "https%3A%2F%2Fapp.example%2Fcb";
const CLIENT: &str = "app";
const SECRET: &str = "app-secret-0123456789abcdefghijklmn";

/// `gatehouse dev` with extra environment, on free ports.
struct Dev {
    _process: ChildProcess,
    admin: String,
    gateway: String,
    gateway_port: u16,
}

impl Dev {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let (gateway_port, admin_port) = (free_port(), free_port());
        let args = [
            "dev".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{gateway_port}"),
            "--admin-listen".to_owned(),
            format!("127.0.0.1:{admin_port}"),
            "--admin-secret".to_owned(),
            ADMIN_SECRET.to_owned(),
        ];
        let process = ChildProcess::spawn("dev", &binary(), &args, env, dir);
        wait_for_port(gateway_port, Duration::from_secs(20));
        wait_for_port(admin_port, Duration::from_secs(20));
        Self {
            _process: process,
            admin: format!("http://127.0.0.1:{admin_port}"),
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            gateway_port,
        }
    }

    /// An OAuth API, a policy and a confidential client, synced to the gateway.
    async fn configure(&self, http: &reqwest::Client) {
        admin(http, &self.admin, "POST", "/api/portal/policies", json!({"id": "gold", "name": "gold"})).await;
        let api = json!({
            "api_id": "my-api", "name": "my-api", "listen_path": "/my-api/", "strip_listen_path": true,
            "upstream_url": "http://127.0.0.1:9",
            "oauth": {
                "allowed_grant_types": ["authorization_code", "client_credentials", "refresh_token"],
                "allowed_authorize_types": ["code"],
                "auth_login_redirect": "https://idp.example/login"
            }
        });
        admin(http, &self.admin, "POST", "/api/apis", api).await;
        let client = json!({"client_id": CLIENT, "secret": SECRET, "redirect_uri": REDIRECT});
        admin(http, &self.admin, "POST", "/api/apis/oauth/my-api", client).await;
        access_token(http, &self.url("/my-api/oauth/token"), CLIENT, SECRET).await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn form(http: &reqwest::Client, url: &str, basic: bool, body: &str) -> (StatusCode, HeaderMap, Value) {
    let mut request =
        http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body.to_owned());
    if basic {
        request = request.basic_auth(CLIENT, Some(SECRET));
    }
    let r = request.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn assert_protected(what: &str, headers: &HeaderMap) {
    for (name, value) in
        [("cache-control", "no-store"), ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY")]
    {
        assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name} on {what}");
    }
}

fn assert_rfc_description(what: &str, body: &Value) {
    let description = body["error_description"].as_str().unwrap_or_else(|| panic!("{what}: {body}"));
    assert!(
        description.chars().all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')),
        "{what}: {description:?} leaves RFC 6749 §5.2's character set"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_and_token_responses_are_protected_and_conformant() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), &[]);
    let http = http();
    dev.configure(&http).await;
    let (authorize, token) = (dev.url("/my-api/oauth/authorize"), dev.url("/my-api/oauth/token"));

    // Authorize: the redirect to the login page and a refusal.
    let ok = format!("response_type=code&client_id={CLIENT}&redirect_uri={REDIRECT_ENC}");
    let (status, headers, _) = form(&http, &authorize, false, &ok).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_protected("the authorize redirect", &headers);
    let (status, headers, body) = form(&http, &authorize, false, "response_type=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_protected("an authorize error", &headers);

    // A client secret at the authorization endpoint is refused, never re-posted by a 307.
    let (status, headers, body) =
        form(&http, &authorize, false, &format!("{ok}&client_secret={SECRET}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    assert!(headers.get("location").is_none());
    assert_protected("the client_secret refusal", &headers);
    assert!(!body.to_string().contains(SECRET));

    // Token: success (the scope asked for is echoed), client and request errors, wrong method.
    let (status, headers, body) =
        form(&http, &token, true, "grant_type=client_credentials&scope=read%20write").await;
    assert_eq!((status, body["scope"].as_str()), (StatusCode::OK, Some("read write")), "{body}");
    assert_protected("a token response", &headers);
    let (status, headers, body) = form(
        &http,
        &token,
        false,
        "grant_type=client_credentials&client_id=app&client_secret=wrong-secret-0123456789",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_protected("invalid_client", &headers);
    let (status, headers, body) =
        form(&http, &token, true, "grant_type=client_credentials&scope=a%22b").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{body}");
    assert_protected("invalid_scope", &headers);
    let get = http.get(&token).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_protected("405", get.headers());

    // Request-derived parameter names are never echoed; descriptions keep to §5.2's set.
    for body in ["%00=1&%00=2", "%22%5C%0A=1&%22%5C%0A=2", "grant_type=client_credentials&x%E9=%00"] {
        let (status, _, json) = form(&http, &token, true, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_rfc_description(body, &json);
        assert!(json["error_description"].as_str().unwrap().starts_with("a parameter"), "{body}: {json}");
    }

    // Introspection names the RFC 6749 §7.1 type.
    let access =
        str_field(&form(&http, &token, true, "grant_type=client_credentials").await.2, "access_token");
    let (_, _, info) =
        form(&http, &dev.url("/my-api/oauth/introspect"), true, &format!("token={access}")).await;
    assert_eq!(
        (info["active"].as_bool(), info["token_type"].as_str()),
        (Some(true), Some("bearer")),
        "{info}"
    );
}

fn str_field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap_or_else(|| panic!("no {name} in {v}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rules_naming_a_missing_policy_are_refused_over_rest_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), &[]);
    let http = http();
    dev.configure(&http).await;
    let url = format!("{}/api/apis/oauth/my-api/authorize-client", dev.admin);
    for rules in [r#"{"policy_id":"nope"}"#, r#"{"apply_policies":["nope"]}"#, r#"{"policy_id":""}"#] {
        let body = json!({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "key_rules": rules});
        let r = http.post(&url).header("authorization", ADMIN_SECRET).json(&body).send().await.unwrap();
        let status = r.status();
        let json: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{rules}: {json}");
        assert!(json["Message"].as_str().unwrap().starts_with("key_rules: policy"), "{rules}: {json}");
    }
    let body = json!({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "key_rules": r#"{"policy_id":"gold"}"#});
    let r = http.post(&url).header("authorization", ADMIN_SECRET).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an existing policy is accepted");

    let channel = tonic::transport::Channel::from_shared(dev.admin.clone()).unwrap().connect().await.unwrap();
    let mut tokens = pb::token_service_client::TokenServiceClient::new(channel);
    let authorize = pb::AuthorizeClientRequest {
        api_id: "my-api".into(),
        client_id: CLIENT.into(),
        response_type: "code".into(),
        redirect_uri: REDIRECT.into(),
        key_rules: r#"{"policy_id":"nope"}"#.into(),
        ..Default::default()
    };
    let mut request = tonic::Request::new(authorize);
    request.metadata_mut().insert("authorization", ADMIN_SECRET.parse().unwrap());
    let e = tokens.authorize_client(request).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (tonic::Code::InvalidArgument, "key_rules: policy \"nope\" not found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_never_takes_its_issuer_from_an_arbitrary_host() {
    let dir = tempfile::tempdir().unwrap();
    let http = http();
    let metadata = "/.well-known/oauth-authorization-server/my-api";

    // Nothing configured: the listener's own address is a known name, anything else is not.
    let dev = Dev::start(dir.path(), &[]);
    dev.configure(&http).await;
    let own: Value = http.get(dev.url(metadata)).send().await.unwrap().json().await.unwrap();
    assert_eq!(own["issuer"], dev.url("/my-api"));
    // A well-formed Host this gateway does not speak for is misdirected; one that only starts
    // like its own name is not a valid Host at all (its port is not a number), refused by the
    // listener's Host check before any route.
    let lookalike = format!("127.0.0.1:{}.evil.example", dev.gateway_port);
    for (host, status) in [
        ("evil.example", StatusCode::MISDIRECTED_REQUEST),
        ("evil.example:80", StatusCode::MISDIRECTED_REQUEST),
        (lookalike.as_str(), StatusCode::BAD_REQUEST),
    ] {
        let r = http.get(dev.url(metadata)).header("host", host).send().await.unwrap();
        assert_eq!(r.status(), status, "Host {host}");
        assert!(!r.text().await.unwrap().contains("evil"), "Host {host}");
    }

    // HTTP/2 carries the host as `:authority`, with no Host header: the same names hold.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let r = h2.get(dev.url(metadata)).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let own_h2: Value = r.json().await.unwrap();
    assert_eq!(own_h2["issuer"], dev.url("/my-api"));
    // The same gateway reached under a name it was not given: `:authority` is evil.example.
    let misdirected = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("evil.example", ([127, 0, 0, 1], dev.gateway_port).into())
        .build()
        .unwrap();
    let r = misdirected.get(dev.url(metadata).replace("127.0.0.1", "evil.example")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);

    // A public URL: the document names it whatever the Host.
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path(), &[("GATEHOUSE_PUBLIC_URL", "https://auth.example.com/")]);
    dev.configure(&http).await;
    let doc: Value = http
        .get(dev.url(metadata))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://auth.example.com/my-api");
    assert_eq!(doc["token_endpoint"], "https://auth.example.com/my-api/oauth/token");
}
