//! Protocol upgrades through the proxy over real loopback sockets: WebSocket is spliced end
//! to end, anything else (h2c) is forwarded as a plain request, never tunnelled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use support::*;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use gatehouse_gateway::proxy::ProxyTimeouts;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Switches to whatever protocol a request offers (answering `101` with it, and what it saw
/// in `x-echo`), then echoes every byte on the upgraded connection: an upstream that would
/// splice h2c as readily as WebSocket. Requests without an offer get 200 and `x-echo`; requests
/// for `/refuse`, 400.
async fn start_upgrading_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = service_fn(move |mut req: Request<Incoming>| async move {
                let info = echoed_info(&req, peer);
                let offered = req.headers().get(header::UPGRADE).cloned();
                let plain = |status| {
                    Response::builder().status(status).header("x-echo", info.to_string()).body(full(""))
                };
                let Some(offered) = offered.filter(|_| req.uri().path() != "/refuse") else {
                    let status =
                        if req.uri().path() == "/refuse" { StatusCode::BAD_REQUEST } else { StatusCode::OK };
                    return Ok::<_, Infallible>(plain(status).unwrap());
                };
                let on_upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    let upgraded = TokioIo::new(on_upgrade.await.unwrap());
                    let (mut reader, mut writer) = tokio::io::split(upgraded);
                    tokio::io::copy(&mut reader, &mut writer).await.unwrap();
                });
                let response = Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header(header::CONNECTION, "upgrade")
                    .header(header::UPGRADE, offered)
                    .header("x-echo", info.to_string())
                    .body(full(""));
                Ok(response.unwrap())
            });
            tokio::spawn(
                http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades(),
            );
        }
    });
    addr
}

fn echoed_info(req: &Request<Incoming>, peer: SocketAddr) -> Value {
    let mut headers = serde_json::Map::new();
    for name in req.headers().keys() {
        let values = req.headers().get_all(name).iter();
        let values = values.map(|v| Value::from(v.to_str().unwrap())).collect();
        headers.insert(name.to_string(), Value::Array(values));
    }
    json!({ "uri": req.uri().to_string(), "peer_port": peer.port(), "headers": headers })
}

#[tokio::test]
async fn upgrade_is_spliced_end_to_end() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let upstream = start_upgrading_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, "/base"), ProxyTimeouts::default()).await;
    let stream = TcpStream::connect(gateway).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, TestBody>(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection.with_upgrades());
    let req = Request::get("/ws")
        .header(header::HOST, "api.example.test")
        .header(header::CONNECTION, "upgrade, x-private-hop")
        .header("x-private-hop", "1")
        .header(header::UPGRADE, "h2c, WebSocket")
        .body(full(""))
        .unwrap();
    let response = timeout(Duration::from_secs(5), sender.send_request(req)).await.unwrap().unwrap();

    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()[header::UPGRADE], "WebSocket");
    assert_eq!(response.headers()[header::CONNECTION], "upgrade");
    let echo = echoed(response.headers());
    assert_eq!(echo["uri"], "/base/ws");
    assert_eq!(seen_header(&echo, "connection"), Some("upgrade"));
    // Of the two offers, only WebSocket's reaches the upstream.
    assert_eq!(seen_header(&echo, "upgrade"), Some("WebSocket"));
    assert_eq!(seen_header(&echo, "x-private-hop"), None);

    let upgraded = timeout(Duration::from_secs(5), hyper::upgrade::on(response)).await.unwrap().unwrap();
    let mut io = TokioIo::new(upgraded);
    for message in [&b"ping"[..], &[7u8; 100_000][..]] {
        io.write_all(message).await.unwrap();
        let mut back = vec![0u8; message.len()];
        timeout(Duration::from_secs(5), io.read_exact(&mut back)).await.unwrap().unwrap();
        assert!(back == message, "echo differs");
    }
    // Closing our side reaches the upstream, whose echo loop ends and closes back.
    io.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(Duration::from_secs(5), io.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn refused_upgrade_is_relayed_as_a_plain_response() {
    let upstream = start_upgrading_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    let req = Request::get(format!("http://{gateway}/refuse"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .body(full(""))
        .unwrap();
    let (status, headers, _) = send(&test_client(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!headers.contains_key(header::UPGRADE));
}

/// h2c (or any protocol but WebSocket) would turn one checked request into a tunnel for
/// unchecked ones: the offer is dropped and the request forwarded as a plain one, which an
/// upstream that would have switched answers normally.
#[tokio::test]
async fn other_upgrades_are_forwarded_as_plain_requests() {
    let upstream = start_upgrading_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    for offer in ["h2c", "H2C", "echo-proto", "websocketx", "tls/1.2"] {
        let req = Request::get(format!("http://{gateway}/x"))
            .header(header::CONNECTION, "Upgrade, HTTP2-Settings")
            .header(header::UPGRADE, offer)
            .header("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA")
            .body(full(""))
            .unwrap();
        let (status, headers, _) = send(&test_client(), req).await;
        assert_eq!(status, StatusCode::OK, "{offer}: not forwarded as a plain request");
        assert!(!headers.contains_key(header::UPGRADE), "{offer}");
        let echo = echoed(&headers);
        assert_eq!(seen_header(&echo, "upgrade"), None, "{offer}: the offer reached the upstream");
        assert_eq!(seen_header(&echo, "http2-settings"), None, "{offer}");
    }
}
