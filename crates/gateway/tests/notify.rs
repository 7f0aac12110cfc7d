//! The token notification webhook against a real hyper receiver on a loopback socket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_gateway::notify::{
    MAX_IN_FLIGHT, NotificationType, Notifier, NotifierConfig, TokenNotification,
};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

const AUTH_CODE: &str = "code-5f1d0c2a9b";
const ACCESS_TOKEN: &str = "at-8e3b7d41c6";
const REFRESH_TOKEN: &str = "rt-27a9f0e5d3";
const OLD_REFRESH_TOKEN: &str = "ort-c4b6e8a1f7";
const SECRET: &str = "shared-secret-9d2e4f";

fn notification(kind: NotificationType) -> TokenNotification {
    TokenNotification {
        auth_code: AUTH_CODE.into(),
        new_oauth_token: ACCESS_TOKEN.into(),
        refresh_token: REFRESH_TOKEN.into(),
        old_refresh_token: OLD_REFRESH_TOKEN.into(),
        notification_type: kind,
    }
}

/// Small backoffs so retry tests take milliseconds.
fn fast_config(attempts: u32) -> NotifierConfig {
    NotifierConfig {
        attempts,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
        request_timeout: Duration::from_secs(5),
        ..NotifierConfig::default()
    }
}

struct Recorded {
    method: Method,
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook receiver. Answers the listed statuses in order, then `then` forever; each answer is
/// held back by `delay` and until the gate is open. Requests are recorded on arrival, before the
/// wait, so a blocked receiver still shows how many attempts reached it.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    gate: watch::Sender<bool>,
}

impl Receiver {
    async fn start(statuses: &[u16], then: u16, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
        let (gate, gate_rx) = watch::channel(true);
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (recorded, statuses, gate_rx) =
                    (Arc::clone(&recorded), Arc::clone(&statuses), gate_rx.clone());
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (recorded, statuses, mut gate_rx) =
                        (Arc::clone(&recorded), Arc::clone(&statuses), gate_rx.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let status = statuses.lock().unwrap().pop_front().unwrap_or(then);
                        recorded.lock().unwrap().push(Recorded {
                            method: parts.method,
                            headers: parts.headers,
                            body,
                        });
                        tokio::time::sleep(delay).await;
                        let _ = gate_rx.wait_for(|open| *open).await;
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self { addr, requests, gate }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/oauth?tenant=a", self.addr)
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[tokio::test]
async fn new_notification_arrives_with_the_tyk_body_and_headers() {
    capture_logs();
    let receiver = Receiver::start(&[], 200, Duration::ZERO).await;
    let notifier = Notifier::start(fast_config(3));
    let mut sent = notification(NotificationType::New);
    sent.old_refresh_token = String::new();

    notifier.send(&receiver.url(), SECRET, sent);
    assert!(notifier.flush(Duration::from_secs(5)).await);

    let requests = receiver.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.headers["x-tyk-shared-secret"], SECRET);
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["user-agent"], "Gatehouse-Notifications");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "auth_code": AUTH_CODE,
            "new_oauth_token": ACCESS_TOKEN,
            "refresh_token": REFRESH_TOKEN,
            "old_refresh_token": "",
            "notification_type": "new",
        })
    );
}

#[tokio::test]
async fn refresh_notification_says_refresh() {
    capture_logs();
    let receiver = Receiver::start(&[], 200, Duration::ZERO).await;
    let notifier = Notifier::start(fast_config(3));
    notifier.send(&receiver.url(), SECRET, notification(NotificationType::Refresh));
    assert!(notifier.flush(Duration::from_secs(5)).await);

    let requests = receiver.requests.lock().unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["notification_type"], "refresh");
    assert_eq!(body["old_refresh_token"], OLD_REFRESH_TOKEN);
}

