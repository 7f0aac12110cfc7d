//! A gateway sent SIGTERM under load: it reports not-ready, keeps serving through the drain
//! delay, finishes what is in flight, and exits cleanly. A client that, like a load balancer,
//! stops sending once readiness turns false sees zero failed requests; behind a balancer that
//! follows readiness, with bearer tokens and requests outliving the listener, nothing fails
//! either, across the drain and the exit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

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

/// The same signal behind a balancer, as Kubernetes runs it: two gateways, clients that send
/// bearer-token requests (session, limits and analytics in Redis) to whichever gateway a probe
/// last saw ready, and requests slower than the drain delay, so some are still in flight when
/// the listener closes. The test above stops its load once readiness turns false; here load
/// goes on across the whole drain and the exit, and still nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_behind_a_balancer_fails_no_request() {
    tokio::time::timeout(Duration::from_secs(120), behind_a_balancer())
        .await
        .expect("finishes within 2 minutes");
}

async fn behind_a_balancer() {
    use common::load::{Load, assert_no_panic};
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    const DRAIN_DELAY: Duration = Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let quick = EchoUpstream::start_with_delay("quick", Duration::from_millis(20)).await;
    // Slower than the drain delay: sent just before the signal, still running when the
    // listener closes.
    let slow = EchoUpstream::start_with_delay("slow", DRAIN_DELAY + Duration::from_millis(500)).await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let drain = ["--drain-delay", "1", "--drain-timeout", "10"];
    let leaving = GatewayProcess::start_with("leaving", &cp.url(), &redis.url(), dir.path(), "info", &drain);
    let staying = GatewayProcess::start_with("staying", &cp.url(), &redis.url(), dir.path(), "info", &drain);
    let http = reqwest::Client::new();
    for (id, upstream) in [("quick", quick.url()), ("slow", slow.url())] {
        let api = json!({"api_id": id, "listen_path": format!("/{id}/"), "upstream_url": upstream, "token_auth": true});
        admin(&http, &cp.url(), "POST", "/api/apis", api).await;
    }
    let issuer = json!({"api_id": "issuer", "listen_path": "/issuer/", "upstream_url": quick.url(),
                        "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin(&http, &cp.url(), "POST", "/api/apis", issuer).await;
    let rights = json!({"quick": {"api_id": "quick"}, "slow": {"api_id": "slow"}});
    let policy =
        json!({"id": "p", "name": "p", "active": true, "rate": 100000, "per": 1, "access_rights": rights});
    admin(&http, &cp.url(), "POST", "/api/portal/policies", policy).await;
    let client = admin(
        &http,
        &cp.url(),
        "POST",
        "/api/apis/oauth/issuer",
        json!({"client_id": "c", "policy_id": "p"}),
    )
    .await;
    let secret = client["secret"].as_str().unwrap().to_owned();
    for gw in [&leaving, &staying] {
        wait_for_client(&http, &gw.url("/issuer/oauth/introspect"), "c", &secret).await;
    }
    let token = client_credentials_token(&http, &staying.url("/issuer/oauth/token"), "c", &secret).await;
    let token = token.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // The balancer: a probe polls /readyz every 50 ms, as an endpoints controller would, and
    // clients alternate over the gateways it last saw ready.
    let ports = [leaving.port, staying.port];
    let ready = Arc::new([AtomicBool::new(true), AtomicBool::new(true)]);
    let stop_probe = Arc::new(AtomicBool::new(false));
    let probe = {
        let (http, ready, stop) = (http.clone(), Arc::clone(&ready), Arc::clone(&stop_probe));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for (i, port) in ports.iter().enumerate() {
                    let url = format!("http://127.0.0.1:{port}/readyz");
                    let up = matches!(http.get(&url).send().await, Ok(r) if r.status() == 200);
                    ready[i].store(up, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let pick = move |ready: &[AtomicBool; 2]| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let choice = n % 2;
        if ready[choice].load(Ordering::Relaxed) { choice } else { 1 - choice }
    };
    let mut load = Load::new();
    for (kind, path, workers) in [("quick", "/quick/x", 4), ("slow", "/slow/x", 4)] {
        for _ in 0..workers {
            let (h, t, ready, pick) = (http.clone(), token.clone(), Arc::clone(&ready), pick.clone());
            load.spawn(kind, Duration::from_millis(5), move || {
                let port = ports[pick(&ready)];
                h.get(format!("http://127.0.0.1:{port}{path}")).bearer_auth(&t)
            });
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Besides the load, a few slow requests sent to the leaving gateway just before the signal:
    // they are certainly still running when its listener closes.
    let in_flight: Vec<_> = (0..4)
        .map(|_| {
            let request = http.get(leaving.url("/slow/in-flight")).bearer_auth(&token).send();
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = request.await.map(|r| r.status().as_u16()).map_err(|e| e.to_string());
                (status, sent.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signalled = Instant::now();
    // `terminate` sends SIGTERM and waits (blocking) for the exit: through the drain delay, the
    // drain and the exit, with the other gateway taking over.
    let clean_exit = tokio::task::spawn_blocking(move || {
        let mut leaving = leaving;
        leaving.process.terminate(Duration::from_secs(15))
    });
    assert!(clean_exit.await.unwrap(), "the gateway exits cleanly after draining");
    let exited = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = load.stop().await;
    stop_probe.store(true, Ordering::Relaxed);
    probe.await.unwrap();

    let failed: Vec<_> = samples.iter().filter(|s| s.status() != Some(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(5)]
    );
    // Those slow requests outlived the listener, and were answered.
    let listener_closed = signalled + DRAIN_DELAY;
    for request in in_flight {
        let (status, took) = request.await.unwrap();
        assert_eq!(status, Ok(200), "a request in flight when the listener closed");
        assert!(Instant::now() > listener_closed && took > DRAIN_DELAY, "it spanned the close ({took:?})");
    }
    let after_exit = samples.iter().filter(|s| s.sent > exited).count();
    assert!(after_exit > 0, "the load went on after the gateway exited");
    eprintln!("{} requests, none failed; drain and exit took {:?}", samples.len(), exited - signalled);
    assert_no_panic("staying", &staying.process.logs());
}
