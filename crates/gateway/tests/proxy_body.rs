//! Proxied request bodies stream to the upstream with an idle timeout between their pieces: a
//! client that stalls mid-body gets 408 and the upstream request is aborted, while a slow but
//! steady upload goes through. Real sockets on loopback: a raw TCP client (to stall at will), the
//! gateway's proxy, and an upstream that reads the whole body before answering.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_gateway::forwarded::Hop;
use gatehouse_gateway::proxy::{ProxyTimeouts, UpstreamClient};
use gatehouse_model::Upstream;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the upstream saw of each request: the whole body, or how reading it ended.
type Seen = mpsc::UnboundedSender<Result<usize, String>>;

/// Reads each request's whole body before answering `200` with its length.
async fn start_upstream(seen: Seen) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let seen = seen.clone();
                async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes().len());
                    let _ = seen.send(body.as_ref().copied().map_err(|e| e.to_string()));
                    let len = body.unwrap_or(0);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("received {len}")))))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// The proxy alone, as the gateway calls it: every request to `upstream`, path as is.
async fn start_gateway(upstream: SocketAddr, idle_timeout: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = UpstreamClient::new(ProxyTimeouts::default()).request_body_idle_timeout(idle_timeout);
    let upstream: Arc<Upstream> = Arc::new(format!("http://{upstream}").parse().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let (client, upstream) = (client.clone(), Arc::clone(&upstream));
            let service = service_fn(move |req: Request<Incoming>| {
                let (client, upstream) = (client.clone(), Arc::clone(&upstream));
                async move {
                    let path = req.uri().path().to_owned();
                    let hop = Hop { peer, tls: false, trusted: false };
                    Ok::<_, Infallible>(client.forward(req, &upstream, &path, &hop).await)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

/// Reads one response: its status and its body (by Content-Length).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buffer = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a whole response: {:?}", String::from_utf8_lossy(&buffer));
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .expect("a Content-Length")
            .parse::<usize>()
            .unwrap();
        if body.len() >= length {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return (status, body[..length].to_owned());
        }
    }
}

/// The `kind="body"` timeouts of the gateway counted so far.
fn body_timeouts() -> u64 {
    gatehouse_telemetry::metrics::render()
        .lines()
        .find(|l| {
            l.starts_with("gatehouse_connection_timeouts_total{")
                && l.contains("role=\"gateway\"")
                && l.contains("kind=\"body\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_body_that_stalls_midway_is_408_and_the_upstream_request_is_aborted() {
    gatehouse_telemetry::metrics::install(gatehouse_telemetry::metrics::BuildInfo {
        version: "test",
        commit: "test",
    })
    .unwrap();
    let before = body_timeouts();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let idle = Duration::from_secs(1);
    let gateway = start_gateway(start_upstream(seen_tx).await, idle).await;

    let mut stream = TcpStream::connect(gateway).await.unwrap();
    let half = format!("POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n{}", "a".repeat(50));
    stream.write_all(half.as_bytes()).await.unwrap();
    let started = Instant::now();
    // The client stays connected and silent: only the idle timeout can end this.
    let (status, body) = timeout(idle + Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("an answer within the idle timeout and some slack");
    assert!(started.elapsed() >= idle, "not before the idle timeout");
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT.as_u16(), "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error, serde_json::json!({"error": "request body timed out"}));
    // The upstream saw its request cut off, never a complete body.
    let upstream_saw = timeout(Duration::from_secs(5), seen.recv()).await.unwrap().unwrap();
    assert!(upstream_saw.is_err(), "upstream read a whole body: {upstream_saw:?}");
    assert_eq!(body_timeouts(), before + 1, "counted as a body timeout");
}

#[tokio::test]
async fn a_slow_but_steady_body_goes_through() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let gateway = start_gateway(start_upstream(seen_tx).await, Duration::from_secs(1)).await;

    let mut stream = TcpStream::connect(gateway).await.unwrap();
    let head = "POST /upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // 3 s in all, well past the 1 s idle timeout, but never 1 s without a chunk.
    let chunks = 15;
    for _ in 0..chunks {
        stream.write_all(b"a\r\n0123456789\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let (status, body) = timeout(Duration::from_secs(10), read_response(&mut stream)).await.unwrap();
    assert_eq!((status, body.as_str()), (200, format!("received {}", chunks * 10).as_str()));
    assert_eq!(seen.recv().await, Some(Ok(chunks * 10)));
}
