//! Upstreams that fail: one refusing connections, one accepting and never answering, one whose
//! listen queue is full (connects hang), one slower than the timeout, and one slow but within
//! it. Each gets the right answer (502 or 504 JSON, or 200) within the configured bounds while
//! many clients call them at once, and the gateway does not pile up connections or memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::load::{Load, Sample, assert_no_panic, is_running, open_sockets, rss_kib};
use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer, free_port};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The gateway's bounds for this test (`--upstream-connect-timeout`, `--upstream-timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// What a timeout may overrun by on a busy two-core machine.
const SLACK: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_upstreams_time_out_without_pile_up() {
    tokio::time::timeout(Duration::from_secs(120), run()).await.expect("the test finishes within 2 minutes");
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let gw = GatewayProcess::start_with(
        "gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--upstream-connect-timeout", "0.5", "--upstream-timeout", "1"],
    );
    let pid = gw.process.pid();
    let http = reqwest::Client::new();

    // Nothing listens on `refused`'s port.
    let refused = format!("http://127.0.0.1:{}", free_port());
    let (blackhole, held) = blackhole().await;
    let (full_queue, _queue) = full_listen_queue().await;
    let slow = EchoUpstream::start_with_delay("slow", RESPONSE_TIMEOUT * 3).await;
    let slowish = EchoUpstream::start_with_delay("slowish", Duration::from_millis(200)).await;
    for (id, upstream) in [
        ("refused", refused),
        ("blackhole", blackhole),
        ("fullqueue", full_queue),
        ("slow", slow.url()),
        ("slowish", slowish.url()),
    ] {
        let api = json!({"api_id": id, "listen_path": format!("/{id}/"), "upstream_url": upstream});
        admin(&http, &cp.url(), "POST", "/api/apis", api).await;
    }
    let last = gw.url("/slowish/x");
    eventually("the gateway has the APIs", Duration::from_secs(10), || async {
        (http.get(&last).send().await.ok()?.status() == 200).then_some(())
    })
    .await;

    // --- Baseline: the healthy upstream under the same concurrency, then no client connected.
    run_load(&gw, &[("slowish", 4)], Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (sockets_before, rss_before) = (open_sockets(pid), rss_kib(pid));

    // --- Two storms: every failure mode at once, plus healthy traffic beside it.
    let storm = [("refused", 4), ("blackhole", 6), ("fullqueue", 4), ("slow", 6), ("slowish", 2)];
    let mut rss_after = Vec::new();
    let mut total = 0;
    for round in 1..=2 {
        let samples = run_load(&gw, &storm, Duration::from_secs(4)).await;
        total += samples.len();
        check_answers(&samples);
        // Let the last timeouts fire and the closed client connections be noticed.
        tokio::time::sleep(RESPONSE_TIMEOUT + Duration::from_millis(500)).await;
        let sockets = open_sockets(pid);
        let rss = rss_kib(pid);
        eprintln!(
            "round {round}: {} requests; gateway sockets {sockets_before} → {sockets}, RSS {rss_before} → {rss} KiB; \
             blackhole connections still open: {}",
            samples.len(),
            held.load(Ordering::Relaxed)
        );
        // The pool keeps idle connections to healthy upstreams only; a timed-out or refused
        // request leaves nothing open behind it.
        assert!(
            sockets <= sockets_before + 4,
            "round {round}: sockets piled up: {sockets_before} → {sockets}"
        );
        rss_after.push(rss);
    }
    // The gateway closed every connection it gave up on: the black hole sees them all close.
    eventually("the gateway closes its timed-out upstream connections", Duration::from_secs(3), || async {
        (held.load(Ordering::Relaxed) == 0).then_some(())
    })
    .await;
    // Memory: a little for allocator and pool warm-up, then flat. A leak per request (a task, a
    // connection, a buffer) would grow with each of the thousands of requests of a round.
    assert!(rss_after[0] < rss_before + 32 * 1024, "RSS grew {rss_before} → {} KiB", rss_after[0]);
    assert!(rss_after[1] < rss_after[0] + 8 * 1024, "RSS kept growing: {rss_after:?} KiB");
    eprintln!("{total} requests in two rounds");

    assert!(is_running(pid));
    assert_no_panic("gw", &gw.process.logs());
}

/// Runs `workers` tasks per API for `duration` on a client of its own, which is then dropped so
/// the gateway's client-side sockets close.
async fn run_load(gw: &GatewayProcess, apis: &[(&'static str, usize)], duration: Duration) -> Vec<Sample> {
    let http = reqwest::Client::new();
    let mut load = Load::new();
    for &(api, workers) in apis {
        for _ in 0..workers {
            let (h, url) = (http.clone(), gw.url(&format!("/{api}/x")));
            load.spawn(api, Duration::from_millis(5), move || h.get(&url));
        }
    }
    tokio::time::sleep(duration).await;
    load.stop().await
}

/// Each failure mode's answer, and that it came within its bound.
fn check_answers(samples: &[Sample]) {
    for s in samples {
        let (status, error, at_least, at_most) = match s.kind {
            "refused" => (502, Some("upstream unavailable"), Duration::ZERO, SLACK),
            "fullqueue" => (504, Some("upstream timed out"), CONNECT_TIMEOUT, CONNECT_TIMEOUT + SLACK),
            "blackhole" | "slow" => {
                (504, Some("upstream timed out"), RESPONSE_TIMEOUT, RESPONSE_TIMEOUT + SLACK)
            }
            _ => (200, None, Duration::from_millis(200), Duration::from_millis(200) + SLACK),
        };
        assert_eq!(s.status(), Some(status), "{s:?}");
        if let Some(error) = error {
            assert!(s.is_json(), "{s:?}");
            let body: serde_json::Value = serde_json::from_str(s.body()).unwrap();
            assert_eq!(body["error"], error, "{s:?}");
        }
        assert!(
            s.latency >= at_least && s.latency <= at_most,
            "{} answered in {:?}: {s:?}",
            s.kind,
            s.latency
        );
    }
    for kind in ["refused", "blackhole", "fullqueue", "slow", "slowish"] {
        let n = samples.iter().filter(|s| s.kind == kind).count();
        assert!(n >= 4, "{kind}: only {n} requests ran");
    }
}

/// An upstream that accepts connections, reads whatever comes and never answers. The counter
/// says how many connections are still open from the other side.
async fn blackhole() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let open = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&open);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // Until the gateway closes its end (0) or resets it (Err).
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                counter.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    (url, open)
}

/// A listener that never accepts, with its queue already full (backlog 0 holds one connection,
/// made here): Linux drops further SYNs, so a connect hangs as to a host that went away.
async fn full_listen_queue() -> (String, (tokio::net::TcpListener, TcpStream)) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    let filler = TcpStream::connect(addr).await.unwrap();
    (format!("http://{addr}"), (listener, filler))
}
