//! The command line. Flag names are a contract: scripts and manifests depend on them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "OAuth 2.0 authorization server and API gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub role: Role,
    /// A TOML config file: settings are flag names, at the top level or under `[gateway]`,
    /// `[control-plane]` or `[dev]`. Precedence: flag > GATEHOUSE_* environment > file > default.
    #[arg(long, global = true, env = crate::config_file::CONFIG_ENV, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (secrets masked) and each value's origin, then exit.
    #[arg(long, global = true)]
    pub print_config: bool,
    /// Log lines on stderr: `text` (human-readable) or `json` (one object per line).
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT", default_value = "text")]
    pub log_format: gatehouse_telemetry::LogFormat,
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
    /// Print a shell completion script: `source <(gatehouse completion bash)`, or save it where
    /// your shell loads completions (e.g. `~/.local/share/bash-completion/completions/gatehouse`,
    /// a directory on zsh's `$fpath` as `_gatehouse`, `~/.config/fish/completions/gatehouse.fish`).
    Completion {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Writes the completion script for `shell` to stdout. It is generated from the same
/// definitions that parse the command line, so it cannot offer a flag that does not exist.
pub fn print_completion(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gatehouse", &mut script);
    crate::admin_cli::print_stdout(&String::from_utf8_lossy(&script))
}

/// What `gatehouse control-plane --help` ends with.
const CONTROL_PLANE_EXAMPLES: &str = "Examples:
  gatehouse control-plane --admin-secret \"$ADMIN_SECRET\" --node-secret \"$NODE_SECRET\" \\
    --redis redis://redis:6379            # token state shared with the gateways
  gatehouse control-plane --config gatehouse.toml --print-config   # what a config file sets
  GATEHOUSE_STATE_STORE=redis GATEHOUSE_REDIS=redis://redis:6379 gatehouse control-plane …  # replicas";

/// What `gatehouse gateway --help` ends with.
const GATEWAY_EXAMPLES: &str = "Examples:
  gatehouse gateway --control-plane http://control-plane:7070 --node-secret \"$NODE_SECRET\" \\
    --redis redis://redis:6379
  gatehouse gateway … --tls-cert gw.pem --tls-key gw.key --plain-listen 0.0.0.0:8081
  gatehouse gateway … --access-log --log-format json";

/// What `gatehouse dev --help` ends with.
const DEV_EXAMPLES: &str = "Examples:
  gatehouse dev                                  # prints a generated admin secret
  gatehouse dev --listen 127.0.0.1:18080 --admin-listen 127.0.0.1:17070   # other ports
  gatehouse dev --access-log";

#[derive(clap::Args)]
#[command(after_help = CONTROL_PLANE_EXAMPLES)]
pub struct ControlPlaneArgs {
    /// Address for gRPC and REST admin traffic.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "0.0.0.0:7070", help_heading = "Listening")]
    pub listen: SocketAddr,
    /// Seconds an admin write waits for every connected gateway to apply it before answering
    /// (the answer then names the gateways that had not); 0: answer at once. Scripts that
    /// create a client and use it straight away rely on this.
    #[arg(long, env = "GATEHOUSE_APPLY_WAIT", default_value_t = 2.0, help_heading = "Admin API")]
    pub apply_wait: f64,
    /// Seconds a dashboard sign-in lasts; then the browser is sent back to sign-in.
    #[arg(
        long,
        env = "GATEHOUSE_DASHBOARD_SESSION_TTL",
        default_value_t = 28_800,
        help_heading = "Admin API"
    )]
    pub dashboard_session_ttl: u64,
    /// A gateway's base URL as this control plane can reach it (e.g. the gateways' Service),
    /// for the dashboard's examples and its "Try it" panel, which sends a token request and an
    /// API call there; without it the panel is off.
    #[arg(long, env = "GATEHOUSE_GATEWAY_URL", help_heading = "Admin API")]
    pub gateway_url: Option<String>,
    /// Secret admin callers send in the Authorization header (at least 32 characters).
    #[arg(long, env = "GATEHOUSE_ADMIN_SECRET", hide_env_values = true, help_heading = "Admin API")]
    pub admin_secret: String,
    /// How each setting was given, for errors about values (filled in after parsing).
    #[arg(skip)]
    pub names: crate::config_file::SettingNames,
    /// Secret gateways present on the config stream; grants no admin rights (at least 32
    /// characters). Optional with --tls-client-ca, where gateways prove who they are with
    /// their certificate; when given there too, gateways without one may use it.
    #[arg(
        long,
        env = "GATEHOUSE_NODE_SECRET",
        hide_env_values = true,
        required_unless_present = "tls_client_ca",
        help_heading = "Gateways"
    )]
    pub node_secret: Option<String>,
    /// Directory of the embedded state store.
    #[arg(
        long,
        env = "GATEHOUSE_DATA_DIR",
        default_value = "./gatehouse-data",
        help_heading = "State and Redis"
    )]
    pub data_dir: PathBuf,
    /// Redis holding the gateways' token state, for authorization codes (authorize-client)
    /// and token revocation, e.g. redis://redis:6379.
    #[arg(long, env = "GATEHOUSE_REDIS", help_heading = "State and Redis")]
    pub redis: Option<String>,
    /// Where the configuration lives: `file` (the data dir; one control plane) or `redis` (the
    /// --redis server; several control-plane replicas share it).
    #[arg(
        long,
        env = "GATEHOUSE_STATE_STORE",
        value_enum,
        default_value = "file",
        help_heading = "State and Redis"
    )]
    pub state_store: StateStoreKind,
    /// PEM CA bundle: every client of this port (gateways and admin callers alike) must
    /// present a certificate it signed. Gateways are then identified by their certificate.
    #[arg(long, env = "GATEHOUSE_TLS_CLIENT_CA", requires = "tls_cert", help_heading = "TLS")]
    pub tls_client_ca: Option<PathBuf>,
    /// A plain-HTTP address answering only /healthz and /readyz, for probes that cannot present
    /// a client certificate (Kubernetes' httpGet) when --tls-client-ca is set.
    #[arg(long, env = "GATEHOUSE_PROBE_LISTEN", help_heading = "Listening")]
    pub probe_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tls: crate::cli_tls::ListenerTlsArgs,
    #[command(flatten)]
    pub connections: crate::cli_limits::ConnectionLimitArgs,
    #[command(flatten)]
    pub auth: crate::cli_auth::AuthGuardArgs,
    #[command(flatten)]
    pub clients: crate::cli_clients::ClientArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StateStoreKind {
    File,
    Redis,
}

