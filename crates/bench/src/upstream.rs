//! The fast upstream: a hyper HTTP/1.1 server answering every request at once with a small fixed
//! body, so the figures measure the proxies, not the backend. Each listener's body names it,
//! which lets the propagation measurement see which upstream a gateway routes to.

use anyhow::Context as _;
use std::convert::Infallible;
use std::io::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub async fn serve(names: Vec<String>) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for name in names {
        let listener =
            TcpListener::bind("127.0.0.1:0").await.with_context(|| format!("upstream {name}: bind"))?;
        let addr = listener.local_addr().with_context(|| format!("upstream {name}"))?;
        // The parent reads these lines to learn the ports; flushed so it does not wait.
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {name} {addr}")?;
        out.flush()?;
        drop(out);
        let body = Bytes::from(format!("{{\"upstream\":\"{name}\",\"ok\":true}}\n"));
        tasks.push(tokio::spawn(accept_loop(listener, body)));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, body: Bytes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let mut response = Response::new(Full::new(body.clone()));
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
