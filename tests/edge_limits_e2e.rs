//! The limits every request meets at the edge, on both of `gatehouse dev`'s ports (the gateway's
//! and the control plane's, which serve through the same connection layer), over raw TCP where
//! the client library would fix the request up: `Host` (RFC 9112 §3.2), header count and size,
//! OAuth form and admin body sizes, body deadlines, and gRPC message size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{ChildProcess, free_port, wait_for_port};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const SYNC: Duration = Duration::from_secs(20);
/// `--body-read-timeout` of this test's dev process.
const BODY_DEADLINE: Duration = Duration::from_secs(1);

struct Dev {
    _process: ChildProcess,
    gateway: String,
    admin: String,
    http: reqwest::Client,
}

impl Dev {
    async fn start(dir: &std::path::Path) -> Self {
        let (gw_port, admin_port) = (free_port(), free_port());
        let args: Vec<String> = [
            "dev",
            "--listen",
            &format!("127.0.0.1:{gw_port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin_port}"),
            "--admin-secret",
            ADMIN_SECRET,
            "--body-read-timeout",
            &BODY_DEADLINE.as_secs_f64().to_string(),
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        let process = ChildProcess::spawn("dev", &binary(), &args, &[], dir);
        wait_for_port(gw_port, SYNC);
        wait_for_port(admin_port, SYNC);
        let dev = Dev {
            _process: process,
            gateway: format!("127.0.0.1:{gw_port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            http: reqwest::Client::new(),
        };
        let api = json!({"api_id": "issuer", "listen_path": "/issuer/", "upstream_url": "http://127.0.0.1:1",
                         "oauth": {"allowed_grant_types": ["client_credentials"]}});
        admin(&dev.http, &format!("http://{}", dev.admin), "POST", "/api/apis", api).await;
        eventually("the gateway serves the OAuth API", SYNC, || async {
            let (status, _) = dev.raw(&dev.gateway, &form_post("/issuer/oauth/token", "grant_type=x")).await;
            (status == 401 || status == 400).then_some(())
        })
        .await;
        dev
    }

    /// Sends `request` on a connection of its own; the status code and the answer's body.
    async fn raw(&self, addr: &str, request: &[u8]) -> (u16, String) {
        let (status, _, body) = self.raw_with_head(addr, request).await;
        (status, body)
    }

    /// As [`Dev::raw`], with the response head (lower-cased) as well.
    async fn raw_with_head(&self, addr: &str, request: &[u8]) -> (u16, String, String) {
        let (mut reader, mut writer) = TcpStream::connect(addr).await.expect("connect").into_split();
        // The server may answer and close before it has read all of a large request: write
        // while reading, so the answer is read as it comes, before the close resets the socket.
        let request = request.to_vec();
        let writing = tokio::spawn(async move {
            let _ = writer.write_all(&request).await;
            writer
        });
        let mut answer = Vec::new();
        // On a reset, what was read before it stays in `answer`.
        let _ = tokio::time::timeout(SYNC, reader.read_to_end(&mut answer)).await.expect("an answer in time");
        drop(writing.await);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    fn ports(&self) -> [&str; 2] {
        [&self.gateway, &self.admin]
    }
}

fn form_post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn get(head_lines: &str) -> Vec<u8> {
    format!("GET /healthz HTTP/1.1\r\n{head_lines}Connection: close\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_limits_hold_on_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Dev::start(dir.path()).await;
    host_is_required_once_and_valid(&dev).await;
    header_count_and_size_are_bounded(&dev).await;
    oauth_forms_are_bounded_in_size_and_time(&dev).await;
    admin_bodies_are_bounded_in_size_and_time(&dev).await;
    refused_bodies_close_the_connection(&dev).await;
    grpc_messages_over_4_mib_are_resource_exhausted(&dev).await;
}

async fn host_is_required_once_and_valid(dev: &Dev) {
    for port in dev.ports() {
        assert_eq!(dev.raw(port, &get("Host: gatehouse.example:8080\r\n")).await.0, 200, "{port}");
        // HTTP/1.0 may omit Host.
        assert_eq!(dev.raw(port, b"GET /healthz HTTP/1.0\r\n\r\n").await.0, 200, "{port}");
        for refused in [
            "",
            "Host: a\r\nHost: a\r\n",
            "Host: a\r\nHost: b\r\n",
            "Host: user@example.com\r\n",
            "Host: a b\r\n",
            "Host: example.com/path\r\n",
            "Host: example.com:http\r\n",
        ] {
            let (status, body) = dev.raw(port, &get(refused)).await;
            assert_eq!(status, 400, "{port} {refused:?}: {body}");
            assert!(body.contains("Host"), "{port} {refused:?}: the answer says why: {body}");
        }
        let (status, _) = dev.raw(port, b"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").await;
        assert_eq!(status, 400, "{port}: duplicate Host on HTTP/1.0");
    }
}

async fn header_count_and_size_are_bounded(dev: &Dev) {
    for port in dev.ports() {
        // 100 header fields (Host and Connection included) pass; 101 do not.
        let fields = |n: usize| (0..n).map(|i| format!("X-F{i}: v\r\n")).collect::<String>();
        assert_eq!(dev.raw(port, &get(&format!("Host: a\r\n{}", fields(98)))).await.0, 200, "{port}");
        assert_eq!(dev.raw(port, &get(&format!("Host: a\r\n{}", fields(99)))).await.0, 431, "{port}");
        // A head of some 60 KiB passes; one over 64 KiB does not.
        let big = |n: usize| format!("Host: a\r\nX-Big: {}\r\n", "b".repeat(n));
        assert_eq!(dev.raw(port, &get(&big(60 * 1024))).await.0, 200, "{port}");
        assert_eq!(dev.raw(port, &get(&big(70 * 1024))).await.0, 431, "{port}");
    }
}

async fn oauth_forms_are_bounded_in_size_and_time(dev: &Dev) {
    let oversized = format!("grant_type=client_credentials&pad={}", "p".repeat(64 * 1024));
    for endpoint in ["/issuer/oauth/token", "/issuer/oauth/introspect", "/issuer/oauth/authorize"] {
        // Announced by Content-Length: refused before the body is read.
        let (status, body) = dev.raw(&dev.gateway, &form_post(endpoint, &oversized)).await;
        assert_eq!(status, 413, "{endpoint}: {body}");
        let error: Value = serde_json::from_str(&body).expect("an OAuth JSON error");
        assert_eq!(error["error"], "invalid_request", "{endpoint}: {body}");
    }
    // Streamed in chunks with no length announced: cut at the limit, with the same answer.
    for endpoint in ["/issuer/oauth/token", "/issuer/oauth/authorize"] {
        let chunked = format!(
            "POST {endpoint} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
             {:x}\r\n{oversized}\r\n0\r\n\r\n",
            oversized.len()
        );
        let (status, body) = dev.raw(&dev.gateway, chunked.as_bytes()).await;
        assert_eq!(status, 413, "{endpoint}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "invalid_request", "{endpoint}");
    }

    // Half a body: 408 once the deadline passes, on the token and the authorization endpoint.
    for endpoint in ["/issuer/oauth/token", "/issuer/oauth/authorize"] {
        let half = format!(
            "POST {endpoint} HTTP/1.1\r\nHost: gw\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=cl"
        );
        let started = std::time::Instant::now();
        let (status, body) = dev.raw(&dev.gateway, half.as_bytes()).await;
        assert_eq!(status, 408, "{endpoint}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "invalid_request");
        assert!(started.elapsed() >= BODY_DEADLINE, "not before the deadline");
    }
}

fn admin_post(path: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: cp\r\nConnection: close\r\nAuthorization: {ADMIN_SECRET}\r\n\
         Content-Type: application/json\r\n{extra_headers}\r\n{body}"
    )
    .into_bytes()
}

/// A 413 is sent with the rest of the body unread: the connection cannot carry another request,
/// so the answer must say it closes, or a keep-alive client reuses it into a broken pipe.
async fn refused_bodies_close_the_connection(dev: &Dev) {
    // Over both the 64 KiB form limit and the admin API's 4 MiB.
    let oversized = "p".repeat(5 * 1024 * 1024);
    let keep_alive = |path: &str, content_type: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: {ADMIN_SECRET}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{oversized}",
            oversized.len()
        )
        .into_bytes()
    };
    let form = "application/x-www-form-urlencoded";
    for (addr, path, content_type) in
        [(&dev.gateway, "/issuer/oauth/token", form), (&dev.admin, "/api/apis", "application/json")]
    {
        let (status, head, body) = dev.raw_with_head(addr, &keep_alive(path, content_type)).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert!(head.contains("\r\nconnection: close"), "{path}: {head}");
    }
}

async fn admin_bodies_are_bounded_in_size_and_time(dev: &Dev) {
    let big_name = "n".repeat(4 * 1024 * 1024);
    let oversized = json!({"api_id": "big", "name": big_name, "listen_path": "/big/",
                           "upstream_url": "http://127.0.0.1:1"})
    .to_string();
    let length = format!("Content-Length: {}\r\n", oversized.len());
    let (status, body) = dev.raw(&dev.admin, &admin_post("/api/apis", &length, &oversized)).await;
    assert_eq!(status, 413, "{body}");
    let chunked = format!("{:x}\r\n{oversized}\r\n0\r\n\r\n", oversized.len());
    let (status, body) =
        dev.raw(&dev.admin, &admin_post("/api/apis", "Transfer-Encoding: chunked\r\n", &chunked)).await;
    assert_eq!(status, 413, "{body}");

    let (status, body) =
        dev.raw(&dev.admin, &admin_post("/api/apis", "Content-Length: 100\r\n", "{\"api_id\": \"sl")).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("request body not received within"), "{body}");
}

async fn grpc_messages_over_4_mib_are_resource_exhausted(dev: &Dev) {
    let mut apis =
        pb::api_service_client::ApiServiceClient::connect(format!("http://{}", dev.admin)).await.unwrap();
    let create = |name: String| {
        let api = pb::Api {
            api_id: "grpc-big".into(),
            name,
            listen_path: "/grpc-big/".into(),
            upstream_url: "http://127.0.0.1:1".into(),
            ..Default::default()
        };
        let mut request = tonic::Request::new(pb::CreateApiRequest { api: Some(api) });
        request.metadata_mut().insert("authorization", ADMIN_SECRET.parse().unwrap());
        request
    };
    let error = apis.create_api(create("n".repeat(5 * 1024 * 1024))).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::ResourceExhausted, "{error:?}");
    // The same call under the limit goes through.
    apis.create_api(create("small".into())).await.expect("a small message is accepted");
}
