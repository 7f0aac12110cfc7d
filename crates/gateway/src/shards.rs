//! Thread-per-core serving: each serving thread runs its own single-threaded runtime and its
//! own [`Gateway`], and all of them accept from the same listening sockets.
//!
//! Why not one work-stealing runtime: a proxied request touches three tasks (the client's
//! connection, the upstream connection, the Redis connection's driver), and on a shared runtime
//! they land on different workers, so every hand-over between them is a cross-thread wake-up
//! (a futex call, often an idle worker unparked). On the benchmark machine that cost more CPU
//! than the gateway's own work: one worker thread served full-auth traffic with 1.7× less CPU per
//! request than two (BENCHMARKS.md, run 5). Here a connection, the upstream pool it uses and the
//! Redis connection it counts limits on all live on one thread, and hand-overs are plain queue
//! pushes. What the shards share (config, session cache, analytics, notifications) is lock-free
//! or briefly locked, never a task.
//!
//! How shards share a listening address is [`AcceptSockets`]: by default each shard's listening
//! sockets are duplicates of the same sockets, so every shard's reactor sees a new connection
//! and whichever is free first accepts it, which balances connections by load without any
//! hand-off between threads; or each shard has its own socket on the address (SO_REUSEPORT).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_tls::ServerTls;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::listener::Listener;
use crate::server::Gateway;

/// How many serving threads to run when not told: one per CPU this process may use (cgroup
/// quotas included).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// How the serving threads share a listening address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcceptSockets {
    /// One socket, duplicated into every thread. A new connection wakes every idle thread and
    /// the first to call `accept` takes it: connections go to whichever thread has time.
    #[default]
    Shared,
    /// One socket per thread on the same address (SO_REUSEPORT): the kernel picks the thread by
    /// hashing the connection's addresses and wakes only that one; blind to load, a busy
    /// thread's share waits for it. Measured against [`Shared`](AcceptSockets::Shared) with
    /// the same requests/s and CPU per request (BENCHMARKS.md, run 13), so not the default.
    /// Needs the first socket bound by [`bind`] with this mode.
    PerThread,
}

/// Where the serving threads run and how they share the listening address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub accept: AcceptSockets,
    /// Pin serving thread i to the i-th CPU this process may use (wrapping around), so the
    /// scheduler cannot stack two of them on one core while another idles. Off by default: on
    /// a machine shared with other busy processes a pinned thread cannot move away from them.
    pub pin_to_cores: bool,
}

/// Pins the calling thread to the `index`-th CPU of those the process may use (its cgroup's
/// cpuset included). A failure is logged and the thread runs unpinned.
fn pin_to_core(index: usize) {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let result = sched_getaffinity(None).and_then(|allowed| {
        let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&cpu| allowed.is_set(cpu)).collect();
        let Some(&cpu) = cpus.get(index % cpus.len().max(1)) else { return Ok(None) };
        let mut only = CpuSet::new();
        only.set(cpu);
        sched_setaffinity(None, &only).map(|()| Some(cpu))
    });
    match result {
        Ok(Some(cpu)) => tracing::debug!(index, cpu, "serving thread pinned"),
        Ok(None) => tracing::warn!(index, "no CPU to pin the serving thread to"),
        Err(error) => tracing::warn!(index, %error, "cannot pin the serving thread; it runs unpinned"),
    }
}

/// Binds the listening socket on `addr`, fit for `accept`.
///
/// With [`AcceptSockets::PerThread`] the socket lets the other threads' sockets join it on
/// the same address. SO_REUSEPORT would equally let a second gateway of the same user join it
/// and silently take half the connections, so the address is first bound plainly: if anything
/// already listens there, this fails with "address in use", as it does for a shared socket.
pub fn bind(addr: SocketAddr, accept: AcceptSockets) -> std::io::Result<std::net::TcpListener> {
    if accept == AcceptSockets::PerThread && addr.port() != 0 {
        drop(socket(addr, false)?);
    }
    listen(socket(addr, accept == AcceptSockets::PerThread)?)
}

/// Another thread's socket on `first`'s address, for [`AcceptSockets::PerThread`].
fn bind_beside(first: &std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    listen(socket(first.local_addr()?, true)?)
}

/// A non-blocking TCP socket bound to `addr`, not yet listening.
fn socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std and tokio do: a restarted gateway may bind while old connections sit in TIME_WAIT.
    // It still cannot bind where another socket listens.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn listen(socket: Socket) -> std::io::Result<std::net::TcpListener> {
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// tokio's and std's default accept queue.
const LISTEN_BACKLOG: i32 = 1024;

