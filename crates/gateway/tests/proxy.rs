//! The proxy over real loopback sockets: a hyper client talks to a small gateway server whose
//! only job is `UpstreamClient::forward`, which talks to a real hyper upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

use support::*;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_gateway::proxy::{ProxyTimeouts, UpstreamClient};
use gatehouse_gateway::response::json_error;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

#[tokio::test]
async fn forwards_method_path_query_body_and_rewrites_headers() {
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, "/base"), ProxyTimeouts::default()).await;
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("http://{gateway}/v1/items?x=1&y=a%20b"))
        .header(header::HOST, "api.example.test")
        .header("x-forwarded-for", "203.0.113.7")
        .header(header::CONNECTION, "keep-alive, x-private-hop")
        .header("x-private-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header(header::TE, "trailers")
        .header(header::TRAILER, "x-checksum")
        .header(header::UPGRADE, "websocket")
        .header(header::PROXY_AUTHORIZATION, "Basic cHJveHk6c2VjcmV0")
        .header(header::AUTHORIZATION, "Bearer end-to-end")
        .header("x-custom", "yes")
        .body(full("hello upstream"))
        .unwrap();
    let (status, headers, body) = send(&test_client(), req).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, "hello upstream");
    let echo = echoed(&headers);
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["uri"], "/base/v1/items?x=1&y=a%20b");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(seen_header(&echo, "host"), Some(upstream.to_string().as_str()));
    assert_eq!(seen_header(&echo, "x-forwarded-for"), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(seen_header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(seen_header(&echo, "x-forwarded-host"), Some("api.example.test"));
    assert_eq!(seen_header(&echo, "authorization"), Some("Bearer end-to-end"));
    assert_eq!(seen_header(&echo, "x-custom"), Some("yes"));
    for hop in [
        "connection",
        "x-private-hop",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    ] {
        assert_eq!(seen_header(&echo, hop), None, "{hop} reached the upstream");
    }

    assert_eq!(headers["x-custom-response"], "kept");
    for hop in ["connection", "x-upstream-private", "keep-alive", "proxy-authenticate"] {
        assert!(!headers.contains_key(hop), "{hop} reached the client");
    }
}

#[tokio::test]
async fn empty_base_path_fresh_forwarded_for_and_preset_forwarded_host() {
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    let req = Request::builder()
        .uri(format!("http://{gateway}/only?q"))
        .header("x-forwarded-host", "edge.example.test")
        .body(full(""))
        .unwrap();
    let (status, headers, body) = send(&test_client(), req).await;

    assert_eq!(status, StatusCode::CREATED);
    assert!(body.is_empty());
    let echo = echoed(&headers);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["uri"], "/only?q");
    assert_eq!(seen_header(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen_header(&echo, "x-forwarded-host"), Some("edge.example.test"));
}

/// A streamed request body: `chunks` of `size` bytes each, with a pattern that catches
/// reordering or loss.
fn chunk(index: usize, size: usize) -> Bytes {
    (0..size).map(|i| ((index * 31 + i) % 251) as u8).collect::<Vec<u8>>().into()
}

async fn send_chunks(tx: mpsc::Sender<Bytes>, chunks: usize, size: usize) {
    for index in 0..chunks {
        tx.send(chunk(index, size)).await.unwrap();
    }
}

#[tokio::test]
async fn five_mebibyte_body_streams_intact_both_ways() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 80; // 5 MiB
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, "/base"), ProxyTimeouts::default()).await;
    let (tx, body) = chunk_body(4);
    let sender = tokio::spawn(send_chunks(tx, CHUNKS, CHUNK));
    let req = Request::post(format!("http://{gateway}/upload")).body(body).unwrap();
    let (status, headers, body) = send(&test_client(), req).await;
    sender.await.unwrap();

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body.len(), CHUNKS * CHUNK);
    let expected: Vec<u8> = (0..CHUNKS).flat_map(|i| chunk(i, CHUNK)).collect();
    assert!(body == expected, "body changed on the way");
    // Still chunked at the upstream: the gateway did not gather the body to count it.
    let echo = echoed(&headers);
    assert_eq!(seen_header(&echo, "transfer-encoding"), Some("chunked"));
    assert_eq!(seen_header(&echo, "content-length"), None);
}

