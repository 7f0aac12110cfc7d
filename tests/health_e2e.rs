//! Health endpoints with real processes, as Kubernetes probes them: a gateway is ready only with
//! a config snapshot applied and Redis answering; a control plane only while its state store
//! answers, on `/readyz` and on the standard gRPC health service alike. Liveness stays up
//! throughout: restarting a process would not bring Redis back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::RedisServer;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Generous: the readiness cache holds an answer for a second, a PING gives up after half a
/// second, the gRPC health status is refreshed every two, and CI machines are slow.
const SETTLE: Duration = Duration::from_secs(15);

/// The HTTP status of a GET, or 0 when nothing answered.
async fn status(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The overall status (service "") of the control plane's gRPC health service.
async fn grpc_health(control_plane: &str) -> Option<ServingStatus> {
    let channel =
        tonic::transport::Channel::from_shared(control_plane.to_owned()).ok()?.connect().await.ok()?;
    let response =
        HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
    Some(response.into_inner().status())
}

async fn eventually_status(http: &reqwest::Client, url: &str, want: u16, what: &str) {
    eventually(what, SETTLE, || async { (status(http, url).await == want).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_is_ready_only_with_a_config_and_redis() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let redis_port = redis.port();
    let mut cp = ControlPlaneProcess::start_with_redis(&dir.path().join("cp"), dir.path(), &redis.url());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();

    // The control plane on the file store: live, ready, and SERVING over gRPC.
    assert_eq!(status(&http, &format!("{}/healthz", cp.url())).await, 200);
    assert_eq!(status(&http, &format!("{}/readyz", cp.url())).await, 200);
    assert_eq!(grpc_health(&cp.url()).await, Some(ServingStatus::Serving));

    // A gateway that has never received a config: live, but not ready, however long it waits.
    cp.kill();
    let gw = GatewayProcess::start("gw", &cp.url(), &redis.url(), dir.path());
    assert_eq!(status(&http, &gw.url("/healthz")).await, 200);
    for _ in 0..5 {
        assert_eq!(status(&http, &gw.url("/readyz")).await, 503, "ready without a config");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its log says so too: listening, not ready.
    assert!(gw.process.logs().contains("gateway listening"), "{}", gw.process.logs());
    assert!(!gw.process.logs().contains("gateway ready"), "{}", gw.process.logs());

    // Its first snapshot makes it ready, and the log says "ready" then.
    cp.restart();
    eventually_status(&http, &gw.url("/readyz"), 200, "gateway ready once it has a config").await;
    eventually("the log says the gateway is ready", Duration::from_secs(5), || async {
        gw.process.logs().contains("gateway ready").then_some(())
    })
    .await;

    // Redis gone: the gateway stops being ready (it could serve no protected request), yet stays
    // live. The control plane keeps its state in its data dir, so it stays ready.
    drop(redis);
    eventually_status(&http, &gw.url("/readyz"), 503, "gateway not ready without Redis").await;
    assert_eq!(status(&http, &gw.url("/healthz")).await, 200);
    assert_eq!(status(&http, &format!("{}/readyz", cp.url())).await, 200);

    // Redis back on the same address: ready again, without a restart.
    let _redis = RedisServer::start_on(redis_port);
    eventually_status(&http, &gw.url("/readyz"), 200, "gateway ready again with Redis back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_on_redis_is_ready_while_redis_answers() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let redis_port = redis.port();
    let cp = ControlPlaneProcess::start_replica("replica", dir.path(), &redis.url());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let (healthz, readyz) = (format!("{}/healthz", cp.url()), format!("{}/readyz", cp.url()));

    assert_eq!(status(&http, &healthz).await, 200);
    assert_eq!(status(&http, &readyz).await, 200);
    assert_eq!(grpc_health(&cp.url()).await, Some(ServingStatus::Serving));

    // Without its state store no admin write can commit: not ready, on HTTP and gRPC, but live.
    drop(redis);
    eventually_status(&http, &readyz, 503, "control plane not ready without its state store").await;
    eventually("gRPC health NOT_SERVING without the state store", SETTLE, || async {
        (grpc_health(&cp.url()).await == Some(ServingStatus::NotServing)).then_some(())
    })
    .await;
    assert_eq!(status(&http, &healthz).await, 200);

    let _redis = RedisServer::start_on(redis_port);
    eventually_status(&http, &readyz, 200, "control plane ready again with Redis back").await;
    eventually("gRPC health SERVING again", SETTLE, || async {
        (grpc_health(&cp.url()).await == Some(ServingStatus::Serving)).then_some(())
    })
    .await;
}

/// A role that cannot reach Redis at start stops with an error naming the server, but never
/// with the password its URL carries.
#[test]
fn an_unreachable_redis_stops_the_start_without_showing_its_password() {
    let url = format!("redis://admin:hunter2-redis-password@127.0.0.1:{}", gatehouse_testkit::free_port());
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let roles: [&[&str]; 2] = [
        &["gateway", "--control-plane", "http://127.0.0.1:9", "--redis", &url],
        &["control-plane", "--admin-secret", ADMIN_SECRET, "--data-dir", &data_dir, "--redis", &url],
    ];
    for args in roles {
        let out = run_to_exit(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started without Redis");
        assert!(stderr.contains("--redis redis://admin:********@127.0.0.1:"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "the password reached the logs: {stderr}");
    }
}

/// Runs gatehouse with `args` (and the node secret in the environment) until it exits.
fn run_to_exit(args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .env("GATEHOUSE_NODE_SECRET", NODE_SECRET)
        .output()
        .unwrap()
}

/// A secret that is too short is reported under the name it was given by: the variable or
/// the config file's setting, not a flag the operator never typed.
#[test]
fn a_short_secret_is_reported_under_the_name_it_was_given_by() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let base = ["control-plane", "--listen", "127.0.0.1:0", "--data-dir", &data_dir];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(binary());
        command.args(args).env_remove("GATEHOUSE_ADMIN_SECRET").env("GATEHOUSE_NODE_SECRET", NODE_SECRET);
        command.envs(env.iter().copied());
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{args:?} started with a short secret");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let too_short = "the admin secret must be at least 32 characters";

    let flag = run(&[&base[..], &["--admin-secret", "short"]].concat(), &[]);
    assert!(flag.contains(&format!("--admin-secret: {too_short}")), "{flag}");
    let env = run(&base, &[("GATEHOUSE_ADMIN_SECRET", "short")]);
    assert!(env.contains(&format!("GATEHOUSE_ADMIN_SECRET: {too_short}")), "{env}");
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, "[control-plane]\nadmin-secret = \"short\"\n").unwrap();
    let config = run(&[&base[..], &["--config", file.to_str().unwrap()]].concat(), &[]);
    let setting = format!("config file {}: setting control-plane.admin-secret: {too_short}", file.display());
    assert!(config.contains(&setting), "{config}");
}

/// A taken address stops the start with the flag and variable that choose another, not just
/// the operating system's "address in use".
#[test]
fn a_taken_address_stops_the_start_naming_the_setting_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let cases: [(&[&str], &str); 3] = [
        (&["dev", "--listen", &addr, "--admin-listen", "127.0.0.1:0"], "--listen or GATEHOUSE_LISTEN"),
        (
            &["dev", "--listen", "127.0.0.1:0", "--admin-listen", &addr],
            "--admin-listen or GATEHOUSE_ADMIN_LISTEN",
        ),
        (
            &["control-plane", "--listen", &addr, "--admin-secret", ADMIN_SECRET, "--data-dir", &data_dir],
            "--listen or GATEHOUSE_LISTEN",
        ),
    ];
    for (args, setting) in cases {
        let out = run_to_exit(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started on a taken address");
        let message = format!("cannot listen on {addr} (choose another address with {setting})");
        assert_eq!(stderr.matches(&message).count(), 1, "said once: {stderr}");
    }
}

/// A `--control-plane` without a scheme is refused at start, naming the flag, instead of being
/// retried forever by a gateway that never becomes ready.
#[test]
fn a_control_plane_url_without_a_scheme_stops_the_gateway_at_start() {
    let output = run_to_exit(&[
        "gateway",
        "--listen",
        "127.0.0.1:0",
        "--control-plane",
        "127.0.0.1:7070",
        "--redis",
        "redis://127.0.0.1:1",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--control-plane \"127.0.0.1:7070\" has no http:// or https:// scheme"),
        "{stderr}"
    );
}

/// Pointed at a gateway's port instead of the control plane's, a gateway says what answered, and
/// retries with its normal backoff: before, tonic read the JSON error body as gRPC frames
/// ("invalid compression flag: 123") after a call that looked open, about eight times a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_pointed_at_a_gateway_says_it_is_not_a_control_plane() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let first = GatewayProcess::start("first", "http://127.0.0.1:1", &redis.url(), dir.path());
    let wrong = format!("http://127.0.0.1:{}", first.port);
    let second = GatewayProcess::start("second", &wrong, &redis.url(), dir.path());
    // A gateway without a config answers 503 to everything but its probes; with one, 404.
    let explained = |logs: &str| {
        logs.lines().any(|line| {
            line.contains("this is not a Gatehouse control plane (HTTP ")
                && line.contains(&format!(" from {wrong})"))
        })
    };
    eventually("the explanation in the log", SETTLE, || async {
        explained(&second.process.logs()).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let before = second.process.logs().matches("config stream failed").count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let logs = second.process.logs();
    let tries = logs.matches("config stream failed").count() - before;
    assert!(!logs.contains("invalid compression flag"), "{logs}");
    // The backoff's cap is 500 ms plus up to half of it in jitter: at most about 7 tries in 3 s;
    // a reset after each try made it 24.
    assert!(tries <= 10, "{tries} tries in {:?}", started.elapsed());
    let status = status(&reqwest::Client::new(), &second.url("/readyz")).await;
    assert_eq!(status, 503, "a gateway without a config is not ready");
}
