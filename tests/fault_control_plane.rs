//! The control plane killed (SIGKILL) under load: the gateways keep proxying and issuing
//! tokens from the config they hold, with zero failed requests; once it is back (same port,
//! same data dir) an admin change reaches every gateway within a second.
//!
//! `skeleton_e2e` shows a gateway resuming after a restart; this test keeps load on the
//! gateways throughout and bounds the resync time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::load::{Load, assert_no_panic, is_running};
use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::json;

/// Long enough that a gateway's reconnect backoff has grown past its cap by the time the
/// control plane returns.
const DOWN: Duration = Duration::from_secs(4);
/// The bound on resync after the control plane returns.
const RESYNC: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_plane_killed_under_load() {
    tokio::time::timeout(Duration::from_secs(120), run()).await.expect("the test finishes within 2 minutes");
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let (before, after) = (EchoUpstream::start("before").await, EchoUpstream::start("after").await);
    let mut cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateways: Vec<GatewayProcess> = (0..2)
        .map(|i| GatewayProcess::start(&format!("gw{i}"), &cp.url(), &redis.url(), dir.path()))
        .collect();
    let http = reqwest::Client::new();

    let api = json!({"api_id": "orders", "listen_path": "/orders/", "strip_listen_path": true,
                     "upstream_url": before.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin(&http, &cp.url(), "POST", "/api/apis", api.clone()).await;
    let keyless = json!({"api_id": "open", "listen_path": "/open/", "upstream_url": before.url()});
    admin(&http, &cp.url(), "POST", "/api/apis", keyless).await;
    let client =
        admin(&http, &cp.url(), "POST", "/api/apis/oauth/orders", json!({"client_id": "loader"})).await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    for gw in &gateways {
        wait_for_client(&http, &gw.url("/orders/oauth/introspect"), "loader", &secret).await;
    }
    let token_url = gateways[0].url("/orders/oauth/token");
    let token = client_credentials_token(&http, &token_url, "loader", &secret).await;
    let token = token.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // --- Load on both gateways: bearer requests, a keyless API, token issuance.
    let mut load = Load::new();
    let pace = Duration::from_millis(5);
    for (gw, bearer, keyless) in
        [(&gateways[0], "bearer0", "keyless0"), (&gateways[1], "bearer1", "keyless1")]
    {
        let (h, url, t) = (http.clone(), gw.url("/orders/items"), token.clone());
        load.spawn(bearer, pace, move || h.get(&url).bearer_auth(&t));
        let (h, url) = (http.clone(), gw.url("/open/x"));
        load.spawn(keyless, pace, move || h.get(&url));
    }
    let (h, url, s) = (http.clone(), gateways[1].url("/orders/oauth/token"), secret.clone());
    load.spawn("mint", Duration::from_millis(20), move || {
        h.post(&url)
            .basic_auth("loader", Some(&s))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
    });

    tokio::time::sleep(Duration::from_secs(1)).await;
    cp.kill();
    let killed = Instant::now();
    tokio::time::sleep(DOWN).await;
    // `restart` returns once the control plane accepts connections.
    cp.restart();
    let back = Instant::now();

    // --- A change made right after the return reaches every gateway within RESYNC.
    let moved = json!({"api_id": "orders", "listen_path": "/orders/", "strip_listen_path": true,
                       "upstream_url": after.url(),
                       "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin(&http, &cp.url(), "PUT", "/api/apis/orders", moved).await;
    let changed = Instant::now();
    for (i, gw) in gateways.iter().enumerate() {
        let url = gw.url("/orders/items");
        eventually("the change reaches the gateway", Duration::from_secs(15), || async {
            (upstream_of(&http, &url, &token).await.as_deref() == Some("after")).then_some(())
        })
        .await;
        let since_back = back.elapsed();
        eprintln!(
            "gw{i}: change applied {:?} after the control plane returned ({:?} after the PUT)",
            since_back,
            changed.elapsed()
        );
        assert!(
            since_back < RESYNC + (changed - back),
            "gw{i} resynced {since_back:?} after the control plane returned (the PUT took {:?})",
            changed - back
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.stop().await;

    // --- Zero failed requests, before, during and after the outage.
    let failed: Vec<_> = samples.iter().filter(|s| s.status() != Some(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
    for kind in ["bearer0", "bearer1", "keyless0", "keyless1", "mint"] {
        let down = samples.iter().filter(|s| s.kind == kind && s.sent > killed && s.sent < back).count();
        assert!(down > 10, "{kind}: the load ran while the control plane was down ({down} requests)");
    }
    // Each gateway moved its load to the new upstream once, for good: an answer from `before`
    // after one from `after` would mean it went back to an older config.
    for kind in ["bearer0", "bearer1"] {
        let upstreams: Vec<String> =
            samples.iter().filter(|s| s.kind == kind).filter_map(|s| s.upstream()).collect();
        let first_after = upstreams.iter().position(|u| u == "after").expect("the load saw the change");
        assert!(upstreams[..first_after].iter().all(|u| u == "before"), "{kind}: {upstreams:?}");
        assert!(upstreams[first_after..].iter().all(|u| u == "after"), "{kind} went back to the old config");
    }
    eprintln!("{} requests, none failed; control plane down {DOWN:?}", samples.len());

    for (i, gw) in gateways.iter().enumerate() {
        assert!(is_running(gw.process.pid()));
        assert_no_panic(&format!("gw{i}"), &gw.process.logs());
    }
}