/// Each chunk must come back before the next is sent: a proxy that buffered either body would
/// stall here.
#[tokio::test]
async fn bodies_flow_chunk_by_chunk_without_buffering() {
    const CHUNK: usize = 1024;
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    let (tx, body) = chunk_body(1);
    let req = Request::post(format!("http://{gateway}/duplex")).body(body).unwrap();
    tx.send(chunk(0, CHUNK)).await.unwrap();
    let client = test_client();
    let response = timeout(Duration::from_secs(5), client.request(req)).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let mut body = response.into_body();
    for index in 0..8 {
        if index > 0 {
            tx.send(chunk(index, CHUNK)).await.unwrap();
        }
        let mut received = Vec::new();
        while received.len() < CHUNK {
            let frame = timeout(Duration::from_secs(5), body.frame()).await;
            let frame = frame.expect("chunk not echoed while the request was still open");
            if let Ok(data) = frame.unwrap().unwrap().into_data() {
                received.extend_from_slice(&data);
            }
        }
        assert_eq!(received, chunk(index, CHUNK));
    }
    drop(tx);
    let rest = timeout(Duration::from_secs(5), body.collect()).await.unwrap().unwrap();
    assert!(rest.to_bytes().is_empty());
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    let client = test_client();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let req = Request::get(format!("http://{gateway}/again")).body(full("")).unwrap();
        let (_, headers, _) = send(&client, req).await;
        ports.push(echoed(&headers)["peer_port"].as_u64().unwrap());
    }
    assert!(ports.iter().all(|p| *p == ports[0]), "new upstream connection per request: {ports:?}");
}

#[tokio::test]
async fn closed_upstream_port_is_502_json() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let gateway = start_gateway(upstream_at(closed, "/base"), ProxyTimeouts::default()).await;
    let req = Request::get(format!("http://{gateway}/x")).body(full("")).unwrap();
    let response = send(&test_client(), req).await;
    assert_json_error(response, StatusCode::BAD_GATEWAY, "upstream unavailable").await;
}

#[tokio::test]
async fn silent_upstream_is_504_after_the_response_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let timeouts =
        ProxyTimeouts { connect: Duration::from_secs(5), response_header: Duration::from_millis(300) };
    let gateway = start_gateway(upstream_at(silent, ""), timeouts).await;
    let started = Instant::now();
    let req = Request::get(format!("http://{gateway}/slow")).body(full("")).unwrap();
    let response = send(&test_client(), req).await;
    let elapsed = started.elapsed();
    assert_json_error(response, StatusCode::GATEWAY_TIMEOUT, "upstream timed out").await;
    assert!(elapsed >= Duration::from_millis(300), "answered before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "timeout not enforced: {elapsed:?}");
}

#[tokio::test]
async fn json_error_escapes_the_message() {
    let response = json_error(StatusCode::UNAUTHORIZED, "bad \"token\"\n");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    assert_json_error((parts.status, parts.headers, body), StatusCode::UNAUTHORIZED, "bad \"token\"\n").await;
}

#[tokio::test]
async fn unreachable_upstream_is_504_after_the_connect_timeout() {
    // A listener that never accepts and whose accept queue is full: the kernel drops further
    // SYNs, so connecting hangs as it would to a black-holed host, without leaving loopback.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let unreachable = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    while let Ok(stream) = timeout(Duration::from_millis(200), TcpStream::connect(unreachable)).await {
        queued.push(stream.unwrap());
        assert!(queued.len() < 64, "the accept queue never filled");
    }

    let timeouts =
        ProxyTimeouts { connect: Duration::from_millis(200), response_header: Duration::from_secs(10) };
    let gateway = start_gateway(upstream_at(unreachable, ""), timeouts).await;
    let started = Instant::now();
    let req = Request::get(format!("http://{gateway}/x")).body(full("")).unwrap();
    let response = send(&test_client(), req).await;
    let elapsed = started.elapsed();
    assert_json_error(response, StatusCode::GATEWAY_TIMEOUT, "upstream timed out").await;
    assert!(elapsed >= Duration::from_millis(200), "answered before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "connect timeout not enforced: {elapsed:?}");
    drop((listener, queued));
}

