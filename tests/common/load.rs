//! Load for the fault tests: a few client tasks sending requests in a loop while a test breaks
//! something, each answer recorded with when it was sent, so the test can judge every request
//! by what was broken at the time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// No request of a fault test may take longer: a hang fails the test instead of stalling it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which kind of request (the name given to [`Load::spawn`]).
    pub kind: &'static str,
    pub sent: Instant,
    pub latency: Duration,
    /// Status, content type and body; `Err` for a transport failure (refused, reset, timeout).
    pub result: Result<(u16, String, String), String>,
}

impl Sample {
    pub fn status(&self) -> Option<u16> {
        self.result.as_ref().ok().map(|(status, _, _)| *status)
    }

    pub fn body(&self) -> &str {
        self.result.as_ref().map(|(_, _, body)| body.as_str()).unwrap_or("")
    }

    /// A JSON object body labelled application/json, as every gateway-made answer must be.
    pub fn is_json(&self) -> bool {
        let Ok((_, content_type, body)) = &self.result else { return false };
        content_type.starts_with("application/json")
            && serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object())
    }

    /// The `upstream` an echo upstream put in its answer.
    pub fn upstream(&self) -> Option<String> {
        let body: serde_json::Value = serde_json::from_str(self.body()).ok()?;
        body["upstream"].as_str().map(str::to_owned)
    }
}

/// Client tasks sending requests until [`Load::stop`].
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Sample>>>,
}

impl Default for Load {
    fn default() -> Self {
        Self::new()
    }
}

impl Load {
    pub fn new() -> Self {
        Self { stop: Arc::new(AtomicBool::new(false)), workers: Vec::new() }
    }

    /// A task that sends `make()` in a loop, `pace` apart (so a few tasks load two shared cores
    /// without starving the processes under test).
    pub fn spawn<F>(&mut self, kind: &'static str, pace: Duration, make: F)
    where
        F: Fn() -> reqwest::RequestBuilder + Send + 'static,
    {
        let stop = Arc::clone(&self.stop);
        self.workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let result = send(make().timeout(REQUEST_TIMEOUT)).await;
                samples.push(Sample { kind, sent, latency: sent.elapsed(), result });
                tokio::time::sleep(pace).await;
            }
            samples
        }));
    }

    /// Stops every task and returns all samples, in the order they were sent.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for worker in self.workers {
            all.extend(worker.await.expect("a load task panicked"));
        }
        all.sort_by_key(|s| s.sent);
        all
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<(u16, String, String), String> {
    let response = request.send().await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.text().await.map_err(|e| format!("reading the body: {e:?}"))?;
    Ok((status, content_type, body))
}

/// Open sockets (TCP, Unix) of process `pid`, from `/proc/<pid>/fd`.
pub fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process is alive")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Resident set size of process `pid` in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process is alive");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Whether process `pid` is still running (not exited, not a zombie).
pub fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Fails the test if a process's log shows a panic.
pub fn assert_no_panic(name: &str, logs: &str) {
    assert!(!logs.contains("panicked"), "{name} panicked:\n{logs}");
}
