//! Tyk's OAuth token notification webhook: after a successful `/oauth/token` the gateway POSTs
//! the new tokens to the API's `oauth_on_keychange_url`.
//!
//! Delivery happens off the request path: [`Notifier::send`] only pushes onto a bounded queue, a
//! background task hands each notification to its own delivery task (so one slow receiver does
//! not hold up the others), and retries sleep there. The token response never waits on a webhook.
//!
//! The payload carries live tokens (NFR-7): logs name the receiver's host, the attempt and the
//! status, never the body, the URL's path or query, or the shared secret.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{Notify, Semaphore, mpsc};

/// Deliveries in flight at once. Beyond this the queue absorbs bursts, and past its capacity
/// notifications are dropped: a dead receiver must not grow memory without bound.
pub const MAX_IN_FLIGHT: usize = 64;

const X_TYK_SHARED_SECRET: HeaderName = HeaderName::from_static("x-tyk-shared-secret");
const USER_AGENT: &str = "Gatehouse-Notifications";
/// As Tyk's dialer; the overall per-attempt bound is [`NotifierConfig::request_timeout`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the webhook fires: a token issued by a grant, or a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    New,
    Refresh,
}

/// One notification, as Tyk sends it (field names are the wire contract). Empty strings stand
/// for absent values (no code for a password grant, no old refresh token for a new one).
#[derive(Clone, serde::Serialize)]
pub struct TokenNotification {
    pub auth_code: String,
    pub new_oauth_token: String,
    pub refresh_token: String,
    pub old_refresh_token: String,
    pub notification_type: NotificationType,
}

impl fmt::Debug for TokenNotification {
    /// Hand-written so that no `{:?}` anywhere can leak a token: only whether each one is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn redacted(value: &str) -> &'static str {
            if value.is_empty() { "" } else { "<redacted>" }
        }
        f.debug_struct("TokenNotification")
            .field("auth_code", &redacted(&self.auth_code))
            .field("new_oauth_token", &redacted(&self.new_oauth_token))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("old_refresh_token", &redacted(&self.old_refresh_token))
            .field("notification_type", &self.notification_type)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifierConfig {
    /// Attempts per notification in total, first one included (Tyk: 3). 0 is treated as 1.
    pub attempts: u32,
    /// Wait after the first failed attempt; doubles after each further failure. Tyk waits a
    /// flat 10 s, but backing off lets a briefly restarting receiver catch the token sooner.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// One attempt, from connect to the end of the answer (Tyk's client timeout).
    pub request_timeout: Duration,
    /// Notifications waiting for a delivery slot; more are dropped.
    pub queue_capacity: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            queue_capacity: 10_000,
        }
    }
}

/// Handle to the background sender; cheap to clone, every clone feeds the same queue.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Job>,
    pending: Arc<Pending>,
}

/// Notifications accepted by `send` and not yet delivered or given up, for `flush`.
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    idle: Notify,
}

/// Counts one notification as pending for as long as it lives. Tied to the job rather than
/// decremented by hand, so a job dropped anywhere (queue full, task aborted at shutdown) can
/// never leave `flush` waiting forever.
struct PendingGuard(Arc<Pending>);

impl PendingGuard {
    fn new(pending: &Arc<Pending>) -> Self {
        pending.count.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(pending))
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

struct Job {
    uri: Uri,
    /// The only part of the URL that is logged: paths and queries can carry credentials.
    host: String,
    secret: HeaderValue,
    body: Bytes,
    _pending: PendingGuard,
}

type WebhookClient = Client<HttpConnector, Full<Bytes>>;

impl Notifier {
    /// Starts the background sender on the current tokio runtime (panics outside one, like
    /// `tokio::spawn`).
    pub fn start(config: NotifierConfig) -> Self {
        // tokio's mpsc panics on a zero capacity; one slot is the smallest meaningful queue.
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // Without a timer the pool never evicts idle connections in the background.
            .pool_timer(TokioTimer::new())
            .build(connector);
        tokio::spawn(dispatch(jobs, client, config));
        Self { queue, pending: Arc::default() }
    }

