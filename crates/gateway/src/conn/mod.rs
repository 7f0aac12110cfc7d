//! What every client connection meets, on the gateway's listeners and the control plane's
//! port alike: read deadlines, the cap on concurrent connections, header limits and the `Host`
//! check. Both roles serve through these pieces, so the same flags mean the same thing on both.
//!
//! - [`ConnectionLimits`]: the numbers, set once from the command line.
//! - [`Connections`]: the cap. A listener admits up to `max_connections` connections; past
//!   that, [`PROBE_HEADROOM`] more are admitted to answer the probes and `/metrics` only (other
//!   requests get `503` and the connection closes after its response), so a full gateway still
//!   tells Kubernetes it is alive; past that too, connections are closed as soon as accepted
//!   (the kernel's backlog is not left to fill, which would stall probes as well).
//! - [`watchdog`]: the deadlines between requests: the request head within
//!   `header_read_timeout` of its first byte (and of the connection's start), the next request
//!   within `keep_alive_timeout` of the last response. Bodies have their own deadline where they
//!   are read ([`BodyReadTimeout`]), and proxied bodies an idle timeout between their pieces
//!   (`request_body_idle_timeout`, enforced by the proxy).
//! - [`host`]: RFC 9112 §3.2: an HTTP/1.1 request without exactly one valid `Host` is a 400.

pub mod deadline;
pub mod host;
pub mod observed;
pub mod watchdog;

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use gatehouse_telemetry::metrics::connections::Role;

/// Connections admitted beyond `max_connections` to answer probes only.
pub const PROBE_HEADROOM: usize = 16;

/// The default of `--max-connections` when the file-descriptor limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Connection limits of one listener; [`Default`] holds the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head (request line and headers) must arrive within this of its first byte,
    /// and a new connection must send one within this of being accepted.
    pub header_read_timeout: Duration,
    /// A body the server reads whole (OAuth forms, admin requests) must arrive within this of
    /// the handler starting to read it; else `408`.
    pub body_read_timeout: Duration,
    /// A proxied body, which streams to its upstream rather than being read whole, may pause
    /// this long between two pieces; then `408` (gateway only: the control plane proxies
    /// nothing).
    pub request_body_idle_timeout: Duration,
    /// A keep-alive connection may sit between requests this long.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; see the module docs for what happens past it.
    pub max_connections: usize,
    /// Header fields in one HTTP/1 request; more: `431`.
    pub max_headers: usize,
    /// Bytes of one request head (HTTP/1: the read buffer, at least 8 KiB; HTTP/2: the header
    /// list); more: `431` (HTTP/1) or a stream reset (HTTP/2).
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_body_idle_timeout: crate::proxy::DEFAULT_REQUEST_BODY_IDLE_TIMEOUT,
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// hyper's floor for an HTTP/1 read buffer.
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

impl ConnectionLimits {
    /// The connection builder for one connection. `probes_only` connections are not kept alive:
    /// they answer one request and close, freeing their headroom slot.
    pub fn builder(&self, probes_only: bool) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // No hyper timer: hyper's own header timeout would start while a kept-alive connection
        // is idle, so the watchdog keeps both deadlines instead.
        builder
            .http1()
            .max_headers(self.max_headers)
            .max_buf_size(self.max_header_bytes.max(MIN_HEADER_BYTES))
            .keep_alive(!probes_only);
        builder.http2().max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX));
        builder
    }
}

