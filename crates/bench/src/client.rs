//! A minimal HTTP/1.1 client: one keep-alive connection, one request at a time, reconnecting
//! when the server closed it. Enough for admin calls, pollers and the open-loop generator, and
//! it keeps the harness's dependencies to hyper, which the workspace already builds.

use anyhow::Context as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// What came back: status and the whole body (the harness only reads small bodies).
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| anyhow::anyhow!("not JSON ({e}): {}", self.text()))
    }
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::from_str(&addr.to_string()).unwrap_or(HeaderValue::from_static("localhost"));
        Self { addr, host, sender: None }
    }

    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        let usable = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        if !usable {
            let stream =
                TcpStream::connect(self.addr).await.with_context(|| format!("connect {}", self.addr))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .with_context(|| format!("handshake {}", self.addr))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender.as_mut().context("no connection")
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let mut builder =
            Request::builder().method(method).uri(path).header(http::header::HOST, self.host.clone());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(body)).with_context(|| format!("bad request {path}"))?;
        let addr = self.addr;
        let sender = self.sender().await?;
        sender.ready().await.with_context(|| format!("connection to {addr}"))?;
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                self.sender = None;
                anyhow::bail!("request to {}{path}: {e}", self.addr);
            }
        };
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("body from {}{path}", self.addr))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, headers, Bytes::new()).await
    }
}
