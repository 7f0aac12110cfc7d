//! Leased limits across real gateway processes on one Redis: a busy client's limit is counted in
//! leases (few store calls), the requests admitted by all gateways together never exceed the
//! limit and fall short of it only by what leases hold, and a gateway killed holding a lease
//! does not keep its cells from the others. The small-limit exactness tests (a few requests over
//! two or three gateways) are in `cluster_e2e.rs`, `dataplane_e2e.rs` and `skeleton_e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};

/// The shared rate limit, per second (its burst too).
const RATE: u64 = 400;
/// The offered load is three times the limit, spread over the gateways.
const OFFERED_PER_SECOND: u64 = 3 * RATE;
const RUN: Duration = Duration::from_secs(3);

struct Stack {
    _dir: tempfile::TempDir,
    redis: RedisServer,
    _upstream: EchoUpstream,
    _cp: ControlPlaneProcess,
    gateways: Vec<GatewayProcess>,
    /// A token of each of two clients, limited apart.
    token: String,
    other_token: String,
}

/// A control plane, `n` gateways, an API whose policy allows `RATE` per second, and one token.
async fn stack(n: usize) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateways: Vec<GatewayProcess> = (0..n)
        .map(|i| GatewayProcess::start(&format!("lease-gw{i}"), &cp.url(), &redis.url(), dir.path()))
        .collect();
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        http.post(format!("{}{path}", cp.url())).header("authorization", ADMIN_SECRET).json(&body).send()
    };
    let api = json!({"api_id": "svc", "listen_path": "/svc/", "upstream_url": upstream.url(),
                     "oauth": {"allowed_grant_types": ["client_credentials"]}});
    assert_eq!(admin("/api/apis", api).await.unwrap().status(), 200);
    let policy = json!({"id": "busy", "name": "busy", "rate": RATE, "per": 1});
    assert_eq!(admin("/api/portal/policies", policy).await.unwrap().status(), 200);
    let mut tokens = Vec::new();
    for client_id in ["app", "other"] {
        let client: Value =
            admin("/api/apis/oauth/svc", json!({"client_id": client_id, "policy_id": "busy"}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let secret = client["secret"].as_str().unwrap().to_owned();
        // Every gateway has the client before the load starts.
        let mut token = String::new();
        for gw in &gateways {
            let url = gw.url("/svc/oauth/token");
            token = eventually("the gateway issues tokens", Duration::from_secs(10), || async {
                let r = client_credentials_token(&http, &url, client_id, &secret).await;
                let body: Value = r.json().await.ok()?;
                body["access_token"].as_str().map(str::to_owned)
            })
            .await;
        }
        tokens.push(token);
    }
    let other_token = tokens.pop().unwrap();
    let token = tokens.pop().unwrap();
    Stack { _dir: dir, redis, _upstream: upstream, _cp: cp, gateways, token, other_token }
}

/// Offers `per_second` requests a second for `run`, spread over `urls` by paced tasks; the
/// statuses, and how many requests were sent.
async fn offer(urls: &[String], token: &str, per_second: u64, run: Duration) -> (u64, u64, u64) {
    const TASKS_PER_URL: u64 = 8;
    let tasks = TASKS_PER_URL * urls.len() as u64;
    let pace = Duration::from_secs(1) * u32::try_from(tasks).unwrap() / u32::try_from(per_second).unwrap();
    let started = Instant::now();
    let mut handles = Vec::new();
    for (i, url) in urls.iter().cycle().take(tasks as usize).enumerate() {
        let (url, token) = (url.clone(), token.to_owned());
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::from_std(started + pace * u32::try_from(i).unwrap() / 8),
                pace,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let (mut ok, mut limited, mut other) = (0u64, 0u64, 0u64);
            loop {
                tick.tick().await;
                if started.elapsed() >= run {
                    return (ok, limited, other);
                }
                match http.get(&url).bearer_auth(&token).send().await.map(|r| r.status().as_u16()) {
                    Ok(200) => ok += 1,
                    Ok(429) => limited += 1,
                    _ => other += 1,
                }
            }
        }));
    }
    let mut totals = (0, 0, 0);
    for handle in handles {
        let (ok, limited, other) = handle.await.unwrap();
        totals = (totals.0 + ok, totals.1 + limited, totals.2 + other);
    }
    totals
}

