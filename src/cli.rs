//! The command line. Flag names are a contract: scripts and manifests depend on them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "OAuth 2.0 authorization server and API gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Subcommand)]
pub enum Role {
    /// Admin API (gRPC + REST on one port) and the config stream for gateways.
    ControlPlane(ControlPlaneArgs),
    /// A stateless gateway node: OAuth endpoints, bearer checks, proxying.
    Gateway(GatewayArgs),
    /// Both roles in one process on in-memory stores, for a first try and local work.
    Dev(DevArgs),
    /// Administer a running control plane over gRPC.
    Admin(crate::admin_cli::AdminArgs),
}

#[derive(clap::Args)]
pub struct ControlPlaneArgs {
    /// Address for gRPC and REST admin traffic.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "0.0.0.0:7070")]
    pub listen: SocketAddr,
    /// Secret admin callers send in the Authorization header (at least 32 characters).
    #[arg(long, env = "GATEHOUSE_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: String,
    /// Secret gateways present on the config stream; grants no admin rights (at least 32 characters).
    #[arg(long, env = "GATEHOUSE_NODE_SECRET", hide_env_values = true)]
    pub node_secret: String,
    /// Directory of the embedded state store.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = "./gatehouse-data")]
    pub data_dir: PathBuf,
    /// Redis holding the gateways' token state, for authorization codes (authorize-client)
    /// and token revocation, e.g. redis://redis:6379.
    #[arg(long, env = "GATEHOUSE_REDIS")]
    pub redis: Option<String>,
    /// Where the configuration lives: `file` (the data dir; one control plane) or `redis` (the
    /// --redis server; several control-plane replicas share it).
    #[arg(long, env = "GATEHOUSE_STATE_STORE", value_enum, default_value = "file")]
    pub state_store: StateStoreKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StateStoreKind {
    File,
    Redis,
}

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Address for API traffic.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// URL of the control plane, e.g. http://control-plane:7070.
    #[arg(long, env = "GATEHOUSE_CONTROL_PLANE")]
    pub control_plane: String,
    /// Secret shared with the control plane for the config stream.
    #[arg(long, env = "GATEHOUSE_NODE_SECRET", hide_env_values = true)]
    pub node_secret: String,
    /// Redis holding token state shared by all gateways, e.g. redis://redis:6379.
    #[arg(long, env = "GATEHOUSE_REDIS")]
    pub redis: String,
    /// Name of this node in the control plane's logs (default: host name).
    #[arg(long, env = "GATEHOUSE_NODE_ID")]
    pub node_id: Option<String>,
    /// On SIGTERM, seconds to keep serving while reporting not-ready, so load balancers stop
    /// routing here before the listener closes.
    #[arg(long, env = "GATEHOUSE_DRAIN_DELAY", default_value_t = 5.0)]
    pub drain_delay: f64,
    /// Then, seconds to let in-flight requests finish before exiting (match Kubernetes'
    /// terminationGracePeriodSeconds minus the delay).
    #[arg(long, env = "GATEHOUSE_DRAIN_TIMEOUT", default_value_t = 20.0)]
    pub drain_timeout: f64,
    /// Cache sessions on this node (up to 100k, 60 s), evicted on every gateway as revocations
    /// are announced over Redis pub/sub: one Redis round trip less per request, and a revoked
    /// token dies everywhere within milliseconds instead of at once.
    #[arg(long, env = "GATEHOUSE_SESSION_CACHE")]
    pub session_cache: bool,
    /// Seconds to wait for a TCP connection to an upstream before answering 504.
    #[arg(long, env = "GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT", default_value_t = 5.0)]
    pub upstream_connect_timeout: f64,
    /// Seconds from sending a request to an upstream (connect included) until its response
    /// head arrives, before answering 504 (Tyk's proxy_default_timeout). Response bodies are
    /// not bounded: downloads and streams may take as long as they need.
    #[arg(long, env = "GATEHOUSE_UPSTREAM_TIMEOUT", default_value_t = 30.0)]
    pub upstream_timeout: f64,
    /// Largest request body proxied to an upstream, in bytes (larger: 413).
    #[arg(long, env = "GATEHOUSE_MAX_REQUEST_BODY", default_value_t = gatehouse_gateway::proxy::DEFAULT_MAX_REQUEST_BODY)]
    pub max_request_body: usize,
}

#[derive(clap::Args)]
pub struct DevArgs {
    /// Address of the gateway.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the control plane (gRPC + REST).
    #[arg(long, env = "GATEHOUSE_ADMIN_LISTEN", default_value = "127.0.0.1:7070")]
    pub admin_listen: SocketAddr,
    /// Admin secret; generated and printed when absent.
    #[arg(long, env = "GATEHOUSE_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
}
