//! A gateway sent SIGTERM under load: it reports not-ready, keeps serving through the drain
//! delay, finishes what is in flight, and exits cleanly. A client that, like a load balancer,
//! stops sending once readiness turns false sees zero failed requests.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    // Slow enough that requests are in flight when the signal lands.
    let upstream = EchoUpstream::start_with_delay("slow", Duration::from_millis(150)).await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let mut gw = GatewayProcess::start_with(
        "draining-gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--drain-delay", "1", "--drain-timeout", "10"],
    );
    let http = reqwest::Client::new();
    let api = json!({"api_id": "slow", "listen_path": "/slow/", "upstream_url": upstream.url()});
    let r = http
        .post(format!("{}/api/apis", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let url = gw.url("/slow/x");
    eventually("the gateway serves the API", Duration::from_secs(10), || async {
        (http.get(&url).send().await.ok()?.status() == 200).then_some(())
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, stop) = (http.clone(), url.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).send().await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => failed.push(format!("status {}", r.status())),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill").args(["-TERM", &gw.process.pid().to_string()]).status().unwrap();
    assert!(status.success());
    // The load balancer's view: readiness turns false while requests are still served.
    let ready = gw.url("/readyz");
    eventually("readiness turns false on SIGTERM", Duration::from_secs(5), || async {
        (http.get(&ready).send().await.ok()?.status() == 503).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut total_ok = 0;
    for worker in workers {
        let (ok, failed) = worker.await.unwrap();
        assert!(failed.is_empty(), "failed requests during the drain: {failed:?}");
        total_ok += ok;
    }
    assert!(total_ok > 8, "the load ran ({total_ok} requests)");
    assert!(gw.process.terminate(Duration::from_secs(15)), "the gateway exits cleanly after draining");
}