/// Limit-script runs Redis has served so far (EVALSHA, or EVAL on a script-cache miss).
async fn script_calls(redis: &RedisServer) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap();
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .filter_map(|line| line.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateways_at_three_times_the_limit_admit_at_most_the_limit_and_nearly_all_of_it() {
    let s = stack(3).await;
    let urls: Vec<String> = s.gateways.iter().map(|gw| gw.url("/svc/x")).collect();

    // Under the limit, a busy client is served from leases: all admitted, few store calls.
    let calls_before = script_calls(&s.redis).await;
    let (ok, limited, other) = offer(&urls, &s.other_token, RATE / 2, Duration::from_secs(2)).await;
    let calls = script_calls(&s.redis).await - calls_before;
    eprintln!("under the limit: {ok} admitted, {limited} limited, {other} other; {calls} limit-script calls");
    assert_eq!((limited, other), (0, 0), "under the limit, everything is admitted");
    assert!(calls * 3 < ok, "{calls} store calls for {ok} requests: leases should save most");

    // At three times the limit: never more than the limit, and nearly all of it.
    let started = Instant::now();
    let (ok, limited, other) = offer(&urls, &s.token, OFFERED_PER_SECOND, RUN).await;
    let elapsed = started.elapsed();
    let sent = ok + limited + other;
    eprintln!(
        "offered {sent} in {elapsed:?} ({:.0}/s): {ok} admitted, {limited} limited, {other} other",
        sent as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(other, 0, "every request is admitted or rate limited");
    // GCRA admits the burst, then the rate: over the run (and the last request's flight, which
    // `elapsed` includes), at most this many.
    let ceiling = RATE + (RATE as f64 * elapsed.as_secs_f64()).ceil() as u64;
    assert!(ok <= ceiling, "admitted {ok}, more than the limit allows ({ceiling})");
    let floor = (0.9 * (RATE as f64 * RUN.as_secs_f64() + RATE as f64)) as u64;
    assert!(ok >= floor, "admitted {ok}, under 90% of what the limit allows ({floor}) with {sent} offered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_holding_a_lease_does_not_keep_its_cells() {
    let mut s = stack(2).await;
    let busy = [s.gateways[0].url("/svc/x")];
    // Gateway 0 alone is busy, so it holds leases when it is killed.
    let (ok, _, other) = offer(&busy, &s.token, OFFERED_PER_SECOND, Duration::from_millis(1_500)).await;
    assert_eq!(other, 0);
    assert!(ok > 0);
    s.gateways[0].process.kill();
    // Within a lease's lifetime (and the second the bucket takes to refill whatever the busy
    // gateway spent), the other gateway gets the whole burst.
    tokio::time::sleep(Duration::from_millis(1_000 + 1_000)).await;
    let started = Instant::now();
    let (ok, other) = admitted_until_limited(&s.gateways[1].url("/svc/x"), &s.token).await;
    let elapsed = started.elapsed();
    eprintln!("after the kill: {ok} admitted before the first 429, in {elapsed:?}");
    assert_eq!(other, 0);
    let refilled = (RATE as f64 * elapsed.as_secs_f64()).ceil() as u64;
    assert!(ok >= RATE * 95 / 100, "only {ok} of the burst of {RATE} came back");
    assert!(ok <= RATE + refilled, "admitted {ok}, more than the limit allows");
}

/// Requests `url` from a few tasks at once until one is rate limited: how many were admitted
/// (the burst available, plus what refilled meanwhile), and how many failed otherwise.
async fn admitted_until_limited(url: &str, token: &str) -> (u64, u64) {
    let limited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (url, token, limited) = (url.to_owned(), token.to_owned(), std::sync::Arc::clone(&limited));
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut ok, mut other) = (0u64, 0u64);
            while !limited.load(std::sync::atomic::Ordering::SeqCst) {
                match http.get(&url).bearer_auth(&token).send().await.map(|r| r.status().as_u16()) {
                    Ok(200) => ok += 1,
                    Ok(429) => limited.store(true, std::sync::atomic::Ordering::SeqCst),
                    _ => other += 1,
                }
            }
            (ok, other)
        }));
    }
    let mut totals = (0, 0);
    for handle in handles {
        let (ok, other) = handle.await.unwrap();
        totals = (totals.0 + ok, totals.1 + other);
    }
    totals
}