#[derive(clap::Args)]
#[command(after_help = GATEWAY_EXAMPLES)]
pub struct GatewayArgs {
    /// Address for API traffic.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "0.0.0.0:8080", help_heading = "Listening")]
    pub listen: SocketAddr,
    /// URL of the control plane, e.g. http://control-plane:7070 or https://control-plane:7070.
    #[arg(long, env = "GATEHOUSE_CONTROL_PLANE", help_heading = "Control plane")]
    pub control_plane: String,
    /// Secret shared with the control plane for the config stream. Optional with
    /// --control-plane-cert (mutual TLS), where the certificate identifies the node.
    #[arg(
        long,
        env = "GATEHOUSE_NODE_SECRET",
        hide_env_values = true,
        required_unless_present = "control_plane_cert",
        help_heading = "Control plane"
    )]
    pub node_secret: Option<String>,
    #[command(flatten, next_help_heading = "Control plane")]
    pub control_plane_tls: crate::cli_tls::ControlPlaneClientArgs,
    /// With TLS on --listen: a second, plain-HTTP listener (probes, keyless APIs, a load
    /// balancer that terminated TLS). Credential endpoints refuse plain requests there unless
    /// they come from a trusted proxy that reports https.
    #[arg(long, env = "GATEHOUSE_PLAIN_LISTEN", requires = "tls_cert", help_heading = "Listening")]
    pub plain_listen: Option<SocketAddr>,
    /// Proxies whose X-Forwarded-For / -Proto / -Host and Forwarded headers are believed:
    /// CIDRs or addresses, comma-separated (e.g. 10.0.0.0/8,fd00::/8). From any other peer
    /// these headers are dropped and replaced.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", default_value = "", help_heading = "Upstreams")]
    pub trusted_proxies: String,
    /// Redis holding token state shared by all gateways, e.g. redis://redis:6379.
    #[arg(long, env = "GATEHOUSE_REDIS", help_heading = "Redis and sessions")]
    pub redis: String,
    /// Name of this node in the control plane's logs (default: host name).
    #[arg(long, env = "GATEHOUSE_NODE_ID", help_heading = "Control plane")]
    pub node_id: Option<String>,
    /// On SIGTERM, seconds to keep serving while reporting not-ready, so load balancers stop
    /// routing here before the listener closes.
    #[arg(long, env = "GATEHOUSE_DRAIN_DELAY", default_value_t = 5.0, help_heading = "Shutdown")]
    pub drain_delay: f64,
    /// Then, seconds to let in-flight requests finish before exiting (match Kubernetes'
    /// terminationGracePeriodSeconds minus the delay).
    #[arg(long, env = "GATEHOUSE_DRAIN_TIMEOUT", default_value_t = 20.0, help_heading = "Shutdown")]
    pub drain_timeout: f64,
    /// Cache sessions on this node (up to 100k, 60 s), evicted on every gateway as revocations
    /// are announced over Redis pub/sub: one Redis round trip less per request, and a revoked
    /// token dies everywhere within milliseconds instead of at once. On by default;
    /// `--session-cache=false` reads every session from Redis.
    #[arg(
        long,
        env = "GATEHOUSE_SESSION_CACHE",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        help_heading = "Redis and sessions"
    )]
    pub session_cache: bool,
    /// Count a busy client's rate limit and quota in leases: cells reserved in Redis ahead of
    /// demand, in the same atomic call, and spent on this node, so a busy client costs a few
    /// Redis calls a second instead of one per request; refusals are remembered until a cell
    /// can exist again. The limit still holds across all gateways (leases only under-admit, by
    /// the cells they hold, at most a sixteenth of a limit each, for at most a second). On by
    /// default; `--limit-leases=false` counts every request in Redis.
    #[arg(
        long,
        env = "GATEHOUSE_LIMIT_LEASES",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        help_heading = "Redis and sessions"
    )]
    pub limit_leases: bool,
    /// Seconds to wait for a TCP connection to an upstream before answering 504.
    #[arg(
        long,
        env = "GATEHOUSE_UPSTREAM_CONNECT_TIMEOUT",
        default_value_t = 5.0,
        help_heading = "Upstreams"
    )]
    pub upstream_connect_timeout: f64,
    /// Seconds from sending a request to an upstream (connect included) until its response
    /// head arrives, before answering 504 (Tyk's proxy_default_timeout). Response bodies are
    /// not bounded: downloads and streams may take as long as they need.
    #[arg(long, env = "GATEHOUSE_UPSTREAM_TIMEOUT", default_value_t = 30.0, help_heading = "Upstreams")]
    pub upstream_timeout: f64,
    /// Seconds an upgraded connection (WebSocket) may carry no byte either way before the
    /// gateway closes it; 0: never. Pings count as traffic.
    #[arg(long, env = "GATEHOUSE_TUNNEL_IDLE_TIMEOUT", default_value_t = 3600.0, help_heading = "Upstreams")]
    pub tunnel_idle_timeout: f64,
    /// Largest request body proxied to an upstream, in bytes (larger: 413).
    #[arg(long, env = "GATEHOUSE_MAX_REQUEST_BODY", default_value_t = gatehouse_gateway::proxy::DEFAULT_MAX_REQUEST_BODY, help_heading = "Upstreams")]
    pub max_request_body: usize,
    /// Log one line per request (method, API and listen path, status, latency, client id,
    /// upstream status, client address; never a path below the listen path, a query, a header
    /// or a token), in the log's format (`--log-format json`: one JSON object per line), under
    /// the target gatehouse::access. Off by default.
    #[arg(long, env = "GATEHOUSE_ACCESS_LOG", help_heading = "Telemetry")]
    pub access_log: bool,
    /// How serving threads share the listening address. `shared` (default): every thread
    /// accepts from one socket, so whichever thread is free takes the next connection.
    /// `per-thread`: each thread has its own socket on it (SO_REUSEPORT) and the kernel
    /// spreads connections over them by their addresses, waking only the chosen thread.
    #[arg(long, env = "GATEHOUSE_ACCEPT_SOCKETS", value_enum, default_value_t = AcceptSockets::Shared, help_heading = "Listening")]
    pub accept_sockets: AcceptSockets,
    /// Pin each serving thread to its own CPU (of those this process may use), so the
    /// scheduler cannot stack two on one core. Off by default: on a machine shared with other
    /// busy processes, a pinned thread cannot move away from them.
    #[arg(long, env = "GATEHOUSE_PIN_THREADS", help_heading = "Listening")]
    pub pin_threads: bool,
    /// Threads serving API traffic, each with its own Redis connection and upstream pool;
    /// 0: one per CPU this process may use (its cgroup quota included).
    #[arg(long, env = "GATEHOUSE_SERVING_THREADS", default_value_t = 0, help_heading = "Listening")]
    pub serving_threads: usize,
    #[command(flatten)]
    pub tls: crate::cli_tls::ListenerTlsArgs,
    #[command(flatten)]
    pub paths: crate::cli_paths::PathArgs,
    #[command(flatten)]
    pub public: crate::cli_public::PublicNameArgs,
    #[command(flatten)]
    pub connections: crate::cli_limits::ConnectionLimitArgs,
    #[command(flatten)]
    pub auth: crate::cli_auth::AuthGuardArgs,
}

