//! Slow and idle clients (slowloris) against real gateway and control-plane processes: hundreds
//! of connections that send half a request head, or half an OAuth form or admin body, do not
//! stop anyone else from being served, and every one of them is closed (or answered 408) within
//! its deadline. The connection cap admits probes past it and closes the rest on accept.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// `--header-read-timeout` and `--body-read-timeout` for these tests: short, to keep them short.
const DEADLINE: Duration = Duration::from_secs(3);
/// What a deadline may overrun by on a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(3);
const SYNC: Duration = Duration::from_secs(20);

/// How a half-open connection stops short.
#[derive(Clone, Copy, Debug)]
enum Half {
    /// Connects and sends nothing.
    Silent,
    /// Half a request line.
    RequestLine,
    /// The request line and some headers, never the blank line.
    Headers,
    /// A complete head announcing a body, and half the body.
    Body,
}

struct HalfOpen {
    stream: TcpStream,
    kind: Half,
    opened: Instant,
}

async fn open(addr: &str, kind: Half, body_request: &str) -> HalfOpen {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let bytes: Vec<u8> = match kind {
        Half::Silent => Vec::new(),
        Half::RequestLine => b"GET /open/slow HT".to_vec(),
        Half::Headers => b"GET /open/slow HTTP/1.1\r\nHost: gw\r\nX-Slow: 1\r\nX-Lor".to_vec(),
        Half::Body => body_request.as_bytes().to_vec(),
    };
    stream.write_all(&bytes).await.expect("send half a request");
    HalfOpen { stream, kind, opened: Instant::now() }
}

/// Opens `count` connections cycling through `kinds`; few at a time, so the listen backlog
/// never overflows.
async fn open_many(addr: &str, count: usize, kinds: &[Half], body_request: &str) -> Vec<HalfOpen> {
    let mut open_conns = Vec::with_capacity(count);
    for i in 0..count {
        open_conns.push(open(addr, kinds[i % kinds.len()], body_request).await);
    }
    open_conns
}

/// Each connection is still open: nothing to read yet, and no EOF.
fn all_still_open(conns: &[HalfOpen]) -> bool {
    let mut buf = [0u8; 64];
    conns
        .iter()
        .all(|c| matches!(c.stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
}

/// Reads what the server sends until it closes, and when it closed, relative to the open.
async fn until_closed(mut conn: HalfOpen) -> (Half, String, Duration) {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE + SLACK * 2, conn.stream.read_to_end(&mut answer)).await;
    let elapsed = conn.opened.elapsed();
    match read {
        Ok(Ok(_)) => {}
        // Closing with unread bytes in the socket is a reset: closed all the same.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("{:?}: read failed: {e}", conn.kind),
        Err(_) => panic!("{:?}: still open {elapsed:?} after it was opened", conn.kind),
    }
    (conn.kind, String::from_utf8_lossy(&answer).into_owned(), elapsed)
}

async fn assert_all_closed_in_time(conns: Vec<HalfOpen>) -> Vec<(Half, String)> {
    let closing: Vec<_> = conns.into_iter().map(|c| tokio::spawn(until_closed(c))).collect();
    let mut answers = Vec::new();
    for closing in closing {
        let (kind, answer, after) = closing.await.unwrap();
        assert!(after <= DEADLINE + SLACK, "{kind:?}: closed {after:?} after it was opened");
        answers.push((kind, answer));
    }
    answers
}

/// The value of one sample in a Prometheus exposition, 0 when absent.
fn metric(exposition: &str, name_and_labels: &str) -> f64 {
    exposition.lines().find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok()).unwrap_or(0.0)
}

