//! What the proxy tests share: a small gateway server whose only job is
//! `UpstreamClient::forward`, a real hyper upstream that echoes what it saw, and a client.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_gateway::forwarded::Hop;
use gatehouse_gateway::proxy::{ProxyTimeouts, UpstreamClient};
use gatehouse_model::Upstream;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;

pub type TestBody = Either<Full<Bytes>, ChunkBody>;
pub type TestClient = Client<HttpConnector, TestBody>;

/// A request body the test feeds chunk by chunk, so its length is unknown up front and its
/// pace is the test's.
pub struct ChunkBody(mpsc::Receiver<Bytes>);

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

pub fn chunk_body(buffer: usize) -> (mpsc::Sender<Bytes>, TestBody) {
    let (tx, rx) = mpsc::channel(buffer);
    (tx, Either::Right(ChunkBody(rx)))
}

/// Answers 201 with the request body streamed straight back, a description of the request in the
/// `x-echo` header (JSON), and hop-by-hop headers that the gateway must not pass on.
pub async fn start_upstream() -> SocketAddr {
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

pub fn echo(req: Request<Incoming>, peer: SocketAddr) -> Response<Incoming> {
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
pub async fn start_gateway(upstream: Upstream, timeouts: ProxyTimeouts) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_gateway(listener, UpstreamClient::new(timeouts), upstream)
}

/// Like the real server, connections may upgrade (`serve_connection_with_upgrades` there).
pub fn serve_gateway(listener: TcpListener, client: UpstreamClient, upstream: Upstream) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let upstream = Arc::new(upstream);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let (client, upstream) = (client.clone(), upstream.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
                    // The test client stands for a trusted proxy: headers it sends are kept.
                    let hop = Hop { peer, tls: false, trusted: true };
                    Ok::<_, Infallible>(client.forward(req, &upstream, &pq, &hop).await)
                }
            });
            tokio::spawn(
                http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades(),
            );
        }
    });
    addr
}

pub fn upstream_at(addr: SocketAddr, base_path: &str) -> Upstream {
    format!("http://{addr}{base_path}").parse().unwrap()
}

pub fn test_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn full(body: impl Into<Bytes>) -> TestBody {
    Either::Left(Full::new(body.into()))
}

pub async fn send(client: &TestClient, req: Request<TestBody>) -> (StatusCode, HeaderMap, Bytes) {
    let response = timeout(Duration::from_secs(10), client.request(req)).await.unwrap().unwrap();
    let (parts, body) = response.into_parts();
    let body = timeout(Duration::from_secs(10), body.collect()).await.unwrap().unwrap();
    (parts.status, parts.headers, body.to_bytes())
}

/// What the upstream saw, from its `x-echo` header.
pub fn echoed(headers: &HeaderMap) -> Value {
    serde_json::from_str(headers["x-echo"].to_str().unwrap()).unwrap()
}

pub fn seen_header<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

pub async fn assert_json_error(response: (StatusCode, HeaderMap, Bytes), status: StatusCode, message: &str) {
    let (actual, headers, body) = response;
    assert_eq!(actual, status);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({ "error": message }));
}