/// The default connection cap: [`DEFAULT_MAX_CONNECTIONS`], or half the process's soft limit
/// on open files when that is lower (a proxied request holds a second descriptor upstream,
/// and Redis, logs and listeners need some too).
pub fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    match limit.and_then(|l| usize::try_from(l).ok()) {
        Some(fds) => (fds / 2).clamp(1, DEFAULT_MAX_CONNECTIONS),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// The per-request deadline for reading a whole body, put in each request's extensions by the
/// listener so the handlers that read bodies need no other plumbing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyReadTimeout(pub Duration);

impl BodyReadTimeout {
    /// The deadline `req` carries, or the default when it came some other way (tests).
    pub fn of<B>(req: &http::Request<B>) -> Duration {
        req.extensions()
            .get::<BodyReadTimeout>()
            .map_or(ConnectionLimits::default().body_read_timeout, |t| t.0)
    }
}

/// A listener's limits and its connection slots; clones share the slots (one cap for every
/// serving thread).
#[derive(Debug, Clone)]
pub struct Connections {
    pub limits: ConnectionLimits,
    role: Role,
    served: Arc<Semaphore>,
    probes: Arc<Semaphore>,
}

impl Default for Connections {
    fn default() -> Self {
        Self::new(ConnectionLimits::default(), "gateway")
    }
}

/// Whether and how an accepted connection is served.
pub enum Admission {
    Served(Slot),
    /// Over the cap: probes and `/metrics` only, one request, then closed.
    ProbesOnly(Slot),
    /// Over the cap and the headroom: close it now.
    Refused,
}

/// A connection's place under the cap, given back when the connection ends.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    role: Role,
}

impl Drop for Slot {
    fn drop(&mut self) {
        gatehouse_telemetry::metrics::connections::closed(self.role);
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits, role: Role) -> Self {
        let served = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        Self { limits, role, served, probes: Arc::new(Semaphore::new(PROBE_HEADROOM)) }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Called for each accepted connection, before anything is read from it.
    pub fn admit(&self) -> Admission {
        let slot = |permit| {
            gatehouse_telemetry::metrics::connections::opened(self.role);
            Slot { _permit: permit, role: self.role }
        };
        if let Ok(permit) = Arc::clone(&self.served).try_acquire_owned() {
            return Admission::Served(slot(permit));
        }
        if let Ok(permit) = Arc::clone(&self.probes).try_acquire_owned() {
            return Admission::ProbesOnly(slot(permit));
        }
        gatehouse_telemetry::metrics::connections::refused(self.role);
        Admission::Refused
    }
}

/// The paths a probes-only connection answers.
pub fn is_probe_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || path == gatehouse_telemetry::metrics::PATH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_then_the_probe_headroom_then_refusal() {
        let limits = ConnectionLimits { max_connections: 3, ..ConnectionLimits::default() };
        let connections = Connections::new(limits, "gateway");
        let mut held = Vec::new();
        for _ in 0..3 {
            let Admission::Served(slot) = connections.admit() else { panic!("under the cap: served") };
            held.push(slot);
        }
        for _ in 0..PROBE_HEADROOM {
            let Admission::ProbesOnly(slot) = connections.admit() else { panic!("headroom: probes only") };
            held.push(slot);
        }
        assert!(matches!(connections.admit(), Admission::Refused));
        // A served connection ending frees its slot for the next one.
        held.swap_remove(0);
        assert!(matches!(connections.admit(), Admission::Served(_)));
    }

    #[test]
    fn clones_share_one_cap() {
        let limits = ConnectionLimits { max_connections: 1, ..ConnectionLimits::default() };
        let a = Connections::new(limits, "gateway");
        let b = a.clone();
        let _held = a.admit();
        assert!(matches!(b.admit(), Admission::ProbesOnly(_)));
    }

    #[test]
    fn the_default_cap_leaves_descriptors_to_spare() {
        let cap = default_max_connections();
        assert!((1..=DEFAULT_MAX_CONNECTIONS).contains(&cap));
        if let Some(fds) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
            assert!(u64::try_from(cap).unwrap() <= fds.max(2) / 2);
        }
    }

    #[test]
    fn the_body_deadline_travels_with_the_request() {
        let mut req = http::Request::new(());
        assert_eq!(BodyReadTimeout::of(&req), Duration::from_secs(10));
        req.extensions_mut().insert(BodyReadTimeout(Duration::from_secs(2)));
        assert_eq!(BodyReadTimeout::of(&req), Duration::from_secs(2));
    }
}
