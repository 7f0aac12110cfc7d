//! Connection limits, shared by the roles that listen (flattened into their arguments in
//! `cli.rs`): read deadlines, the connection cap and header limits. `gatehouse dev` applies the
//! same values to both of its listeners.

use std::time::Duration;

use gatehouse_gateway::conn::{ConnectionLimits, MIN_HEADER_BYTES, default_max_connections};

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Connections and limits")]
pub struct ConnectionLimitArgs {
    /// Seconds a client has to send a complete request head (request line and headers), counted
    /// from its first byte, or from the accept for a new connection; then the connection is
    /// closed.
    #[arg(long, env = "GATEHOUSE_HEADER_READ_TIMEOUT", default_value_t = 10.0)]
    pub header_read_timeout: f64,
    /// Seconds a client has to send the whole body of an OAuth form or an admin request (REST
    /// or gRPC) once the server starts reading it; then 408 (REST, OAuth) or an error status
    /// (gRPC). Proxied bodies are not read whole: they stream to the upstream, bounded by
    /// --request-body-idle-timeout between pieces.
    #[arg(long, env = "GATEHOUSE_BODY_READ_TIMEOUT", default_value_t = 10.0)]
    pub body_read_timeout: f64,
    /// Seconds a proxied request body (streamed to the upstream, not read whole) may pause
    /// between two pieces; then the upstream request is aborted and the client gets 408 (or,
    /// when the upstream has already answered, its connection closes). Gateway only.
    #[arg(long, env = "GATEHOUSE_REQUEST_BODY_IDLE_TIMEOUT", default_value_t = 30.0)]
    pub request_body_idle_timeout: f64,
    /// Seconds a kept-alive connection may wait between requests before it is closed.
    #[arg(long, env = "GATEHOUSE_KEEP_ALIVE_TIMEOUT", default_value_t = 60.0)]
    pub keep_alive_timeout: f64,
    /// Connections served at once on each listener; 0: 10000, or half the open-files limit
    /// when that is lower. Past it, 16 more connections may fetch /healthz, /readyz and
    /// /metrics (anything else: 503); past those, connections are closed when accepted.
    #[arg(long, env = "GATEHOUSE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Header fields in one HTTP/1 request; more: 431.
    #[arg(long, env = "GATEHOUSE_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Bytes in one request head (at least 8192); more: 431 (HTTP/1) or a stream reset (HTTP/2).
    #[arg(long, env = "GATEHOUSE_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
}

impl ConnectionLimitArgs {
    pub fn limits(&self) -> anyhow::Result<ConnectionLimits> {
        if self.max_header_bytes < MIN_HEADER_BYTES {
            anyhow::bail!("--max-header-bytes: at least {MIN_HEADER_BYTES}");
        }
        if self.max_headers == 0 {
            anyhow::bail!("--max-headers: at least 1");
        }
        Ok(ConnectionLimits {
            header_read_timeout: positive("--header-read-timeout", self.header_read_timeout)?,
            body_read_timeout: positive("--body-read-timeout", self.body_read_timeout)?,
            request_body_idle_timeout: positive(
                "--request-body-idle-timeout",
                self.request_body_idle_timeout,
            )?,
            keep_alive_timeout: positive("--keep-alive-timeout", self.keep_alive_timeout)?,
            max_connections: match self.max_connections {
                0 => default_max_connections(),
                n => n,
            },
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
        })
    }
}

/// A deadline of zero would close every connection at once: a mistake, said at start.
fn positive(flag: &str, seconds: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => anyhow::bail!("{flag}: {seconds} is not a positive number of seconds"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        limits: ConnectionLimitArgs,
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let limits = Args::parse_from(["x"]).limits.limits().unwrap();
        assert_eq!(
            limits,
            ConnectionLimits { max_connections: default_max_connections(), ..ConnectionLimits::default() }
        );
    }

    #[test]
    fn nonsense_is_refused_at_start() {
        for args in [
            &["x", "--header-read-timeout", "0"][..],
            &["x", "--body-read-timeout=-1"],
            &["x", "--keep-alive-timeout", "NaN"],
            &["x", "--request-body-idle-timeout", "0"],
            &["x", "--max-header-bytes", "100"],
            &["x", "--max-headers", "0"],
        ] {
            assert!(Args::parse_from(args).limits.limits().is_err(), "{args:?}");
        }
        let limits =
            Args::parse_from(["x", "--max-connections", "50", "--header-read-timeout", "2.5"]).limits;
        let limits = limits.limits().unwrap();
        assert_eq!((limits.max_connections, limits.header_read_timeout), (50, Duration::from_millis(2500)));
    }
}
