//! Read-your-writes: an admin write answers once every connected gateway has applied it, so a
//! client created and used at once works on any gateway; a gateway that cannot apply it in
//! time is named in the answer instead of holding it up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};

const REVISION: &str = "gatehouse-revision";
const NOT_APPLIED: &str = "gatehouse-not-applied-by";

async fn post(http: &reqwest::Client, cp: &str, path: &str, body: Value) -> reqwest::Response {
    let r = http
        .post(format!("{cp}{path}"))
        .header("authorization", ADMIN_SECRET)
        .json(&body)
        .send()
        .await
        .expect("admin request");
    assert_eq!(r.status(), 200, "POST {path}");
    r
}

/// `POST /api/apis` with `body`; `None` when the call failed on the way.
async fn create_api(http: &reqwest::Client, cp: &str, body: Value) -> Option<reqwest::Response> {
    http.post(format!("{cp}/api/apis")).header("authorization", ADMIN_SECRET).json(&body).send().await.ok()
}

/// The fleet view, `GET /api/gateways`.
async fn fleet(http: &reqwest::Client, cp: &str) -> Option<Value> {
    let r = http.get(format!("{cp}/api/gateways")).header("authorization", ADMIN_SECRET).send().await.ok()?;
    r.json().await.ok()
}

fn revision(r: &reqwest::Response) -> u64 {
    r.headers().get(REVISION).expect("a write names its revision").to_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_works_on_every_gateway_as_soon_as_its_creation_returns() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gateways: Vec<GatewayProcess> = (1..=3)
        .map(|i| GatewayProcess::start(&format!("ryw-gw{i}"), &cp.url(), &redis.url(), dir.path()))
        .collect();
    let http = reqwest::Client::new();
    // Every gateway follows the control plane before the first write: one that has not yet
    // connected is not waited for (it will get a snapshot with everything when it does).
    eventually("three gateways follow the control plane", Duration::from_secs(20), || async {
        (fleet(&http, &cp.url()).await?["gateways"].as_array()?.len() == 3).then_some(())
    })
    .await;

    let api = json!({"api_id": "svc", "listen_path": "/svc/", "upstream_url": upstream.url(),
        "oauth": {"allowed_grant_types": ["client_credentials"]}});
    let created = post(&http, &cp.url(), "/api/apis", api).await;
    let mut last = revision(&created);
    assert!(created.headers().get(NOT_APPLIED).is_none());

    let mut refused = Vec::new();
    for i in 0..200 {
        let client = json!({"client_id": format!("app-{i}"), "redirect_uri": "http://app.example/cb"});
        let created = post(&http, &cp.url(), "/api/apis/oauth/svc", client).await;
        let this = revision(&created);
        assert!(this > last, "revisions grow: {this} after {last}");
        last = this;
        assert!(created.headers().get(NOT_APPLIED).is_none(), "every gateway applied client {i}");
        let body: Value = created.json().await.unwrap();
        let secret = body["secret"].as_str().unwrap().to_owned();
        for gw in &gateways {
            let (token_url, client_id) = (gw.url("/svc/oauth/token"), format!("app-{i}"));
            let status = client_credentials_token(&http, &token_url, &client_id, &secret).await.status();
            if status != 200 {
                refused.push((i, gw.port, status));
            }
        }
    }
    assert!(refused.is_empty(), "tokens refused right after the client was created: {refused:?}");

    // The fleet view shows what each gateway reported applying: the last write.
    let fleet = fleet(&http, &cp.url()).await.unwrap();
    let applied: Vec<String> =
        fleet["gateways"].as_array().unwrap().iter().map(|g| g["applied_revision"].to_string()).collect();
    // pbjson writes 64-bit integers as JSON strings.
    assert_eq!(applied, vec![format!("\"{last}\""); 3], "{fleet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_that_cannot_apply_a_write_in_time_is_named_and_does_not_hold_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let cp = ControlPlaneProcess::start_with_args(
        "control-plane",
        &dir.path().join("data"),
        dir.path(),
        &["--apply-wait", "0.5"],
    );
    let _live = GatewayProcess::start("ryw-live", &cp.url(), &redis.url(), dir.path());
    let frozen = GatewayProcess::start("ryw-frozen", &cp.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();
    let api = |id: &str| json!({"api_id": id, "listen_path": format!("/{id}/"), "upstream_url": "http://127.0.0.1:9"});
    // Both gateways have reported a revision once the first write is answered without names.
    eventually("both gateways report what they apply", Duration::from_secs(20), || async {
        let r = create_api(&http, &cp.url(), api(&format!("warm-{}", rand_suffix()))).await?;
        (r.status() == 200 && r.headers().get(NOT_APPLIED).is_none()).then_some(())
    })
    .await;

    // A stopped process keeps its connection open but applies nothing: the write waits its
    // half second, then answers, naming it.
    let pid = frozen.process.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let started = Instant::now();
    let answered = post(&http, &cp.url(), "/api/apis", api("during")).await;
    let waited = started.elapsed();
    // `gatehouse admin` says so on stderr, and still succeeds: the write is done.
    let file = dir.path().join("cli-api.json");
    std::fs::write(&file, api("from-cli").to_string()).unwrap();
    let cli = std::process::Command::new(binary())
        .args(["admin", "--control-plane", &cp.url(), "apis", "create", "--file", file.to_str().unwrap()])
        .env("GATEHOUSE_ADMIN_SECRET", ADMIN_SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(cli.status.success(), "{stderr}");
    assert!(stderr.contains("warning: done, but not yet served by: ryw-frozen"), "{stderr}");
    assert!(
        std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success(),
        "the gateway resumes"
    );
    assert_eq!(answered.headers().get(NOT_APPLIED).unwrap(), "ryw-frozen");
    assert!(waited >= Duration::from_millis(450), "waited {waited:?}");
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");

    // Resumed, it catches up and later writes wait for it again, briefly.
    eventually("the resumed gateway applies writes again", Duration::from_secs(10), || async {
        let r = create_api(&http, &cp.url(), api(&format!("after-{}", rand_suffix()))).await?;
        (r.status() == 200 && r.headers().get(NOT_APPLIED).is_none()).then_some(())
    })
    .await;
    // A read commits nothing: no revision, no wait.
    let read = http
        .get(format!("{}/api/apis", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.headers().get(REVISION).is_none());
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