async fn status(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_closes_500_half_open_connections_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    let deadline = DEADLINE.as_secs().to_string();
    let gw = GatewayProcess::start_with(
        "gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        // The cap explicit: its default follows the fd limit, which may be 1024 (a cap of 512).
        &[
            "--header-read-timeout",
            &deadline,
            "--body-read-timeout",
            &deadline,
            "--serving-threads",
            "2",
            "--max-connections",
            "1000",
        ],
    );
    let http = reqwest::Client::new();
    let open_api = json!({"api_id": "open", "listen_path": "/open/", "upstream_url": upstream.url()});
    admin(&http, &cp.url(), "POST", "/api/apis", open_api).await;
    let issuer = json!({"api_id": "issuer", "listen_path": "/issuer/", "upstream_url": upstream.url(),
                        "oauth": {"allowed_grant_types": ["client_credentials"]}});
    admin(&http, &cp.url(), "POST", "/api/apis", issuer).await;
    let policy = json!({"id": "p", "name": "p", "active": true,
                        "access_rights": {"issuer": {"api_id": "issuer"}}});
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
    wait_for_client(&http, &gw.url("/issuer/oauth/introspect"), "c", &secret).await;
    eventually("the keyless API is served", SYNC, || async {
        (status(&http, &gw.url("/open/x")).await == 200).then_some(())
    })
    .await;

    let addr = format!("127.0.0.1:{}", gw.port);
    let half_form = "POST /issuer/oauth/token HTTP/1.1\r\nHost: gw\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type=cli";
    let kinds = [Half::Silent, Half::RequestLine, Half::Headers, Half::Headers, Half::Body];
    let conns = open_many(&addr, 500, &kinds, half_form).await;

    // While all 500 hang there, everyone else is served: probes, proxied requests, tokens.
    assert_eq!(status(&http, &gw.url("/readyz")).await, 200);
    assert_eq!(status(&http, &gw.url("/open/x")).await, 200);
    let token = client_credentials_token(&http, &gw.url("/issuer/oauth/token"), "c", &secret).await;
    assert_eq!(token.status(), 200);
    assert!(all_still_open(&conns), "the half-open connections were still open meanwhile");

    let answers = assert_all_closed_in_time(conns).await;
    for (kind, answer) in &answers {
        match kind {
            // Half a form body on the token endpoint: 408, as an OAuth error.
            Half::Body => {
                assert!(answer.starts_with("HTTP/1.1 408"), "{kind:?}: {answer}");
                assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
            }
            // Half a head: closed without an answer.
            _ => assert_eq!(answer, "", "{kind:?}"),
        }
    }
    assert_eq!(status(&http, &gw.url("/readyz")).await, 200);
    assert_eq!(status(&http, &gw.url("/open/x")).await, 200);
    let exposition = http.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let header = metric(&exposition, "gatehouse_connection_timeouts_total{role=\"gateway\",kind=\"header\"}");
    let body = metric(&exposition, "gatehouse_connection_timeouts_total{role=\"gateway\",kind=\"body\"}");
    // At least the 400: a connection the HTTP client opened and never used (its pool races a
    // new connection against an idle one) is closed at the header deadline too.
    assert!(header >= 400.0 && body == 100.0, "{exposition}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_control_plane_closes_half_open_connections_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let deadline = DEADLINE.as_secs().to_string();
    let args = ["--header-read-timeout", deadline.as_str(), "--body-read-timeout", deadline.as_str()];
    let cp = ControlPlaneProcess::start_with_args("cp", &dir.path().join("data"), dir.path(), &args);
    let http = reqwest::Client::new();
    let addr = format!("127.0.0.1:{}", cp.port);
    let half_body = format!(
        "POST /api/apis HTTP/1.1\r\nHost: cp\r\nAuthorization: {ADMIN_SECRET}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"api_id\": \"x"
    );
    let kinds = [Half::Silent, Half::RequestLine, Half::Headers, Half::Body];
    let conns = open_many(&addr, 200, &kinds, &half_body).await;

    assert_eq!(status(&http, &format!("{}/readyz", cp.url())).await, 200);
    let api = json!({"api_id": "a", "listen_path": "/a/", "upstream_url": "http://127.0.0.1:1"});
    admin(&http, &cp.url(), "POST", "/api/apis", api).await;
    assert!(all_still_open(&conns), "the half-open connections were still open meanwhile");

    let answers = assert_all_closed_in_time(conns).await;
    for (kind, answer) in &answers {
        match kind {
            Half::Body => assert!(answer.starts_with("HTTP/1.1 408"), "{kind:?}: {answer}"),
            _ => assert_eq!(answer, "", "{kind:?}"),
        }
    }
    assert_eq!(status(&http, &format!("{}/readyz", cp.url())).await, 200);
    let exposition = http.get(format!("{}/metrics", cp.url())).send().await.unwrap().text().await.unwrap();
    let role = "gatehouse_connection_timeouts_total{role=\"control_plane\"";
    let header = metric(&exposition, &format!("{role},kind=\"header\"}}"));
    let body = metric(&exposition, &format!("{role},kind=\"body\"}}"));
    assert!(header >= 150.0 && body == 50.0, "{exposition}");
}

/// One request on a connection of its own, returning the status line ("" if it was closed
/// without an answer).
async fn raw_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    // A connection closed on accept may refuse the write or reset the read: no answer.
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(SYNC, stream.read_to_end(&mut answer)).await.expect("answered or closed");
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_connection_cap_probes_are_answered_and_then_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("upstream").await;
    let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
    // Idle connections are held for the whole test: a header deadline longer than it.
    let gw = GatewayProcess::start_with(
        "gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &["--max-connections", "50", "--header-read-timeout", "120"],
    );
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let open_api = json!({"api_id": "open", "listen_path": "/open/", "upstream_url": upstream.url()});
    admin(&http, &cp.url(), "POST", "/api/apis", open_api).await;
    eventually("the keyless API is served", SYNC, || async {
        (status(&http, &gw.url("/open/x")).await == 200).then_some(())
    })
    .await;
    let addr = format!("127.0.0.1:{}", gw.port);

    let mut idle = open_many(&addr, 50, &[Half::Silent], "").await;
    // Wait until the gateway holds all 50 (accepting is asynchronous). The scrape's own
    // connection is counted too, so 50 held shows as 51: waiting for 50 would let the 50th idle
    // connection be accepted after the API request below and take its slot.
    eventually("the gateway holds 50 connections", SYNC, || async {
        let exposition = http.get(gw.url("/metrics")).send().await.ok()?.text().await.ok()?;
        (metric(&exposition, "gatehouse_open_connections{role=\"gateway\"}") >= 51.0).then_some(())
    })
    .await;
    // The 51st: probes yes, API traffic no.
    assert_eq!(raw_get(&addr, "/readyz").await, "HTTP/1.1 200 OK");
    // The cap judges a connection when it arrives. An idle one that arrived while an earlier
    // request's connection was still closing was let in for probes only, and then the idle
    // ones hold 49 slots: a request is served (and closed), and one more idle connection takes
    // the last slot. More than two such top-ups would mean the cap counts wrong.
    let mut topped_up = 0;
    let deadline = Instant::now() + SYNC;
    while raw_get(&addr, "/open/x").await != "HTTP/1.1 503 Service Unavailable" {
        assert!(topped_up < 2 && Instant::now() < deadline, "API traffic past the cap is not refused");
        idle.extend(open_many(&addr, 1, &[Half::Silent], "").await);
        topped_up += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Fill the probe headroom too: the next connection is closed without an answer.
    let headroom = open_many(&addr, gatehouse_gateway::conn::PROBE_HEADROOM, &[Half::Silent], "").await;
    eventually("the probe headroom is full", SYNC, || async {
        let line = raw_get(&addr, "/readyz").await;
        line.is_empty().then_some(())
    })
    .await;

    // A held connection closing frees a slot for ordinary traffic again.
    drop(headroom);
    idle.truncate(49);
    eventually("a freed slot serves API traffic", SYNC, || async {
        (raw_get(&addr, "/open/x").await == "HTTP/1.1 200 OK").then_some(())
    })
    .await;
    assert!(common::load::is_running(gw.process.pid()), "the gateway kept running");
}
