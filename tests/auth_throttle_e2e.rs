//! Guessing credentials against real processes: failed client authentications and passwords
//! are counted in the gateways' shared Redis, so two gateways lock a guesser out together
//! (429, Retry-After, an RFC 6749 JSON body), even the right secret is refused while the
//! lockout lasts, and other clients and addresses are unaffected; the admin secret is
//! throttled per address on the control plane, over REST and gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(10);
const TARGET_SECRET: &str = "target-secret-chosen-by-an-admin";
const BYSTANDER_SECRET: &str = "bystander-secret-chosen-by-an-admin";
const PASSWORD: &str = "alice-password";
/// Addresses the test's requests claim through X-Forwarded-For (the gateways trust loopback).
const GUESSER: &str = "203.0.113.7";
const ELSEWHERE: &str = "198.51.100.9";

struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn post_token(http: &reqwest::Client, url: &str, from: &str, body: &str) -> Answer {
    let r = http
        .post(url)
        .header("x-forwarded-for", from)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .expect("token request");
    let status = r.status();
    let retry_after =
        r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    let body = r.json().await.expect("a JSON body");
    Answer { status, retry_after, body }
}

fn client_credentials(client_id: &str, secret: &str) -> String {
    format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}")
}

fn password(username: &str, password: &str) -> String {
    format!(
        "grant_type=password&client_id=bystander&client_secret={BYSTANDER_SECRET}&username={username}&password={password}"
    )
}

/// An OAuth API allowing client_credentials and password, two clients with admin-chosen
/// (Argon2id) secrets and a resource owner, synced to every gateway in `token_urls`.
async fn configure(http: &reqwest::Client, cp: &ControlPlaneProcess, upstream: &str, token_urls: &[String]) {
    let api = json!({
        "api_id": "guarded", "listen_path": "/guarded/", "upstream_url": upstream,
        "oauth": {"allowed_grant_types": ["client_credentials", "password"]}
    });
    admin_ok(http, cp, "POST", "/api/apis", api).await;
    for (id, secret) in [("target", TARGET_SECRET), ("bystander", BYSTANDER_SECRET)] {
        let client = json!({"client_id": id, "secret": secret, "redirect_uri": "https://app.example/cb"});
        admin_ok(http, cp, "POST", "/api/apis/oauth/guarded", client).await;
    }
    admin_ok(http, cp, "POST", "/api/users", json!({"username": "alice", "password": PASSWORD})).await;
    // Created last, and used only here: config arrives in order, so once it authenticates,
    // everything above is there; its failures while the gateway catches up count against it
    // and its address alone, never against what the test guesses at.
    let probe = json!({"client_id": "sync-probe", "secret": "sync-probe-secret", "redirect_uri": "https://app.example/cb"});
    admin_ok(http, cp, "POST", "/api/apis/oauth/guarded", probe).await;
    // Polled every 200 ms, so a slow sync makes few failures (ten would lock the probe out).
    for url in token_urls {
        let deadline = std::time::Instant::now() + SYNC;
        loop {
            let body = client_credentials("sync-probe", "sync-probe-secret");
            if post_token(http, url, "192.0.2.200", &body).await.status == StatusCode::OK {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the gateway did not sync within {SYNC:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn assert_throttled(answer: &Answer, error: &str, what: &str) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{what}: {}", answer.body);
    assert_eq!(answer.body["error"], error, "{what}: {}", answer.body);
    let retry_after = answer.retry_after.unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!((1..=30).contains(&retry_after), "{what}: Retry-After {retry_after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_locked_out_across_gateways_sharing_redis() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let trust = ["--trusted-proxies", "127.0.0.1/32"];
    let gw1 = GatewayProcess::start_with("gw1", &cp.url(), &redis.url(), dir.path(), "info", &trust);
    let gw2 = GatewayProcess::start_with("gw2", &cp.url(), &redis.url(), dir.path(), "info", &trust);
    let http = reqwest::Client::new();
    let urls = [gw1.url("/guarded/oauth/token"), gw2.url("/guarded/oauth/token")];
    configure(&http, &cp, &upstream.url(), &urls).await;

    // 50 wrong secrets, alternating between the gateways: the 10 before the lockout are
    // checked (401), every later one is refused unchecked, whichever gateway it reaches.
    let mut checked = 0;
    for attempt in 0..50 {
        let answer =
            post_token(&http, &urls[attempt % 2], GUESSER, &client_credentials("target", "guess")).await;
        match answer.status {
            StatusCode::UNAUTHORIZED => checked += 1,
            _ => assert_throttled(&answer, "invalid_client", &format!("attempt {attempt}")),
        }
    }
    assert_eq!(checked, 10, "the two gateways count together");

    // The right secret is refused too while the lockout lasts, from any address.
    let right = post_token(&http, &urls[1], ELSEWHERE, &client_credentials("target", TARGET_SECRET)).await;
    assert_throttled(&right, "invalid_client", "the right secret after 50 wrong ones");
    // The guesser's address is locked out for every client.
    let bystander = client_credentials("bystander", BYSTANDER_SECRET);
    let from_guesser = post_token(&http, &urls[0], GUESSER, &bystander).await;
    assert_throttled(&from_guesser, "invalid_client", "another client from the guessing address");
    // Everyone else is served on both gateways.
    for url in &urls {
        let answer = post_token(&http, url, ELSEWHERE, &bystander).await;
        assert_eq!(answer.status, StatusCode::OK, "another client elsewhere: {}", answer.body);
    }

    // Passwords: counted per username (and address), not against the client.
    for attempt in 0..10 {
        let from = format!("192.0.2.{}", 10 + attempt);
        let answer = post_token(&http, &urls[attempt % 2], &from, &password("alice", "guess")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        assert_eq!(answer.body["error"], "invalid_grant");
    }
    let right = post_token(&http, &urls[0], "192.0.2.99", &password("alice", PASSWORD)).await;
    assert_throttled(&right, "invalid_grant", "the right password after 10 wrong ones");
    let answer = post_token(&http, &urls[1], "192.0.2.99", &bystander).await;
    assert_eq!(answer.status, StatusCode::OK, "the client itself is not locked: {}", answer.body);

    // The counts live in Redis, one key per subject, each with a TTL.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("gh:{fail:*").query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_secret_is_throttled_per_address_over_rest_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let cp = ControlPlaneProcess::start_with_args(
        "control-plane",
        &dir.path().join("data"),
        dir.path(),
        &["--auth-failure-limit", "5"],
    );
    let http = reqwest::Client::new();
    let apis = format!("{}/api/apis", cp.url());
    for attempt in 0..5 {
        let r = http.get(&apis).header("authorization", "not-the-admin-secret").send().await.unwrap();
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
    let r = http.get(&apis).header("authorization", "not-the-admin-secret").send().await.unwrap();
    assert_eq!(r.status(), 429, "the 5th failure started a lockout");
    let r = http.get(&apis).header("authorization", ADMIN_SECRET).send().await.unwrap();
    assert_eq!(r.status(), 429, "even the right secret is refused during the lockout");
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = r.json().await.unwrap();
    assert!(body["Message"].as_str().unwrap().contains("too many wrong admin secrets"), "{body}");

    // The same address over gRPC, on the same port.
    let channel = tonic::transport::Channel::from_shared(cp.url()).unwrap().connect().await.unwrap();
    let mut client = pb::api_service_client::ApiServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::ListApisRequest::default());
    request.metadata_mut().insert("authorization", ADMIN_SECRET.parse().unwrap());
    let status = client.list_apis(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry in"), "{}", status.message());
}