/// Why the serving threads could not start or stopped on their own.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("cannot share the listening sockets: {0}")]
    ShareSockets(#[source] std::io::Error),
    #[error("cannot start serving thread {index}: {source}")]
    SpawnThread {
        index: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("serving thread {index}: cannot start its runtime: {source}")]
    Runtime {
        index: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("serving thread {index}: cannot listen: {source}")]
    Listen {
        index: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("serving thread {index} panicked")]
    Panicked { index: usize },
    /// The shard's [`Gateway`] could not be built (e.g. its Redis connection): the builder's
    /// error as it is.
    #[error(transparent)]
    Build(Box<dyn std::error::Error + Send + Sync>),
}

/// Serves `listeners` on `count` threads, placed and sharing them as `placement` says, until `shutdown` resolves, then drains every shard
/// (for at most `drain_timeout`) and returns once all are done.
///
/// `build` makes each shard's gateway on that shard's thread, so that the connections it opens
/// (Redis, upstream pools) and their tasks belong to that thread's runtime. An error from any
/// shard stops all of them and is returned.
pub async fn serve<B, F, E>(
    count: usize,
    placement: Placement,
    listeners: Vec<Listener>,
    build: B,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> Result<(), ShardError>
where
    B: Fn(usize) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Gateway, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let sockets = listeners
        .into_iter()
        .map(|listener| Ok((listener.tcp.into_std()?, listener.tls)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(ShardError::ShareSockets)?;
    let build = Arc::new(build);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done) = tokio::sync::mpsc::channel(count.max(1));
    for index in 0..count.max(1) {
        let shard_sockets = sockets
            .iter()
            .map(|(tcp, tls)| {
                let own = match placement.accept {
                    AcceptSockets::PerThread if index > 0 => bind_beside(tcp)?,
                    _ => tcp.try_clone()?,
                };
                Ok((own, tls.clone()))
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(ShardError::ShareSockets)?;
        let shard = Shard {
            index,
            sockets: shard_sockets,
            stop: stop_rx.clone(),
            drain_timeout,
            pin: placement.pin_to_cores,
        };
        let (build, done_tx) = (Arc::clone(&build), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("gh-serve-{index}"))
            .spawn(move || {
                // A panic out of a shard must not leave the gateway serving on fewer threads
                // than it reports: it stops the others like an error does.
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.run(|i| build(i))))
                        .unwrap_or(Err(ShardError::Panicked { index }));
                // The receiver is gone only when an earlier shard failed; nothing left to tell.
                let _ = done_tx.blocking_send(result);
            })
            .map_err(|source| ShardError::SpawnThread { index, source })?;
    }
    drop(done_tx);
    // The original sockets close here; the shards hold their duplicates.
    drop(sockets);

    tokio::pin!(shutdown);
    let mut first_error = None;
    let mut stopping = false;
    loop {
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                stopping = true;
                let _ = stop_tx.send(true);
            }
            finished = done.recv() => match finished {
                // Every shard has returned.
                None => break,
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    // One shard cannot serve: stop the others rather than run degraded.
                    first_error.get_or_insert(e);
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
            },
        }
    }
    first_error.map_or(Ok(()), Err)
}

struct Shard {
    index: usize,
    sockets: Vec<(std::net::TcpListener, Option<Arc<ServerTls>>)>,
    stop: watch::Receiver<bool>,
    drain_timeout: Duration,
    pin: bool,
}

