//! Child processes owned by a test.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process killed (SIGKILL) and reaped when dropped. Its stdout and stderr go to files so a
/// failing test can show them and a security test can scan them.
pub struct ChildProcess {
    child: Option<Child>,
    pub name: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl ChildProcess {
    /// Spawns `program args…` with extra environment, logging into `log_dir/<name>.{out,err}`.
    /// Log files are appended to, so a restarted process keeps one history.
    pub fn spawn(name: &str, program: &Path, args: &[String], env: &[(&str, &str)], log_dir: &Path) -> Self {
        let stdout_path = log_dir.join(format!("{name}.out"));
        let stderr_path = log_dir.join(format!("{name}.err"));
        let open = |p: &Path| File::options().create(true).append(true).open(p).expect("open log file");
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(open(&stdout_path)).stderr(open(&stderr_path));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self { child: Some(child), name: name.to_owned(), stdout_path, stderr_path }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Sends SIGKILL and waits: the process gets no chance to clean up, like a crashed pod.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the process wrote to stderr so far (its logs).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show what the process said: the most useful clue when an end-to-end test fails.
            eprintln!("---- {} stderr ----\n{}", self.name, self.logs());
        }
        self.kill();
    }
}

/// Waits until something accepts connections on `port` (or panics after `timeout`).
pub fn wait_for_port(port: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
