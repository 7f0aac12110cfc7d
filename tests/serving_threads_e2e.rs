//! A gateway serving on several threads (`--serving-threads`, see `crates/gateway/src/shards.rs`)
//! behaves as one: every thread is running, connections arriving at once are all served, a
//! quota counted from every thread is spent exactly once, and SIGTERM drains them all.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use reqwest::StatusCode;
use serde_json::json;

const THREADS: usize = 3;
const SYNC: Duration = Duration::from_secs(15);

/// The names of the process's threads that serve traffic (`/proc/<pid>/task/*/comm`).
fn serving_threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("gh-serve-"))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_serving_threads_act_as_one_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    // Slow enough that the requests below are all in flight, on their own connections, at once.
    let upstream = EchoUpstream::start_with_delay("upstream", Duration::from_millis(100)).await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let threads = THREADS.to_string();
    let mut gw = GatewayProcess::start_with(
        "sharded-gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--serving-threads", &threads, "--session-cache", "--drain-delay", "0"],
    );
    // The port opens once the listener is bound, which can be before every serving thread has
    // been spawned and named: wait for them rather than read the list at that instant.
    let pid = gw.process.pid();
    eventually("every serving thread named", Duration::from_secs(20), || async move {
        (serving_threads(pid) == ["gh-serve-0", "gh-serve-1", "gh-serve-2"]).then_some(())
    })
    .await;

    let http = reqwest::Client::new();
    for (id, oauth) in [("open", false), ("metered", true)] {
        let mut api = json!({"api_id": id, "listen_path": format!("/{id}/"), "strip_listen_path": true,
                             "upstream_url": upstream.url()});
        if oauth {
            api["oauth"] = json!({"allowed_grant_types": ["client_credentials"]});
        }
        admin_ok(&http, &cp, "POST", "/api/apis", api).await;
    }
    admin_ok(
        &http,
        &cp,
        "POST",
        "/api/portal/policies",
        json!({"id": "ten", "name": "ten", "active": true, "quota_max": 10, "quota_renewal_rate": 3600,
               "access_rights": {"metered": {"api_id": "metered"}}}),
    )
    .await;
    let client = admin_ok(
        &http,
        &cp,
        "POST",
        "/api/apis/oauth/metered",
        json!({"client_id": "metered-client", "policy_id": "ten"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap();
    let open = gw.url("/open/x");
    eventually("the gateway serves the keyless API", SYNC, || async {
        (http.get(&open).send().await.ok()?.status() == StatusCode::OK).then_some(())
    })
    .await;

    // Each request on a connection of its own, all at once: whichever thread accepts a
    // connection serves it.
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let keyless = (0..24).map(|_| {
        let (http, url) = (fresh(), open.clone());
        async move { http.get(&url).send().await.map(|r| r.status()) }
    });
    let statuses = futures_util::future::join_all(keyless).await;
    assert!(statuses.iter().all(|s| matches!(s, Ok(StatusCode::OK))), "{statuses:?}");

    // The quota is counted from every thread against the one shared counter: 10 of 30 pass.
    let token = access_token(&http, &gw.url("/metered/oauth/token"), "metered-client", secret).await;
    let metered = gw.url("/metered/x");
    let spend = (0..30).map(|_| {
        let (http, url, token) = (fresh(), metered.clone(), token.clone());
        async move { http.get(&url).bearer_auth(&token).send().await.map(|r| r.status()) }
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(spend).await.into_iter().map(Result::unwrap).collect();
    let passed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
    assert_eq!((passed, refused), (10, 20), "{statuses:?}");

    assert!(gw.process.terminate(SYNC), "every serving thread drains and the gateway exits cleanly");
}
