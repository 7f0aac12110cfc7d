//! Redis killed (SIGKILL) and restarted on the same port while clients keep calling, minting
//! tokens and using them through two gateways (one reading every session from Redis,
//! `--session-cache=false`, one with the session cache, the default).
//!
//! Redis runs with `appendonly yes` and `appendfsync always`, as README.md asks of production:
//! Redis writes and fsyncs each command before replying, so every token a client received was on
//! disk before the kill, and the test can demand that *all* of them survive (with a SAVE before
//! the kill, only those minted before the SAVE could be expected to).
//!
//! `dataplane_e2e` shows one request answered 503 quickly and recovery after a restart without
//! persistence; this test holds every request of a loaded run to account instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::load::{Load, Sample, assert_no_panic, is_running};
use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::json;

/// How long Redis stays down.
const DOWN: Duration = Duration::from_secs(2);
/// A request made while Redis is down must still be answered within this: the store gives up
/// on a command or a connection attempt after 1 s, so anything near the request timeout is a
/// hang.
const ANSWER_BOUND: Duration = Duration::from_millis(2500);
/// The bound: no failed request later than this after Redis accepts connections again.
const RECOVERY: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_restarted_under_load() {
    tokio::time::timeout(Duration::from_secs(120), run()).await.expect("the test finishes within 2 minutes");
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let redis_dir = dir.path().join("redis");
    std::fs::create_dir(&redis_dir).unwrap();
    let redis = RedisServer::start_persistent(&redis_dir);
    let redis_port = redis.port();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    // The cache is on by default: this gateway turns it off, so that every bearer request needs
    // Redis and must be refused while it is down.
    let plain = GatewayProcess::start_with(
        "gw-plain",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--session-cache=false"],
    );
    let cached = GatewayProcess::start_with(
        "gw-cached",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--session-cache"],
    );
    let http = reqwest::Client::new();

    let api = json!({"api_id": "orders", "listen_path": "/orders/", "strip_listen_path": true,
                     "upstream_url": upstream.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin(&http, &cp.url(), "POST", "/api/apis", api).await;
    let keyless = json!({"api_id": "open", "listen_path": "/open/", "upstream_url": upstream.url()});
    admin(&http, &cp.url(), "POST", "/api/apis", keyless).await;
    // A rate limit and a quota far above this load, so every request also runs the limiter's
    // script in Redis.
    let policy = json!({"id": "metered", "name": "metered", "active": true, "rate": 100000, "per": 1,
                        "quota_max": 10000000, "quota_renewal_rate": 3600});
    admin(&http, &cp.url(), "POST", "/api/portal/policies", policy).await;
    let client = admin(
        &http,
        &cp.url(),
        "POST",
        "/api/apis/oauth/orders",
        json!({"client_id": "loader", "policy_id": "metered"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    for gw in [&plain, &cached] {
        wait_for_client(&http, &gw.url("/orders/oauth/introspect"), "loader", &secret).await;
    }
    let token_url = plain.url("/orders/oauth/token");
    let token = client_credentials_token(&http, &token_url, "loader", &secret).await;
    assert_eq!(token.status(), 200);
    let token = token.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // --- Load: bearer requests on both gateways, a keyless API, and a client minting tokens.
    let mut load = Load::new();
    let pace = Duration::from_millis(5);
    for (kind, gw) in [("plain", &plain), ("plain", &plain), ("cached", &cached), ("cached", &cached)] {
        let (http, url, token) = (http.clone(), gw.url("/orders/items"), token.clone());
        load.spawn(kind, pace, move || http.get(&url).bearer_auth(&token));
    }
    let (h, url) = (http.clone(), plain.url("/open/x"));
    load.spawn("keyless", pace, move || h.get(&url));
    let (h, url, s) = (http.clone(), token_url.clone(), secret.clone());
    load.spawn("mint", Duration::from_millis(20), move || {
        h.post(&url)
            .basic_auth("loader", Some(&s))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
    });

    tokio::time::sleep(Duration::from_secs(1)).await;
    // Dropping the server sends SIGKILL and reaps it: from `killed` on, nothing answers.
    drop(redis);
    let killed = Instant::now();
    tokio::time::sleep(DOWN).await;
    let redis = RedisServer::start_persistent_on(redis_port, &redis_dir);
    // `start_persistent_on` returns once the replayed server answers PING.
    let back = Instant::now();
    tokio::time::sleep(RECOVERY + Duration::from_secs(1)).await;
    let samples = load.stop().await;

    // --- Every request was answered, quickly, and only with 200 or a JSON 503.
    let slowest = samples.iter().max_by_key(|s| s.latency).unwrap();
    assert!(slowest.latency < ANSWER_BOUND, "a request hung while Redis was away: {slowest:?}");
    for s in &samples {
        match s.status() {
            Some(200) => {}
            Some(503) => assert!(s.is_json(), "a 503 without a JSON body: {s:?}"),
            _ => panic!("unexpected answer (the gateway must answer 200 or 503): {s:?}"),
        }
    }
    // The keyless API needs no Redis: it never failed.
    assert!(samples.iter().filter(|s| s.kind == "keyless").all(|s| s.status() == Some(200)));
    // While Redis was down the plain gateway refused every bearer request and token request,
    // with RFC 6749's error for the token endpoint.
    let during = |s: &&Sample| s.sent > killed && s.sent + s.latency < back;
    for kind in ["plain", "mint"] {
        let down: Vec<&Sample> = samples.iter().filter(|s| s.kind == kind).filter(during).collect();
        assert!(down.len() > 10, "{kind}: the load ran while Redis was down ({} requests)", down.len());
        assert!(down.iter().all(|s| s.status() == Some(503)), "{kind}: not 503 while Redis was down");
    }
    let refused_mint = samples.iter().filter(|s| s.kind == "mint").find(during).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(refused_mint.body()).unwrap()["error"],
        "temporarily_unavailable"
    );
    // The caching gateway may answer from its cache until it notices its subscription broke;
    // from then on it reads Redis and refuses like the other.
    assert!(samples.iter().filter(|s| s.kind == "cached").filter(during).any(|s| s.status() == Some(503)));

    // --- Recovery: nothing fails later than RECOVERY after Redis accepts connections again.
    for kind in ["plain", "cached", "mint"] {
        let after: Vec<&Sample> =
            samples.iter().filter(|s| s.kind == kind && s.sent >= back + RECOVERY).collect();
        assert!(after.len() > 5, "{kind}: the load ran after recovery ({} requests)", after.len());
        let failed: Vec<_> = after.iter().filter(|s| s.status() != Some(200)).collect();
        assert!(failed.is_empty(), "{kind}: failed {RECOVERY:?} after Redis came back: {failed:?}");
        let first_ok = samples
            .iter()
            .filter(|s| s.kind == kind && s.sent >= back && s.status() == Some(200))
            .map(|s| (s.sent + s.latency).saturating_duration_since(back))
            .min();
        eprintln!("{kind}: first success {first_ok:?} after Redis accepted connections again");
    }

    // --- Every token minted before the kill is still good: Redis had it on disk.
    let minted: Vec<String> = samples
        .iter()
        .filter(|s| s.kind == "mint" && s.status() == Some(200) && s.sent + s.latency < killed)
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(s.body()).unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(minted.len() > 10, "tokens were minted under load before the kill ({})", minted.len());
    for (i, token) in minted.iter().enumerate() {
        let gw = if i % 2 == 0 { &plain } else { &cached };
        let r = http.get(gw.url("/orders/after")).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "token #{i} minted before the kill is unknown after the restart");
    }
    eprintln!(
        "{} requests; {} tokens minted before the kill all valid after it; slowest answer {:?}",
        samples.len(),
        minted.len(),
        slowest.latency
    );

    // --- No process died or panicked.
    for (name, process) in [("gw-plain", &plain.process), ("gw-cached", &cached.process)] {
        assert!(is_running(process.pid()), "{name} is still running");
        assert_no_panic(name, &process.logs());
    }
    assert_no_panic("control plane", &cp.process.as_ref().unwrap().logs());
    drop(redis);
}