#[derive(clap::Args)]
#[command(after_help = DEV_EXAMPLES)]
pub struct DevArgs {
    /// Address of the gateway.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:8080", help_heading = "Listening")]
    pub listen: SocketAddr,
    /// Address of the control plane (gRPC + REST).
    #[arg(
        long,
        env = "GATEHOUSE_ADMIN_LISTEN",
        default_value = "127.0.0.1:7070",
        help_heading = "Listening"
    )]
    pub admin_listen: SocketAddr,
    /// Log one line per gateway request (as `gatehouse gateway --access-log`).
    #[arg(long, env = "GATEHOUSE_ACCESS_LOG", help_heading = "Telemetry")]
    pub access_log: bool,
    /// Seconds an admin write waits for every connected gateway to apply it before answering
    /// (the answer then names the gateways that had not); 0: answer at once. Scripts that
    /// create a client and use it straight away rely on this.
    #[arg(long, env = "GATEHOUSE_APPLY_WAIT", default_value_t = 2.0, help_heading = "Admin API")]
    pub apply_wait: f64,
    /// Seconds a dashboard sign-in lasts; then the browser is sent back to sign-in.
    #[arg(
        long,
        env = "GATEHOUSE_DASHBOARD_SESSION_TTL",
        default_value_t = 28_800,
        help_heading = "Admin API"
    )]
    pub dashboard_session_ttl: u64,
    /// Admin secret; generated and printed when absent.
    #[arg(long, env = "GATEHOUSE_ADMIN_SECRET", hide_env_values = true, help_heading = "Admin API")]
    pub admin_secret: Option<String>,
    /// How each setting was given, for errors about values (filled in after parsing).
    #[arg(skip)]
    pub names: crate::config_file::SettingNames,
    #[command(flatten)]
    pub public: crate::cli_public::PublicNameArgs,
    // The same limits on both of dev's listeners.
    #[command(flatten)]
    pub connections: crate::cli_limits::ConnectionLimitArgs,
    #[command(flatten)]
    pub paths: crate::cli_paths::PathArgs,
    #[command(flatten)]
    pub auth: crate::cli_auth::AuthGuardArgs,
    #[command(flatten)]
    pub clients: crate::cli_clients::ClientArgs,
}

