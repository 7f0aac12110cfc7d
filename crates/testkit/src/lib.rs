//! Test fixtures: real parts over loopback, never mocks.
//!
//! # Layout
//! - [`cluster`]: a real three-node Redis Cluster.
//! - [`nginx`]: a private `nginx` per test, an upstream that normalises paths as real ones do.
//! - [`redis`]: a private `redis-server` process per test on a free port.
//! - [`upstream`]: a small hyper server that answers with what it received, tagged with its
//!   name, to stand for an API's upstream.
//! - [`pki`]: certificate authorities and certificates made on the spot (rcgen), for TLS tests.
//! - [`recorder`]: a webhook receiver that records what it gets.
//! - [`process`]: a `gatehouse` process (or any command) killed when the test ends, with its
//!   logs captured in a file for diagnosis and for scanning.

// Fixtures for tests only: a set-up that fails is a failed test, and a panic says so best.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod nginx;
pub mod pki;
pub mod process;
pub mod recorder;
pub mod redis;
pub mod upstream;

pub use cluster::RedisCluster;
pub use nginx::NginxServer;
pub use pki::{Leaf, TestCa};
pub use process::{ChildProcess, wait_for_port};
pub use recorder::{Recorded, Recorder};
pub use redis::{RedisServer, free_port};
pub use upstream::EchoUpstream;
