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
//! Each shard's listening sockets are duplicates of the same sockets: every shard's reactor
//! sees a new connection and whichever is free first accepts it, which balances connections by
//! load without any hand-off between threads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_tls::ServerTls;
use tokio::sync::watch;

use crate::listener::Listener;
use crate::server::Gateway;

/// How many serving threads to run when not told: one per CPU this process may use (cgroup
/// quotas included).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Serves `listeners` on `count` threads until `shutdown` resolves, then drains every shard
/// (for at most `drain_timeout`) and returns once all are done.
///
/// `build` makes each shard's gateway on that shard's thread, so that the connections it opens
/// (Redis, upstream pools) and their tasks belong to that thread's runtime. An error from any
/// shard stops all of them and is returned.
pub async fn serve<B, F>(
    count: usize,
    listeners: Vec<Listener>,
    build: B,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> Result<(), String>
where
    B: Fn(usize) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Gateway, String>>,
{
    let sockets = listeners
        .into_iter()
        .map(|listener| Ok((listener.tcp.into_std()?, listener.tls)))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot share the listening sockets: {e}"))?;
    let build = Arc::new(build);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done) = tokio::sync::mpsc::channel(count.max(1));
    for index in 0..count.max(1) {
        let shard_sockets = sockets
            .iter()
            .map(|(tcp, tls)| Ok((tcp.try_clone()?, tls.clone())))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| format!("cannot share the listening sockets: {e}"))?;
        let shard = Shard { index, sockets: shard_sockets, stop: stop_rx.clone(), drain_timeout };
        let (build, done_tx) = (Arc::clone(&build), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("gh-serve-{index}"))
            .spawn(move || {
                let result = shard.run(|i| build(i));
                // The receiver is gone only when an earlier shard failed; nothing left to tell.
                let _ = done_tx.blocking_send(result);
            })
            .map_err(|e| format!("cannot start serving thread {index}: {e}"))?;
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
}

impl Shard {
    /// The shard's thread: its runtime, its gateway, its accept loops, until stopped and drained.
    fn run<F>(self, build: impl FnOnce(usize) -> F) -> Result<(), String>
    where
        F: Future<Output = Result<Gateway, String>>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("serving thread {}: cannot start its runtime: {e}", self.index))?;
        let Shard { index, sockets, mut stop, drain_timeout } = self;
        runtime.block_on(async move {
            let gateway = Arc::new(build(index).await?);
            let listeners = sockets
                .into_iter()
                .map(|(tcp, tls)| Ok(Listener { tcp: tokio::net::TcpListener::from_std(tcp)?, tls }))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| format!("serving thread {index}: cannot listen: {e}"))?;
            let stopped = async move {
                // An error means the sender is gone, which also means stop.
                let _ = stop.wait_for(|stop| *stop).await;
            };
            gateway.serve_listeners(listeners, stopped, drain_timeout).await;
            Ok(())
        })
    }
}
