//! The proxy over real loopback sockets: a hyper client talks to a small gateway server whose
//! only job is `UpstreamClient::forward`, which talks to a real hyper upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_gateway::proxy::{ProxyTimeouts, UpstreamClient, json_error};
use gatehouse_model::Upstream;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

type TestBody = Either<Full<Bytes>, ChunkBody>;
type TestClient = Client<HttpConnector, TestBody>;

/// A request body the test feeds chunk by chunk, so its length is unknown up front and its
/// pace is the test's.
struct ChunkBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|data| Ok(Frame::data(data))))
    }
}

fn chunk_body(buffer: usize) -> (mpsc::Sender<Bytes>, TestBody) {
    let (tx, rx) = mpsc::channel(buffer);
    (tx, Either::Right(ChunkBody(rx)))
}

/// Answers 201 with the request body streamed straight back, a description of the request in the
/// `x-echo` header (JSON), and hop-by-hop headers that the gateway must not pass on.
async fn start_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = service_fn(move |req| async move { Ok::<_, Infallible>(echo(req, peer)) });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

fn echo(req: Request<Incoming>, peer: SocketAddr) -> Response<Incoming> {
    let mut headers = serde_json::Map::new();
    for name in req.headers().keys() {
        let values = req.headers().get_all(name).iter();
        let values = values.map(|v| Value::from(v.to_str().unwrap())).collect();
        headers.insert(name.to_string(), Value::Array(values));
    }
    let info = json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "version": format!("{:?}", req.version()),
        "peer_port": peer.port(),
        "headers": headers,
    });
    Response::builder()
        .status(StatusCode::CREATED)
        .header("x-echo", info.to_string())
        .header("x-custom-response", "kept")
        .header(header::CONNECTION, "x-upstream-private")
        .header("x-upstream-private", "secret")
        .header("keep-alive", "timeout=5")
        .header(header::PROXY_AUTHENTICATE, "Basic realm=\"upstream\"")
        .body(req.into_body())
        .unwrap()
}

/// A stand-in for the gateway's router: every request goes to `upstream`, path and query as is.
async fn start_gateway(upstream: Upstream, timeouts: ProxyTimeouts) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = UpstreamClient::new(timeouts);
    let upstream = Arc::new(upstream);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let (client, upstream) = (client.clone(), upstream.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
                    Ok::<_, Infallible>(client.forward(req, &upstream, &pq, peer).await)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

fn upstream_at(addr: SocketAddr, base_path: &str) -> Upstream {
    format!("http://{addr}{base_path}").parse().unwrap()
}

fn test_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn full(body: impl Into<Bytes>) -> TestBody {
    Either::Left(Full::new(body.into()))
}

async fn send(client: &TestClient, req: Request<TestBody>) -> (StatusCode, HeaderMap, Bytes) {
    let response = timeout(Duration::from_secs(10), client.request(req)).await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    let body = timeout(Duration::from_secs(10), body.collect()).await.unwrap().unwrap();
    (parts.status, parts.headers, body.to_bytes())
}

/// What the upstream saw, from its `x-echo` header.
fn echoed(headers: &HeaderMap) -> Value {
    serde_json::from_str(headers["x-echo"].to_str().unwrap()).unwrap()
}

fn seen_header<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

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

async fn assert_json_error(response: (StatusCode, HeaderMap, Bytes), status: StatusCode, message: &str) {
    let (actual, headers, body) = response;
    assert_eq!(actual, status);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({ "error": message }));
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
