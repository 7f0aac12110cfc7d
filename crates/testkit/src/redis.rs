//! A private `redis-server` per test, so tests never share data or depend on a running service.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to answer PING. Generous: CI machines can be slow to fork.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Another process may grab the port between our probe and the server's bind.
const START_ATTEMPTS: usize = 3;

/// Why a `redis-server` did not come up.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("spawn redis-server (is it on PATH?): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("redis-server on port {port} exited with {status}")]
    Exited { port: u16, status: std::process::ExitStatus },
    #[error("redis-server on port {port} did not answer PING")]
    NoPing { port: u16 },
}

/// A running `redis-server` on a loopback port, killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_retrying(|| Self::try_start(free_port()))
    }

    /// Starts a server on `port`, e.g. to stand in for one that was restarted.
    pub fn start_on(port: u16) -> Self {
        Self::try_start(port).unwrap_or_else(|e| panic!("could not start redis-server: {e}"))
    }

    /// Starts a server on a free port that keeps its data in `dir` with an append-only file
    /// fsynced on every write (`appendfsync always`): whatever it acknowledged survives a
    /// SIGKILL, so a test can restart it on the same port and dir and find the data again.
    pub fn start_persistent(dir: &Path) -> Self {
        Self::start_retrying(|| Self::try_start_with(free_port(), Some(dir)))
    }

    /// `start` on a fresh free port each time, [`START_ATTEMPTS`] times at most.
    fn start_retrying(mut start: impl FnMut() -> Result<Self, StartError>) -> Self {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match start() {
                Ok(server) => return server,
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) => panic!("could not start redis-server: {e}"),
            None => panic!("could not start redis-server: no attempt made"),
        }
    }

    /// A persistent server on `port` over `dir`, e.g. the one [`Self::start_persistent`] started,
    /// back after a crash: it replays its append-only file before answering PING.
    pub fn start_persistent_on(port: u16, dir: &Path) -> Self {
        Self::try_start_with(port, Some(dir)).unwrap_or_else(|e| panic!("could not start redis-server: {e}"))
    }

    fn try_start(port: u16) -> Result<Self, StartError> {
        Self::try_start_with(port, None)
    }

    fn try_start_with(port: u16, persist_in: Option<&Path>) -> Result<Self, StartError> {
        let port_arg = port.to_string();
        let mut args = vec!["--port", &port_arg, "--bind", "127.0.0.1", "--save", ""];
        let dir_arg;
        match persist_in {
            Some(dir) => {
                dir_arg = dir.display().to_string();
                args.extend(["--dir", &dir_arg, "--appendonly", "yes", "--appendfsync", "always"]);
            }
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(StartError::Spawn)?;
        // From here on the guard owns the process, so every early return kills it.
        let mut server = Self { child, port };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if server.answers_ping() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(StartError::Exited { port, status });
            }
            if Instant::now() > deadline {
                return Err(StartError::NoPing { port });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered, like a
    /// wedged or partitioned Redis.
    pub fn freeze(&self) {
        let status =
            Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -STOP failed");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL also ends a frozen server; wait reaps it so no zombie outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}