    /// Queues a notification to `url` with `X-Tyk-Shared-Secret: shared_secret`. Never waits:
    /// when the queue is full the notification is dropped with a warning (the token response
    /// must never wait for a webhook).
    pub fn send(&self, url: &str, shared_secret: &str, notification: TokenNotification) {
        // Neither the URL nor the parse error is logged: either could quote a credential.
        let Ok(uri) = Uri::try_from(url) else {
            tracing::warn!("notification dropped: invalid webhook URL");
            return;
        };
        let host = uri.host().unwrap_or_default().to_owned();
        match uri.scheme_str() {
            Some("http") if !host.is_empty() => {}
            // The connector speaks plain TCP only; HTTPS receivers are served once the TLS work
            // lands. Until then the notification is dropped rather than sent in clear text.
            Some("https") => {
                tracing::warn!(host = %host, "notification dropped: https webhooks are not supported yet");
                return;
            }
            _ => {
                tracing::warn!("notification dropped: webhook URL is not an absolute http URL");
                return;
            }
        }
        let Ok(mut secret) = HeaderValue::from_str(shared_secret) else {
            tracing::warn!(host = %host, "notification dropped: shared secret is not a valid header value");
            return;
        };
        // Keeps the secret out of hyper's debug output and out of HPACK tables.
        secret.set_sensitive(true);
        let body = match serde_json::to_vec(&notification) {
            Ok(body) => Bytes::from(body),
            Err(_) => {
                tracing::warn!(host = %host, "notification dropped: cannot serialize it");
                return;
            }
        };
        let job = Job { uri, host, secret, body, _pending: PendingGuard::new(&self.pending) };
        // try_send, never send().await: waiting here would put the receiver on the token path.
        if let Err(err) = self.queue.try_send(job) {
            let (job, reason) = match err {
                mpsc::error::TrySendError::Full(job) => (job, "queue full"),
                mpsc::error::TrySendError::Closed(job) => (job, "sender stopped"),
            };
            tracing::warn!(host = %job.host, reason, "notification dropped");
        }
    }

    /// Waits until everything queued so far has been delivered or given up (for graceful
    /// shutdown and tests), bounded by `timeout`; returns whether the queue drained.
    /// Notifications queued while waiting are waited for too.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the count is read, so a drain between the two is not missed.
            let idle = self.pending.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.pending.count.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.pending.count.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

/// Takes jobs off the queue and runs each in its own task, at most `MAX_IN_FLIGHT` at a time.
/// Ends when every `Notifier` handle is gone; deliveries already started run to completion.
async fn dispatch(mut jobs: mpsc::Receiver<Job>, client: WebhookClient, config: NotifierConfig) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(job) = jobs.recv().await {
        // The semaphore is never closed, so this only fails if that changes; stop cleanly then.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let client = client.clone();
        tokio::spawn(async move {
            deliver(&client, &config, &job).await;
            drop(slot);
        });
    }
}

async fn deliver(client: &WebhookClient, config: &NotifierConfig, job: &Job) {
    let attempts = config.attempts.max(1);
    let mut backoff = config.first_backoff;
    for attempt in 1..=attempts {
        match attempt_once(client, config, job).await {
            // Exactly 200, as Tyk: a 201 or 204 receiver would be retried there too.
            Ok(StatusCode::OK) => {
                tracing::debug!(host = %job.host, attempt, "notification delivered");
                return;
            }
            Ok(status) => {
                tracing::info!(host = %job.host, attempt, status = status.as_u16(), "notification refused");
            }
            Err(error) => tracing::info!(host = %job.host, attempt, error, "notification failed"),
        }
        if attempt < attempts {
            tokio::time::sleep(backoff.min(config.max_backoff)).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    tracing::warn!(host = %job.host, attempts, "notification given up");
}

/// One POST; the status, or a log label for what went wrong. Labels only: error chains can
/// quote the request, and the request carries tokens.
async fn attempt_once(
    client: &WebhookClient,
    config: &NotifierConfig,
    job: &Job,
) -> Result<StatusCode, &'static str> {
    let request = Request::post(job.uri.clone())
        .header(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT))
        .header(X_TYK_SHARED_SECRET, job.secret.clone())
        .body(Full::new(job.body.clone()))
        .map_err(|_| "invalid request")?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|err| if err.is_connect() { "connect error" } else { "connection error" })?;
        let status = response.status();
        // Read and discard the answer so the connection can go back to the pool; its content
        // means nothing to us, so a broken body does not undo the status.
        let mut body = response.into_body();
        while let Some(Ok(_)) = body.frame().await {}
        Ok(status)
    };
    tokio::time::timeout(config.request_timeout, exchange).await.unwrap_or(Err("timeout"))
}