/// `--accept-sockets`: the flag's spelling of [`gatehouse_gateway::shards::AcceptSockets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcceptSockets {
    Shared,
    PerThread,
}

impl From<AcceptSockets> for gatehouse_gateway::shards::AcceptSockets {
    fn from(flag: AcceptSockets) -> Self {
        match flag {
            AcceptSockets::Shared => Self::Shared,
            AcceptSockets::PerThread => Self::PerThread,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    fn help(role: &str) -> String {
        let mut command = Cli::command();
        command.build();
        command.find_subcommand_mut(role).map(|c| c.render_help().to_string()).unwrap_or_default()
    }

    #[test]
    fn every_server_role_ends_its_help_with_examples_and_groups_its_flags() {
        for role in ["control-plane", "gateway", "dev"] {
            let help = help(role);
            assert!(help.contains("Examples:\n  gatehouse "), "{role}: {help}");
            assert!(help.contains("Connections and limits:\n"), "{role}: {help}");
        }
        let gateway = help("gateway");
        for heading in [
            "Listening:\n",
            "Control plane:\n",
            "Redis and sessions:\n",
            "Upstreams:\n",
            "TLS:\n",
            "Paths:\n",
        ] {
            assert!(gateway.contains(heading), "{heading}: {gateway}");
        }
        // A group's heading does not spill over the role's own flags.
        let position = |text: &str| gateway.find(text).unwrap_or(usize::MAX);
        assert!(position("--serving-threads") < position("Control plane:\n"), "{gateway}");
        assert!(position("--control-plane-ca") < position("Upstreams:\n"), "{gateway}");
        assert!(position("--redis") < position("TLS:\n"), "{gateway}");

        let control_plane = help("control-plane");
        for heading in ["Listening:\n", "Admin API:\n", "Gateways:\n", "State and Redis:\n"] {
            assert!(control_plane.contains(heading), "{heading}: {control_plane}");
        }
        let dev = help("dev");
        for heading in ["Listening:\n", "Admin API:\n", "Telemetry:\n"] {
            assert!(dev.contains(heading), "{heading}: {dev}");
        }
    }
}
