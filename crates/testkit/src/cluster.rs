//! A real three-node Redis Cluster in a temporary directory, for the Cluster tests of the
//! store and of whole gateways. Needs `redis-server` and `redis-cli` with cluster support.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::free_port;

const NODES: usize = 3;
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one node may take to answer PING before it is retried on other ports.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 3;

/// Three cluster nodes in a temporary directory, killed on drop.
pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the cluster");
        let mut cluster = RedisCluster { ports: Vec::new(), children: Vec::new(), _dir: dir };
        for _ in 0..NODES {
            let (port, child) = start_node(cluster._dir.path());
            cluster.ports.push(port);
            cluster.children.push(child);
        }
        let addrs: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let create = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create (is redis-cli installed?)");
        assert!(
            create.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&create.stdout),
            String::from_utf8_lossy(&create.stderr)
        );
        for &port in &cluster.ports {
            wait_for(&format!("node {port} to report cluster_state:ok"), || {
                cli(&["-p", &port.to_string(), "cluster", "info"]).contains("cluster_state:ok")
            });
        }
        cluster
    }

    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// How many keys each node holds.
    pub fn key_counts(&self) -> Vec<u64> {
        self.ports
            .iter()
            .map(|p| {
                let out = cli(&["-p", &p.to_string(), "dbsize"]);
                out.parse().unwrap_or_else(|_| panic!("dbsize of node {p}: {out:?}"))
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts one node on fresh ports and waits for it to answer PING. A port probed as free can
/// be taken by another test before the node binds it; the node then exits, and it is retried
/// on new ports instead of failing the test.
fn start_node(dir: &Path) -> (u16, Child) {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        // The bus port is set explicitly: port + 10000 (the default) may be taken or too high.
        let port = free_port();
        let bus_port = loop {
            let candidate = free_port();
            if candidate != port {
                break candidate;
            }
        };
        let mut child = spawn_node(dir, port, bus_port);
        let deadline = Instant::now() + NODE_START_TIMEOUT;
        loop {
            if cli(&["-p", &port.to_string(), "ping"]) == "PONG" {
                return (port, child);
            }
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                failures
                    .push(format!("ports {port}/{bus_port}: {}", if exited { "exited" } else { "no PONG" }));
                break;
            }
            sleep(Duration::from_millis(50));
        }
    }
    panic!("could not start a cluster node: {}", failures.join("; "));
}

fn spawn_node(dir: &Path, port: u16, bus_port: u16) -> Child {
    let conf = dir.join(format!("nodes-{port}.conf"));
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--cluster-port", &bus_port.to_string()])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
        .arg("--cluster-config-file")
        .arg(&conf)
        .arg("--dir")
        .arg(dir)
        .args(["--bind", "127.0.0.1", "--appendonly", "no", "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (is it installed, with cluster support?)")
}

/// `redis-cli` output, trimmed; empty when it cannot run or fails.
fn cli(args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(50));
    }
}
