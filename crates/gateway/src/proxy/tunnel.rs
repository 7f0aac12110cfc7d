//! Upgraded connections (WebSocket and friends) once spliced: byte relays that outlive the
//! request that opened them, so hyper's graceful shutdown no longer sees them.
//!
//! [`Tunnels`] counts them, so a draining gateway can wait for them like for in-flight requests
//! and close what is left at the drain deadline rather than cut them at exit; and closes a
//! tunnel that carried no byte in either direction for the idle timeout (WebSocket pings
//! count), so dead peers behind NATs and half-open connections do not pin sockets forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::conn::observed::{Observed, ReadObserver};

/// Default idle timeout: long enough for any application that sends keep-alives, short enough
/// that abandoned connections are reclaimed within the hour.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The gateway's open tunnels. Clones share them.
#[derive(Clone)]
pub struct Tunnels {
    inner: Arc<Inner>,
}

struct Inner {
    open: AtomicUsize,
    /// `None`: tunnels may idle forever.
    idle_timeout: Option<Duration>,
    /// Set once the drain deadline has passed: every tunnel closes.
    closing: watch::Sender<bool>,
    /// Woken whenever a tunnel closes.
    closed: Notify,
}

impl Default for Tunnels {
    fn default() -> Self {
        Self::new(Some(DEFAULT_IDLE_TIMEOUT))
    }
}

impl Tunnels {
    pub fn new(idle_timeout: Option<Duration>) -> Self {
        let inner = Inner {
            open: AtomicUsize::new(0),
            idle_timeout,
            closing: watch::Sender::new(false),
            closed: Notify::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Tunnels open now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Waits up to `within` for every tunnel to close by itself, then closes the others.
    pub async fn drain(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let closed = self.inner.closed.notified();
            if self.open() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                break;
            }
        }
        tracing::warn!(open = self.open(), "drain timeout: closing upgraded connections");
        self.inner.closing.send_replace(true);
        // Each relay ends at its next poll; give them a moment to close their sockets cleanly.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while self.open() > 0 {
                self.inner.closed.notified().await;
            }
        })
        .await;
    }

    /// Relays bytes both ways between `client` and `upstream` until either side closes, the
    /// tunnel idles out, or the drain deadline closes it. Returns why it ended.
    pub async fn relay<C, U>(&self, client: C, upstream: U) -> TunnelEnd
    where
        C: AsyncRead + AsyncWrite + Unpin,
        U: AsyncRead + AsyncWrite + Unpin,
    {
        let _open = OpenGuard::new(&self.inner);
        let started = Instant::now();
        let activity = Arc::new(AtomicU64::new(0));
        let stamp = || Stamp { activity: Arc::clone(&activity), started };
        let mut client = Observed::new(client, stamp());
        let mut upstream = Observed::new(upstream, stamp());
        let mut closing = self.inner.closing.subscribe();
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match copied {
                Ok((up, down)) => TunnelEnd::Closed { up, down },
                Err(e) => TunnelEnd::Failed(e),
            },
            () = idle(self.inner.idle_timeout, &activity, started) => TunnelEnd::Idle,
            _ = closing.wait_for(|closing| *closing) => TunnelEnd::Drained,
        }
    }
}

/// Why a tunnel ended.
#[derive(Debug)]
pub enum TunnelEnd {
    /// A side closed; bytes relayed client → upstream and back.
    Closed {
        up: u64,
        down: u64,
    },
    Failed(std::io::Error),
    /// Nothing moved for the idle timeout.
    Idle,
    /// Still open at the drain deadline.
    Drained,
}

/// Counts a tunnel as open for its lifetime.
struct OpenGuard<'a>(&'a Inner);

impl<'a> OpenGuard<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.open.fetch_add(1, Ordering::AcqRel);
        Self(inner)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.closed.notify_waiters();
    }
}

/// Resolves once nothing was read on either side for `timeout`; never without a timeout.
async fn idle(timeout: Option<Duration>, activity: &AtomicU64, started: Instant) {
    let Some(timeout) = timeout else { return std::future::pending().await };
    loop {
        let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
        let idle_until = last + timeout;
        if Instant::now() >= idle_until {
            return;
        }
        tokio::time::sleep_until(idle_until).await;
    }
}

/// Stamps `activity` (milliseconds since `started`) whenever a side reads bytes: a timestamp
/// per read is cheaper than a timer reset per read.
struct Stamp {
    activity: Arc<AtomicU64>,
    started: Instant,
}

impl ReadObserver for Stamp {
    fn bytes_read(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(elapsed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_tunnel_closes_and_an_active_one_does_not() {
        let tunnels = Tunnels::new(Some(Duration::from_secs(10)));
        let (client, mut client_peer) = duplex(64);
        let (upstream, mut upstream_peer) = duplex(64);
        let relay = tokio::spawn({
            let tunnels = tunnels.clone();
            async move { tunnels.relay(client, upstream).await }
        });
        // Traffic every 6 s keeps it open past the 10 s timeout...
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client_peer.write_all(b"ping").await.unwrap();
            let mut got = [0u8; 4];
            upstream_peer.read_exact(&mut got).await.unwrap();
        }
        assert_eq!(tunnels.open(), 1);
        // ...and 10 s of silence closes it.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(matches!(relay.await.unwrap(), TunnelEnd::Idle));
        assert_eq!(tunnels.open(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_tunnels_then_closes_the_rest() {
        let tunnels = Tunnels::new(None);
        let mut relays = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..2 {
            let (client, client_peer) = duplex(64);
            let (upstream, upstream_peer) = duplex(64);
            let t = tunnels.clone();
            relays.push(tokio::spawn(async move { t.relay(client, upstream).await }));
            peers.push((client_peer, upstream_peer));
        }
        tokio::task::yield_now().await;
        assert_eq!(tunnels.open(), 2);
        // One closes by itself during the drain (both ends hang up: a half-closed tunnel still
        // relays the other way); the other is still open at the deadline.
        let first = peers.remove(0);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(first);
        });
        let started = Instant::now();
        tunnels.drain(Duration::from_secs(5)).await;
        assert!(started.elapsed() >= Duration::from_secs(5));
        assert_eq!(tunnels.open(), 0);
        let ends: Vec<TunnelEnd> = futures_join(relays).await;
        assert!(matches!(ends[0], TunnelEnd::Closed { .. } | TunnelEnd::Failed(_)), "{:?}", ends[0]);
        assert!(matches!(ends[1], TunnelEnd::Drained), "{:?}", ends[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn draining_without_tunnels_returns_at_once() {
        let tunnels = Tunnels::new(None);
        let started = Instant::now();
        tunnels.drain(Duration::from_secs(30)).await;
        assert!(started.elapsed() < Duration::from_millis(1));
    }

    async fn futures_join(handles: Vec<tokio::task::JoinHandle<TunnelEnd>>) -> Vec<TunnelEnd> {
        let mut ends = Vec::new();
        for handle in handles {
            ends.push(handle.await.unwrap());
        }
        ends
    }
}
