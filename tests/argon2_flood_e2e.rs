//! A flood of wrong client secrets and wrong passwords (Argon2id, 19 MiB each) against a real
//! gateway for 20 s: its memory stays within idle + the Argon2 bound × 19 MiB (plus slack for
//! connections and threads), and a bystander keeps getting tokens from its own address, its
//! password verified in the same bounded pool, all the while.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::load::rss_kib;
use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::json;

const FLOOD: Duration = Duration::from_secs(20);
/// `--argon2-concurrency`: verifications at once, each in a 19 MiB buffer.
const BOUND: u64 = 2;
const ARGON2_KIB: u64 = 19 * 1024;
/// Connections, request buffers, blocking-pool threads: what a flood costs besides Argon2.
const SLACK_KIB: u64 = 40 * 1024;
const FLOODERS: usize = 8;
const TARGETS: usize = 4;

async fn token(http: &reqwest::Client, url: &str, from: &str, body: String) -> reqwest::StatusCode {
    http.post(url)
        .header("x-forwarded-for", from)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or_else(|e| panic!("token request failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argon2_flood_stays_within_its_memory_bound_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let flags = [
        "--trusted-proxies",
        "127.0.0.1/32",
        "--serving-threads",
        "2",
        "--argon2-concurrency",
        "2",
        // Counting off: every guess must reach Argon2 for the bound to be what is tested.
        "--auth-failure-limit",
        "0",
    ];
    let gw = GatewayProcess::start_with("gw", &cp.url(), &redis.url(), dir.path(), "warn", &flags);
    let http = reqwest::Client::new();
    let api = json!({
        "api_id": "flooded", "listen_path": "/flooded/", "upstream_url": upstream.url(),
        "oauth": {"allowed_grant_types": ["client_credentials", "password"]}
    });
    admin_ok(&http, &cp, "POST", "/api/apis", api).await;
    for n in 0..TARGETS {
        let client = json!({"client_id": format!("c{n}"), "secret": format!("chosen-secret-{n}"),
            "redirect_uri": "https://app.example/cb"});
        admin_ok(&http, &cp, "POST", "/api/apis/oauth/flooded", client).await;
        admin_ok(
            &http,
            &cp,
            "POST",
            "/api/users",
            json!({"username": format!("u{n}"), "password": "user-password"}),
        )
        .await;
    }
    let bystander = json!({"client_id": "bystander", "secret": "bystander-chosen-secret",
        "redirect_uri": "https://app.example/cb"});
    admin_ok(&http, &cp, "POST", "/api/apis/oauth/flooded", bystander).await;
    admin_ok(&http, &cp, "POST", "/api/users", json!({"username": "bob", "password": "bob-password"})).await;
    let url = gw.url("/flooded/oauth/token");
    let bystander_body = || {
        "grant_type=password&client_id=bystander&client_secret=bystander-chosen-secret&username=bob&password=bob-password"
            .to_owned()
    };
    eventually("the gateway has the API, its clients and users", Duration::from_secs(10), || async {
        (token(&http, &url, "192.0.2.1", bystander_body()).await == 200).then_some(())
    })
    .await;

    let pid = gw.process.pid();
    let idle = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let mut flooders = tokio::task::JoinSet::new();
    for f in 0..FLOODERS {
        let (http, url, stop, refused) = (http.clone(), url.clone(), stop.clone(), refused.clone());
        flooders.spawn(async move {
            let from = format!("203.0.113.{}", 10 + f);
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let target = (f + n) % TARGETS;
                let body = if n.is_multiple_of(2) {
                    format!("grant_type=client_credentials&client_id=c{target}&client_secret=guess-{n}")
                } else {
                    format!(
                        "grant_type=password&client_id=c{target}&client_secret=chosen-secret-{target}&username=u{target}&password=guess-{n}"
                    )
                };
                let status = token(&http, &url, &from, body).await;
                assert!(matches!(status.as_u16(), 400 | 401 | 429), "a wrong guess answered {status}");
                refused.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        });
    }

    let started = Instant::now();
    let mut peak = idle;
    let mut served = 0;
    while started.elapsed() < FLOOD {
        let status = token(&http, &url, "198.51.100.50", bystander_body()).await;
        assert_eq!(status, 200, "the bystander is refused after {:?} of flood", started.elapsed());
        served += 1;
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = flooders.join_next().await {
        done.unwrap();
    }
    peak = peak.max(rss_kib(pid));
    let limit = idle + BOUND * ARGON2_KIB + SLACK_KIB;
    let guesses = refused.load(Ordering::Relaxed);
    eprintln!(
        "idle {idle} KiB, peak {peak} KiB, limit {limit} KiB, {guesses} guesses, {served} bystander tokens"
    );
    assert!(guesses > 2 * FLOODERS as u64, "the flood ran ({guesses} guesses)");
    assert!(served > 0);
    assert!(peak <= limit, "RSS peaked at {peak} KiB, past idle {idle} KiB + {BOUND} × 19 MiB + slack");
}
