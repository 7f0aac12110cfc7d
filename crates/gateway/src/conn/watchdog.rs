//! The deadlines between requests on one connection.
//!
//! hyper's own `header_read_timeout` starts as soon as it waits for a request head, which on a
//! kept-alive connection is right after the previous response: it would close idle connections
//! after the header timeout, not the keep-alive one. So the listener keeps both here, from
//! three observations: bytes arriving (the [`Watched`] stream), a request handed to the
//! service ([`Watchdog::request`]) and its response body finished or dropped ([`InFlight`]
//! travels with it in a [`Tracked`] body). With no request in flight:
//! - before the first request, the head must arrive within `header_read_timeout` of the accept;
//! - after a response, the next request may start within `keep_alive_timeout`, and once its
//!   first byte arrives its head must be complete within `header_read_timeout` (HTTP/1; an
//!   HTTP/2 connection's idle bytes are pings and settings, so there only the idle deadline).
//!
//! While a request is in flight the handler's deadlines apply (body reads, the upstream
//! timeouts), and a long download or a config stream is never cut for being long. A connection
//! past its deadline is closed: [`Watchdog::expired`] resolves, and the listener drops it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_telemetry::metrics::connections::TimeoutKind;
use http::Version;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ConnectionLimits;
use super::observed::{Observed, ReadObserver};

/// One connection's watchdog; clones observe the same connection.
#[derive(Clone)]
pub struct Watchdog {
    state: Arc<State>,
}

struct State {
    accepted: Instant,
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
    in_flight: AtomicUsize,
    seen_request: AtomicBool,
    http2: AtomicBool,
    /// Bytes arrived since the connection went idle: a request head is on its way.
    receiving: AtomicBool,
    /// Milliseconds since `accepted`.
    idle_since: AtomicU64,
    head_started: AtomicU64,
    changed: Notify,
}

impl Watchdog {
    pub fn new(limits: &ConnectionLimits) -> Self {
        Self {
            state: Arc::new(State {
                accepted: Instant::now(),
                header_read_timeout: limits.header_read_timeout,
                keep_alive_timeout: limits.keep_alive_timeout,
                in_flight: AtomicUsize::new(0),
                seen_request: AtomicBool::new(false),
                http2: AtomicBool::new(false),
                receiving: AtomicBool::new(false),
                idle_since: AtomicU64::new(0),
                head_started: AtomicU64::new(0),
                changed: Notify::new(),
            }),
        }
    }

    /// The connection's stream, with arriving bytes reported to this watchdog.
    pub fn watch<T>(&self, io: T) -> Watched<T> {
        Observed::new(io, Arrivals(Arc::clone(&self.state)))
    }

    /// A request reached the service; the returned guard ends it when dropped (put it in the
    /// response body with [`Tracked`]).
    pub fn request(&self, version: Version) -> InFlight {
        let state = &self.state;
        state.in_flight.fetch_add(1, Relaxed);
        state.seen_request.store(true, Relaxed);
        if version == Version::HTTP_2 {
            state.http2.store(true, Relaxed);
        }
        InFlight { state: Arc::clone(state) }
    }

    /// Resolves when the connection has passed a deadline, with which one.
    pub async fn expired(&self) -> TimeoutKind {
        loop {
            // `notify_one` keeps a permit when nobody waits: a change between the computation
            // below and the wait is not missed.
            let changed = self.state.changed.notified();
            match self.state.deadline() {
                None => changed.await,
                Some((at, kind)) => {
                    if Instant::now() >= at {
                        return kind;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

impl State {
    fn now(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, millis: u64, after: Duration) -> Instant {
        self.accepted + Duration::from_millis(millis) + after
    }

    fn deadline(&self) -> Option<(Instant, TimeoutKind)> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        if !self.seen_request.load(Relaxed) {
            return Some((self.at(0, self.header_read_timeout), "header"));
        }
        if !self.http2.load(Relaxed) && self.receiving.load(Relaxed) {
            return Some((self.at(self.head_started.load(Relaxed), self.header_read_timeout), "header"));
        }
        Some((self.at(self.idle_since.load(Relaxed), self.keep_alive_timeout), "idle"))
    }

    fn bytes_arrived(&self) {
        if !self.receiving.load(Relaxed) {
            self.head_started.store(self.now(), Relaxed);
            self.receiving.store(true, Relaxed);
            self.changed.notify_one();
        }
    }
}

/// A request in flight on its connection; dropping the last one starts the idle deadline.
pub struct InFlight {
    state: Arc<State>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let state = &self.state;
        if state.in_flight.fetch_sub(1, Relaxed) == 1 {
            state.idle_since.store(state.now(), Relaxed);
            state.receiving.store(false, Relaxed);
            state.changed.notify_one();
        }
    }
}

/// A response body that ends its request's [`InFlight`] when it is finished or dropped.
pub struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Self { body, _in_flight: in_flight }
    }
}

impl<B> http_body::Body for Tracked<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A connection's stream that tells its watchdog when bytes arrive.
pub type Watched<T> = Observed<T, Arrivals>;

/// The watchdog's ear on its connection's stream.
pub struct Arrivals(Arc<State>);

impl ReadObserver for Arrivals {
    fn bytes_read(&self) {
        self.0.bytes_arrived();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn watchdog() -> Watchdog {
        let limits =
            ConnectionLimits { header_read_timeout: HEADER, keep_alive_timeout: IDLE, ..Default::default() };
        Watchdog::new(&limits)
    }

    /// How long after now the watchdog fires, and why (paused clock: no real waiting).
    async fn fires_after(watchdog: &Watchdog) -> (Duration, TimeoutKind) {
        let start = Instant::now();
        let kind = watchdog.expired().await;
        (start.elapsed(), kind)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_gets_the_header_deadline() {
        assert_eq!(fires_after(&watchdog()).await, (HEADER, "header"));
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_fires_while_a_request_is_in_flight_and_idle_counts_from_its_end() {
        let watchdog = watchdog();
        let in_flight = watchdog.request(Version::HTTP_11);
        let waiting = tokio::spawn({
            let watchdog = watchdog.clone();
            async move { fires_after(&watchdog).await }
        });
        tokio::time::sleep(HEADER * 30).await;
        assert!(!waiting.is_finished(), "a long request is not cut");
        drop(Tracked::new(http_body_util::Empty::<Bytes>::new(), in_flight));
        let (after, kind) = waiting.await.unwrap();
        assert_eq!((after, kind), (HEADER * 30 + IDLE, "idle"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_started_on_a_kept_alive_connection_gets_the_header_deadline() {
        let watchdog = watchdog();
        drop(watchdog.request(Version::HTTP_11));
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = watchdog.watch(server);
        tokio::time::sleep(Duration::from_secs(5)).await;
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0; 64];
        tokio::io::AsyncReadExt::read(&mut server, &mut buf).await.unwrap();
        // The head's first byte came 5 s after the response: 10 s from then, not 60 s.
        assert_eq!(fires_after(&watchdog).await, (HEADER, "header"));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_connections_keep_the_idle_deadline_through_pings() {
        let watchdog = watchdog();
        drop(watchdog.request(Version::HTTP_2));
        watchdog.state.bytes_arrived();
        assert_eq!(fires_after(&watchdog).await, (IDLE, "idle"));
    }
}