#[tokio::test]
async fn retries_until_the_receiver_answers_200() {
    capture_logs();
    let receiver = Receiver::start(&[500, 500, 200], 200, Duration::ZERO).await;
    // More attempts allowed than needed: exactly three requests proves the 200 ended the retries.
    let notifier = Notifier::start(fast_config(5));
    notifier.send(&receiver.url(), SECRET, notification(NotificationType::New));
    assert!(notifier.flush(Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 3);
}

#[tokio::test]
async fn only_200_counts_as_success() {
    capture_logs();
    let receiver = Receiver::start(&[204], 200, Duration::ZERO).await;
    let notifier = Notifier::start(fast_config(3));
    notifier.send(&receiver.url(), SECRET, notification(NotificationType::New));
    assert!(notifier.flush(Duration::from_secs(5)).await);
    assert_eq!(receiver.count(), 2);
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    capture_logs();
    let receiver = Receiver::start(&[], 500, Duration::ZERO).await;
    let notifier = Notifier::start(fast_config(3));
    notifier.send(&receiver.url(), SECRET, notification(NotificationType::New));
    assert!(notifier.flush(Duration::from_secs(5)).await);
    assert_eq!(receiver.count(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 3, "no attempt after giving up");
}

#[tokio::test]
async fn receiver_down_is_survived() {
    capture_logs();
    // A port that was just bound and released: connecting to it is refused.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let notifier = Notifier::start(fast_config(3));
    notifier.send(&format!("http://{addr}/hook"), SECRET, notification(NotificationType::New));
    assert!(notifier.flush(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn send_never_waits_for_a_slow_receiver() {
    capture_logs();
    let receiver = Receiver::start(&[], 200, Duration::from_secs(2)).await;
    let notifier = Notifier::start(fast_config(1));
    let url = receiver.url();

    let started = Instant::now();
    for _ in 0..100 {
        notifier.send(&url, SECRET, notification(NotificationType::New));
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(500), "100 sends took {elapsed:?}");
    // flush is bounded by its timeout and reports that the receiver has not been served.
    assert!(!notifier.flush(Duration::from_millis(50)).await);
}

#[tokio::test]
async fn full_queue_drops_instead_of_blocking() {
    capture_logs();
    let receiver = Receiver::start(&[], 200, Duration::ZERO).await;
    receiver.gate.send_replace(false);
    let notifier = Notifier::start(NotifierConfig { queue_capacity: 1, ..fast_config(1) });
    let url = receiver.url();

    let sent = 200;
    let started = Instant::now();
    for _ in 0..sent {
        notifier.send(&url, SECRET, notification(NotificationType::New));
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(500), "{sent} sends took {elapsed:?}");

    receiver.gate.send_replace(true);
    assert!(notifier.flush(Duration::from_secs(10)).await);
    // At most: the deliveries in flight, the one the dispatcher holds while waiting for a slot,
    // and the one in the queue. Everything else was dropped.
    let delivered = receiver.count();
    assert!((1..=MAX_IN_FLIGHT + 2).contains(&delivered), "{delivered} of {sent} delivered");
}

#[tokio::test]
async fn https_and_invalid_urls_are_dropped_without_a_request() {
    capture_logs();
    let receiver = Receiver::start(&[], 200, Duration::ZERO).await;
    let notifier = Notifier::start(fast_config(3));
    let n = || notification(NotificationType::New);
    notifier.send(&format!("https://{}/hook", receiver.addr), SECRET, n());
    notifier.send("not a url", SECRET, n());
    notifier.send("/relative/only", SECRET, n());
    notifier.send(&receiver.url(), "bad\nsecret", n());
    assert!(notifier.flush(Duration::from_secs(1)).await);
    assert_eq!(receiver.count(), 0);
}

#[test]
fn debug_redacts_every_token() {
    let printed = format!("{:?}", notification(NotificationType::Refresh));
    for secret in [AUTH_CODE, ACCESS_TOKEN, REFRESH_TOKEN, OLD_REFRESH_TOKEN] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains("Refresh"), "{printed}");
}

/// Every event of this test binary, as text, so a test can search the logs for secrets.
static LOGS: Mutex<String> = Mutex::new(String::new());

/// Installs the capturing subscriber as the process-wide default. Every async test calls this
/// first. A thread-local `set_default` in the log test alone would be flaky: the first thread to
/// hit a log line caches that line's interest for the whole process, so a sibling test thread
/// without a subscriber could silence it (tokio-rs/tracing#3611). A global default installed
/// before any notifier runs leaves no such window.
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(CaptureLogs).expect("no other subscriber in this binary");
    });
}

fn logs() -> MutexGuard<'static, String> {
    // A test that panicked while holding the lock must not hide its own failure behind others.
    LOGS.lock().unwrap_or_else(PoisonError::into_inner)
}

struct CaptureLogs;

struct FieldText<'a>(&'a mut String);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl tracing::Subscriber for CaptureLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut FieldText(&mut logs()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut FieldText(&mut logs()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut logs = logs();
        event.record(&mut FieldText(&mut logs));
        logs.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// NFR-7. The captured logs hold every test's events (hyper-util's included), and all tests use
/// the same token values, so this checks the other scenarios' logs as well as its own.
#[tokio::test]
async fn logs_never_contain_tokens_or_the_secret() {
    capture_logs();
    let refusing = Receiver::start(&[], 500, Duration::ZERO).await;
    let down = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let notifier = Notifier::start(NotifierConfig { queue_capacity: 1, ..fast_config(2) });
    let n = || notification(NotificationType::Refresh);
    // Secrets in the URL's path and query must not leak either. One at a time through the
    // one-slot queue, then two at once to overflow it.
    notifier.send(&format!("{}&token={ACCESS_TOKEN}", refusing.url()), SECRET, n());
    assert!(notifier.flush(Duration::from_secs(5)).await);
    notifier.send(&format!("http://{down}/{REFRESH_TOKEN}"), SECRET, n());
    assert!(notifier.flush(Duration::from_secs(5)).await);
    notifier.send(&format!("http://{down}/{REFRESH_TOKEN}"), SECRET, n());
    notifier.send(&format!("http://{down}/{AUTH_CODE}?code={AUTH_CODE}"), SECRET, n());
    notifier.send(&format!("https://{down}/{AUTH_CODE}"), SECRET, n());
    notifier.send(&format!("{ACCESS_TOKEN}://x"), SECRET, n());
    notifier.send(&refusing.url(), &format!("{SECRET}\n"), n());
    assert!(notifier.flush(Duration::from_secs(5)).await);

    let logs = logs();
    assert!(logs.contains("notification given up"), "{logs}");
    assert!(logs.contains("queue full"), "{logs}");
    assert!(logs.contains("https"), "{logs}");
    assert!(logs.contains("connect error"), "{logs}");
    assert!(logs.contains("status=500"), "{logs}");
    for secret in [AUTH_CODE, ACCESS_TOKEN, REFRESH_TOKEN, OLD_REFRESH_TOKEN, SECRET] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }
}