impl Shard {
    /// The shard's thread: its runtime, its gateway, its accept loops, until stopped and drained.
    fn run<F, E>(self, build: impl FnOnce(usize) -> F) -> Result<(), ShardError>
    where
        F: Future<Output = Result<Gateway, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if self.pin {
            pin_to_core(self.index);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ShardError::Runtime { index: self.index, source })?;
        let Shard { index, sockets, mut stop, drain_timeout, pin: _ } = self;
        runtime.block_on(async move {
            let gateway = Arc::new(build(index).await.map_err(|e| ShardError::Build(e.into()))?);
            let listeners = sockets
                .into_iter()
                .map(|(tcp, tls)| Ok(Listener { tcp: tokio::net::TcpListener::from_std(tcp)?, tls }))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|source| ShardError::Listen { index, source })?;
            let stopped = async move {
                // An error means the sender is gone, which also means stop.
                let _ = stop.wait_for(|stop| *stop).await;
            };
            gateway.serve_listeners(listeners, stopped, drain_timeout).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use gatehouse_store::{AnyTokenStore, MemoryTokenStore};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::analytics::AnalyticsRecorder;
    use crate::live::LiveConfig;
    use crate::notify::{Notifier, NotifierConfig};
    use crate::proxy::{ProxyTimeouts, UpstreamClient};
    use crate::session_cache::SessionCache;

    const BOUND: Duration = Duration::from_secs(10);

    fn gateway() -> Gateway {
        let tokens = AnyTokenStore::Memory(MemoryTokenStore::new());
        Gateway {
            live: Arc::new(LiveConfig::new()),
            sessions: SessionCache::disabled(),
            analytics: AnalyticsRecorder::new(tokens.clone(), 16),
            tokens,
            upstream: UpstreamClient::new(ProxyTimeouts::default()),
            notifier: Notifier::start(NotifierConfig::default()),
            draining: Default::default(),
            store_health: Default::default(),
            limit_checks: Default::default(),
            edge: Default::default(),
            paths: Default::default(),
        }
    }

    async fn listener(accept: AcceptSockets) -> (Vec<Listener>, std::net::SocketAddr) {
        let tcp = bind("127.0.0.1:0".parse().unwrap(), accept).unwrap();
        let tcp = TcpListener::from_std(tcp).unwrap();
        let addr = tcp.local_addr().unwrap();
        (vec![Listener::plain(tcp)], addr)
    }

    /// The status line of `GET /healthz` on a connection of its own.
    async fn probe(addr: std::net::SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn every_shard_is_built_on_its_own_thread_and_all_stop_on_shutdown() {
        serve_on_two_threads_and_stop(AcceptSockets::Shared).await;
    }

    #[tokio::test]
    async fn with_a_socket_per_thread_every_shard_serves_and_all_sockets_close_on_shutdown() {
        serve_on_two_threads_and_stop(AcceptSockets::PerThread).await;
    }

    async fn serve_on_two_threads_and_stop(accept: AcceptSockets) {
        let (listeners, addr) = listener(accept).await;
        let built_on = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&built_on);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Pinned too: on any machine the test runs on, pinning must not stop a shard serving.
        let serving = tokio::spawn(serve(
            2,
            Placement { accept, pin_to_cores: true },
            listeners,
            move |index| {
                let thread = std::thread::current().name().map(str::to_owned);
                // Built on the shard's thread, after pinning: the CPUs it may run on.
                let cpus = rustix::thread::sched_getaffinity(None).map(|set| set.count()).unwrap_or(0);
                record.lock().unwrap().push((index, thread, cpus));
                async { Ok::<_, String>(gateway()) }
            },
            async move {
                let _ = stopped.await;
            },
            BOUND,
        ));
        for _ in 0..20 {
            assert_eq!(tokio::time::timeout(BOUND, probe(addr)).await.unwrap(), "HTTP/1.1 200 OK");
        }
        let mut built_on = built_on.lock().unwrap().clone();
        built_on.sort();
        assert_eq!(built_on, [(0, Some("gh-serve-0".to_owned()), 1), (1, Some("gh-serve-1".to_owned()), 1)]);

        stop.send(()).unwrap();
        let result = tokio::time::timeout(BOUND, serving).await.expect("every shard stops").unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(TcpStream::connect(addr).await.is_err(), "nothing listens any more");
    }

    #[test]
    fn a_taken_address_is_refused_in_both_modes() {
        for first in [AcceptSockets::Shared, AcceptSockets::PerThread] {
            let taken = bind("127.0.0.1:0".parse().unwrap(), first).unwrap();
            let addr = taken.local_addr().unwrap();
            for second in [AcceptSockets::Shared, AcceptSockets::PerThread] {
                let error = bind(addr, second).expect_err("a second gateway on a taken address");
                assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{first:?} then {second:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_shard_that_cannot_start_stops_the_others_with_its_error() {
        let (listeners, _) = listener(AcceptSockets::Shared).await;
        let build = |index: usize| async move {
            match index {
                1 => Err("--redis redis://nowhere: unreachable".to_owned()),
                _ => Ok(gateway()),
            }
        };
        let result = tokio::time::timeout(
            BOUND,
            serve(3, Placement::default(), listeners, build, std::future::pending(), BOUND),
        )
        .await
        .expect("a failed shard ends the gateway without a shutdown signal");
        assert_eq!(result.map_err(|e| e.to_string()), Err("--redis redis://nowhere: unreachable".to_owned()));
    }

    #[tokio::test]
    async fn a_panicking_shard_stops_the_others() {
        let (listeners, _) = listener(AcceptSockets::Shared).await;
        let build = |index: usize| async move {
            assert_ne!(index, 0, "shard 0 cannot start");
            Ok::<_, String>(gateway())
        };
        let result = tokio::time::timeout(
            BOUND,
            serve(2, Placement::default(), listeners, build, std::future::pending(), BOUND),
        )
        .await
        .expect("a panicked shard ends the gateway");
        assert_eq!(result.map_err(|e| e.to_string()), Err("serving thread 0 panicked".to_owned()));
    }
}