/// What a body-limit upstream saw of one request: body bytes received, and whether the body
/// ended cleanly.
type BodyReport = (usize, bool);

/// Counts requests, reads each body to its end before answering 200 (so a gateway that cuts the
/// body off hears nothing back first), and reports every body on `reports`.
async fn start_counting_upstream() -> (SocketAddr, Arc<AtomicUsize>, mpsc::UnboundedReceiver<BodyReport>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::unbounded_channel();
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (counter, tx) = (counter.clone(), tx.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                counter.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                async move {
                    let mut body = req.into_body();
                    let mut received = 0;
                    let clean = loop {
                        match body.frame().await {
                            None => break true,
                            Some(Err(_)) => break false,
                            Some(Ok(frame)) => received += frame.data_ref().map_or(0, Bytes::len),
                        }
                    };
                    tx.send((received, clean)).unwrap();
                    Ok::<_, Infallible>(Response::new(full(received.to_string())))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (addr, requests, rx)
}

const LIMIT: usize = 64 * 1024;

async fn start_limited_gateway(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = UpstreamClient::new(ProxyTimeouts::default()).max_request_body(LIMIT);
    serve_gateway(listener, client, upstream_at(upstream, ""))
}

#[tokio::test]
async fn body_at_the_limit_is_forwarded() {
    let (upstream, requests, mut reports) = start_counting_upstream().await;
    let gateway = start_limited_gateway(upstream).await;
    let req = Request::post(format!("http://{gateway}/up")).body(full(vec![1u8; LIMIT])).unwrap();
    let (status, _, body) = send(&test_client(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, LIMIT.to_string());
    assert_eq!(reports.recv().await, Some((LIMIT, true)));
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oversized_content_length_is_413_without_contacting_the_upstream() {
    let (upstream, requests, _reports) = start_counting_upstream().await;
    let gateway = start_limited_gateway(upstream).await;
    // The declared length alone must be enough: not a byte of the body is ever sent.
    let (_tx, body) = chunk_body(1);
    let req = Request::post(format!("http://{gateway}/up"))
        .header(header::CONTENT_LENGTH, (LIMIT + 1).to_string())
        .body(body)
        .unwrap();
    let response = send(&test_client(), req).await;
    // The unsent body would be read as the next request: the client must not reuse the connection.
    assert_eq!(response.1.get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
    assert_json_error(response, StatusCode::PAYLOAD_TOO_LARGE, "request body too large").await;
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_cut_off() {
    const CHUNK: usize = 16 * 1024;
    let (upstream, requests, mut reports) = start_counting_upstream().await;
    let gateway = start_limited_gateway(upstream).await;
    let (tx, body) = chunk_body(1);
    // Offers 1 MiB, far past the limit; stops as soon as the gateway stops taking it.
    let sender = tokio::spawn(async move {
        for index in 0..64 {
            if tx.send(chunk(index, CHUNK)).await.is_err() {
                break;
            }
        }
    });
    let req = Request::post(format!("http://{gateway}/up")).body(body).unwrap();
    let client = test_client();
    let outcome = timeout(Duration::from_secs(10), client.request(req)).await.expect("client hung");
    // 413 when the gateway could answer before the client's write failed; otherwise the
    // client's own request errors (connection closed under it). Either way, no hang.
    if let Ok(response) = outcome {
        let (parts, body) = response.into_parts();
        let body = timeout(Duration::from_secs(5), body.collect()).await.unwrap().unwrap().to_bytes();
        assert_json_error(
            (parts.status, parts.headers, body),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
        .await;
    }
    let (received, clean) = timeout(Duration::from_secs(5), reports.recv()).await.unwrap().unwrap();
    assert!(received <= LIMIT, "upstream got {received} bytes");
    assert!(!clean, "the upstream must see an incomplete body, not a short complete one");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    timeout(Duration::from_secs(5), sender).await.unwrap().unwrap();
}

#[tokio::test]
async fn forwarded_is_appended_to_an_existing_value() {
    let upstream = start_upstream().await;
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;
    let req = Request::get(format!("http://{gateway}/f"))
        .header(header::HOST, "api.example.test:8443")
        .header(header::FORWARDED, "for=192.0.2.60;proto=https")
        .header(header::FORWARDED, "for=\"[2001:db8::1]\"")
        .body(full(""))
        .unwrap();
    let (_, headers, _) = send(&test_client(), req).await;
    let echo = echoed(&headers);
    assert_eq!(
        seen_header(&echo, "forwarded"),
        Some(
            r#"for=192.0.2.60;proto=https, for="[2001:db8::1]", for=127.0.0.1;proto=http;host="api.example.test:8443""#
        )
    );

    let req = Request::get(format!("http://{gateway}/f"))
        .header(header::HOST, "api.example.test")
        .body(full(""))
        .unwrap();
    let (_, headers, _) = send(&test_client(), req).await;
    let echo = echoed(&headers);
    assert_eq!(seen_header(&echo, "forwarded"), Some("for=127.0.0.1;proto=http;host=api.example.test"));
}

#[tokio::test]
async fn forwarded_quotes_an_ipv6_client() {
    let Ok(listener) = TcpListener::bind("[::1]:0").await else {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    };
    let upstream = start_upstream().await;
    let gateway =
        serve_gateway(listener, UpstreamClient::new(ProxyTimeouts::default()), upstream_at(upstream, ""));
    let req = Request::get(format!("http://{gateway}/f")).body(full("")).unwrap();
    let (_, headers, _) = send(&test_client(), req).await;
    let echo = echoed(&headers);
    let host = format!("\"{gateway}\"");
    assert_eq!(
        seen_header(&echo, "forwarded"),
        Some(format!("for=\"[::1]\";proto=http;host={host}").as_str())
    );
    assert_eq!(seen_header(&echo, "x-forwarded-for"), Some("::1"));
}

/// A chunked body that breaks its own framing is the client's fault: 400 from the gateway,
/// not a 502 that blames (and counts against) the upstream. Raw TCP: no HTTP client sends it.
#[tokio::test]
async fn malformed_chunked_body_is_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (upstream, _requests, mut reports) = start_counting_upstream().await;
    let gateway = start_limited_gateway(upstream).await;
    for broken in ["5\r\nhello\r\nzz\r\n\r\n", "5\r\nhelloXX\r\n", "3\r\nabc\r\n-1\r\n\r\n"] {
        let mut stream = TcpStream::connect(gateway).await.unwrap();
        let head = "POST /up HTTP/1.1\r\nHost: api.example.test\r\nTransfer-Encoding: chunked\r\n\r\n";
        stream.write_all(format!("{head}{broken}").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{broken:?}: {answer}");
        assert!(answer.ends_with(r#"{"error":"malformed request body"}"#), "{broken:?}: {answer}");
        // The upstream saw the body end badly, never as a complete request.
        let report = timeout(Duration::from_secs(5), reports.recv()).await.unwrap();
        assert!(matches!(report, Some((_, false))), "{broken:?}: {report:?}");
    }
}

/// RFC 9110 §6.2: the response is in the client's protocol version, whatever the upstream
/// spoke. An HTTP/1.0 upstream (`python3 -m http.server`) must not turn the client's
/// keep-alive HTTP/1.1 connection into a 1.0 one that closes after each response.
#[tokio::test]
async fn an_http_1_0_upstream_is_answered_to_the_client_in_http_1_1_and_keep_alive_holds() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                while stream.read_line(&mut line).await.unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                // What Python's http.server sends: a 1.0 status line, then it closes.
                let answer = "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\nContent-Length: 2\r\n\r\nok";
                stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
            });
        }
    });
    let gateway = start_gateway(upstream_at(upstream, ""), ProxyTimeouts::default()).await;

    let mut client = TcpStream::connect(gateway).await.unwrap();
    for round in 0..2 {
        client.write_all(b"GET /file HTTP/1.1\r\nHost: api.example.test\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        // One response: its head and its 2-byte body, read without waiting for a close.
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = timeout(Duration::from_secs(10), client.read(&mut byte)).await.unwrap().unwrap();
            assert_eq!(n, 1, "round {round}: the gateway closed the connection");
            answer.push(byte[0]);
        }
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 200 ok\r\n"), "round {round}: {answer}");
        assert!(!answer.contains("connection: close"), "round {round}: {answer}");
    }
}
