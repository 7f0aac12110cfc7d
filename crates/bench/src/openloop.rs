//! Fixed-rate (open-loop) load: request k is due at `start + k / rate`, whatever happened to
//! the ones before, as wrk2 does.
//!
//! Requests are spread round-robin over `connections` keep-alive connections, each a task that
//! sleeps until its next request is due. A request's latency runs from the moment it was due
//! when its connection was still busy with an earlier one (the server fell behind: the wait is
//! the server's doing, so coordinated omission does not hide it), and from the moment it was
//! actually sent otherwise (the timer waking a little late is the generator's doing, not the
//! server's, and would otherwise add up to a millisecond of tokio timer slack to every figure).

use anyhow::Context as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::Conn;
use crate::stats::percentile;

/// Latencies of one fixed-rate run, microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub errors: usize,
    pub achieved_rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

pub async fn run(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    rate: u32,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<Outcome> {
    let total = (f64::from(rate) * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let connections = connections.max(1);
    // Connect (and warm) every connection before the clock starts.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut conn = Conn::new(addr);
        let owned: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        conn.get(path, &owned).await?;
        conns.push(conn);
    }
    let start = Instant::now() + Duration::from_millis(10);
    let mut tasks = Vec::with_capacity(connections);
    for (i, mut conn) in conns.into_iter().enumerate() {
        let path = path.to_owned();
        let headers: Vec<(String, String)> =
            headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        tasks.push(tokio::spawn(async move {
            let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut latencies = Vec::with_capacity(total / connections + 1);
            let mut errors = 0usize;
            let mut free_since = start;
            let mut k = i;
            while k < total {
                let due = start + interval * u32::try_from(k).unwrap_or(u32::MAX);
                tokio::time::sleep_until(due.into()).await;
                let sent = Instant::now();
                let from = if free_since > due { due } else { sent };
                match conn.get(&path, &hdrs).await {
                    Ok(answer) if answer.status.is_success() => {}
                    _ => errors += 1,
                }
                let done = Instant::now();
                free_since = done;
                latencies.push(u64::try_from((done - from).as_micros()).unwrap_or(u64::MAX));
                k += connections;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await.context("load task")?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(Outcome {
        errors,
        achieved_rps: all.len() as f64 / elapsed.max(1e-9),
        p50: percentile(&all, 50.0) as f64,
        p99: percentile(&all, 99.0) as f64,
        p999: percentile(&all, 99.9) as f64,
    })
}
