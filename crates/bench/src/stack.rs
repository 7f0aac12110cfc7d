//! The system under test, as real processes on loopback: upstreams, Redis, nginx, a Gatehouse
//! control plane and gateways, and the admin calls that configure them.

use anyhow::Context as _;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Answer, Conn};
use crate::procs::{self, Proc};

pub const ADMIN_SECRET: &str = "bench-admin-secret-0123456789abcdef-0123456789";
const NODE_SECRET: &str = "bench-node-secret-0123456789abcdef-0123456789ab";

/// Keyless API: no credential, straight to the proxy.
pub const OPEN_PATH: &str = "/open/";
/// OAuth API: bearer check, policy, rate limit, quota, analytics.
pub const SECURE_PATH: &str = "/secure/";
pub const SECURE_API: &str = "secure";
/// Keyless API whose upstream the propagation measurement switches back and forth.
pub const PROP_API: &str = "prop";
pub const PROP_PATH: &str = "/prop/";
pub const CLIENT_ID: &str = "bench-client";
pub const POLICY_ID: &str = "bench-policy";
const WAIT: Duration = Duration::from_secs(30);

pub struct Redis {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Redis {
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

pub struct Gateway {
    pub proc: Proc,
    pub addr: SocketAddr,
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    gatehouse: PathBuf,
    /// Upstream listeners by name (`a`, `b`): one process.
    pub upstreams: Vec<(String, SocketAddr)>,
    upstream: Proc,
    pub redis: Redis,
    control_plane: Proc,
    pub cp_addr: SocketAddr,
    pub nginx: Proc,
    pub nginx_addr: SocketAddr,
    /// Session cache on (the default): the setting a production deployment runs for throughput.
    pub gateway: Gateway,
    /// Session cache off (`--session-cache=false`): every request reads its session from Redis.
    pub gateway_nocache: Gateway,
    /// Limit leases off (`--limit-leases=false`), session cache on: every request's limits are
    /// counted in Redis, as before leases.
    pub gateway_nolease: Gateway,
    /// A gateway of the `--baseline` binary, session cache on, when one was given.
    pub baseline: Option<Gateway>,
    pub client_secret: String,
    admin: Mutex<Conn>,
}

impl Stack {
    pub async fn start(
        gatehouse: PathBuf,
        baseline: Option<PathBuf>,
        baseline_args: &[String],
        keep: bool,
    ) -> anyhow::Result<Self> {
        let mut dir = tempfile::Builder::new()
            .prefix("gatehouse-bench-")
            .tempdir()
            .context("cannot create a working directory")?;
        if keep {
            dir.disable_cleanup(true);
            eprintln!("working directory (kept): {}", dir.path().display());
        }
        let (upstream, upstreams) = start_upstream(dir.path())?;
        let upstream_a = upstreams[0].1;
        let redis = start_redis("redis", dir.path()).await?;
        let cp_addr = procs::free_addr()?;
        let mut cp = Command::new(&gatehouse);
        cp.arg("control-plane")
            .args(["--listen", &cp_addr.to_string()])
            .args(["--admin-secret", ADMIN_SECRET, "--node-secret", NODE_SECRET])
            .arg("--data-dir")
            .arg(dir.path().join("cp-data"))
            .args(["--redis", &redis.url()]);
        let control_plane = Proc::spawn("control-plane", cp, dir.path())?;
        procs::wait_listening(cp_addr, "the control plane", WAIT).await?;
        let (nginx, nginx_addr) = start_nginx(dir.path(), upstream_a).await?;
        let gateway =
            spawn_gateway(&gatehouse, dir.path(), "gw-cache", cp_addr, &redis.url(), CACHED).await?;
        let gateway_nocache =
            spawn_gateway(&gatehouse, dir.path(), "gw-nocache", cp_addr, &redis.url(), UNCACHED).await?;
        let gateway_nolease =
            spawn_gateway(&gatehouse, dir.path(), "gw-nolease", cp_addr, &redis.url(), UNLEASED).await?;
        let baseline = match baseline {
            Some(binary) => {
                let flags: Vec<&str> =
                    CACHED.iter().copied().chain(baseline_args.iter().map(String::as_str)).collect();
                Some(spawn_gateway(&binary, dir.path(), "gw-baseline", cp_addr, &redis.url(), &flags).await?)
            }
            None => None,
        };
        let mut stack = Self {
            dir,
            gatehouse,
            upstreams,
            upstream,
            redis,
            control_plane,
            cp_addr,
            nginx,
            nginx_addr,
            gateway,
            gateway_nocache,
            gateway_nolease,
            baseline,
            client_secret: String::new(),
            admin: Mutex::new(Conn::new(cp_addr)),
        };
        stack.configure().await?;
        for gateway in [
            Some(&stack.gateway),
            Some(&stack.gateway_nocache),
            Some(&stack.gateway_nolease),
            stack.baseline.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            stack.wait_configured(gateway.addr).await?;
        }
        Ok(stack)
    }

    /// `Err` if any long-lived process died during the run: its figures would be meaningless.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for proc in [
            &mut self.upstream,
            &mut self.redis.proc,
            &mut self.control_plane,
            &mut self.nginx,
            &mut self.gateway.proc,
            &mut self.gateway_nocache.proc,
            &mut self.gateway_nolease.proc,
        ] {
            proc.check_alive()?;
        }
        if let Some(baseline) = &mut self.baseline {
            baseline.proc.check_alive()?;
        }
        Ok(())
    }

    /// The upstream process (both listeners).
    pub fn upstream_pid(&self) -> u32 {
        self.upstream.pid()
    }

    pub fn upstream(&self, name: &str) -> anyhow::Result<SocketAddr> {
        self.upstreams
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, addr)| *addr)
            .with_context(|| format!("no upstream {name}"))
    }

    /// One admin REST call; `Err` unless it answers 200.
    pub async fn admin(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self.admin_raw(method.clone(), path, body).await?;
        if answer.status != http::StatusCode::OK {
            anyhow::bail!("{method} {path}: {} {}", answer.status, answer.text());
        }
        answer.json()
    }

    pub async fn admin_raw(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Answer> {
        let body = Bytes::from(body.to_string());
        let headers = [("authorization", ADMIN_SECRET), ("content-type", "application/json")];
        self.admin.lock().await.send(method, path, &headers, body).await
    }

    pub fn api_body(api_id: &str, listen_path: &str, upstream: SocketAddr, oauth: bool) -> Value {
        let mut api = json!({"api_id": api_id, "name": api_id, "listen_path": listen_path,
            "strip_listen_path": true, "upstream_url": format!("http://{upstream}")});
        if oauth {
            api["oauth"] = json!({"allowed_grant_types": ["client_credentials"]});
        }
        api
    }

    async fn configure(&mut self) -> anyhow::Result<()> {
        let a = self.upstream("a")?;
        self.admin(Method::POST, "/api/apis", Self::api_body("open", OPEN_PATH, a, false)).await?;
        self.admin(Method::POST, "/api/apis", Self::api_body(PROP_API, PROP_PATH, a, false)).await?;
        self.admin(Method::POST, "/api/apis", Self::api_body(SECURE_API, SECURE_PATH, a, true)).await?;
        // Limits that are counted on every request but never trip during a run: a rate of a
        // million per second and a quota of two billion per hour.
        let policy = json!({"id": POLICY_ID, "name": POLICY_ID, "active": true,
            "rate": 1_000_000.0, "per": 1.0, "quota_max": 2_000_000_000, "quota_renewal_rate": 3600,
            "access_rights": {SECURE_API: {"api_id": SECURE_API}}});
        self.admin(Method::POST, "/api/portal/policies", policy).await?;
        // A generated secret, as most clients have: stored as SHA-256, so issuance measures
        // the grant and Redis, not Argon2id.
        let client = self
            .admin(
                Method::POST,
                &format!("/api/apis/oauth/{SECURE_API}"),
                json!({"client_id": CLIENT_ID, "policy_id": POLICY_ID,
                       "redirect_uri": "http://127.0.0.1/cb"}),
            )
            .await?;
        self.client_secret =
            client["secret"].as_str().with_context(|| format!("no secret in {client}"))?.to_owned();
        Ok(())
    }

    /// Waits until `gateway` serves the keyless API and issues tokens (its config has arrived).
    pub async fn wait_configured(&self, gateway: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        let mut conn = Conn::new(gateway);
        loop {
            let open = conn.get(OPEN_PATH, &[]).await;
            if open.is_ok_and(|a| a.status == http::StatusCode::OK) && self.token(&mut conn).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("gateway {gateway} has no usable config after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `Authorization: Basic …` of the bench client.
    pub fn basic_auth(&self) -> String {
        let pair = format!("{CLIENT_ID}:{}", self.client_secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// A client_credentials token, through the gateway `conn` talks to.
    pub async fn token(&self, conn: &mut Conn) -> anyhow::Result<String> {
        let basic = self.basic_auth();
        let headers =
            [("authorization", basic.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let body = Bytes::from_static(b"grant_type=client_credentials");
        let answer = conn.send(Method::POST, &token_path(), &headers, body).await?;
        if answer.status != http::StatusCode::OK {
            anyhow::bail!("token: {} {}", answer.status, answer.text());
        }
        let json = answer.json()?;
        json["access_token"].as_str().map(str::to_owned).with_context(|| format!("no access_token in {json}"))
    }

    pub async fn start_redis(&self, name: &str) -> anyhow::Result<Redis> {
        start_redis(name, self.dir.path()).await
    }

    /// Another gateway on this control plane, configured and serving before this returns.
    pub async fn start_gateway(
        &self,
        name: &str,
        redis: &Redis,
        session_cache: bool,
    ) -> anyhow::Result<Gateway> {
        let flags = if session_cache { CACHED } else { UNCACHED };
        let gateway =
            spawn_gateway(&self.gatehouse, self.dir.path(), name, self.cp_addr, &redis.url(), flags).await?;
        self.wait_configured(gateway.addr).await?;
        Ok(gateway)
    }
}

/// The session cache on (the default now; the bare switch is still passed for a `--baseline`
/// binary from before the flip, which only knows it).
const CACHED: &[&str] = &["--session-cache"];
const UNCACHED: &[&str] = &["--session-cache=false"];
const UNLEASED: &[&str] = &["--session-cache", "--limit-leases=false"];

pub fn token_path() -> String {
    format!("{SECURE_PATH}oauth/token")
}

fn start_upstream(dir: &Path) -> anyhow::Result<(Proc, Vec<(String, SocketAddr)>)> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let log = std::fs::File::create(dir.join("upstream.log")).context("upstream log")?;
    let mut child = Command::new(exe)
        .args(["upstream", "--name", "a", "--name", "b"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start the upstream")?;
    let stdout = child.stdout.take().context("the upstream has no stdout")?;
    let proc = Proc::adopt("upstream", child);
    let mut upstreams = Vec::new();
    for line in std::io::BufReader::new(stdout).lines().take(2) {
        let line = line.context("upstream")?;
        let mut words = line.split_whitespace().skip(1);
        let (Some(name), Some(addr)) = (words.next(), words.next()) else {
            anyhow::bail!("upstream said {line:?}");
        };
        let addr = addr.parse().with_context(|| format!("upstream address {addr}"))?;
        upstreams.push((name.to_owned(), addr));
    }
    if upstreams.len() != 2 {
        anyhow::bail!("the upstream did not report its listeners");
    }
    Ok((proc, upstreams))
}

async fn start_redis(name: &str, dir: &Path) -> anyhow::Result<Redis> {
    let addr = procs::free_addr()?;
    let data = dir.join(format!("{name}-data"));
    std::fs::create_dir_all(&data).with_context(|| name.to_owned())?;
    let mut command = Command::new("redis-server");
    // No persistence: disk writes and fork()ed snapshots on a shared machine would add noise
    // that has nothing to do with the gateway (BENCHMARKS.md says so).
    command
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&data);
    let proc = Proc::spawn(name, command, dir)?;
    procs::wait_listening(addr, name, WAIT).await?;
    Ok(Redis { proc, addr })
}

async fn spawn_gateway(
    gatehouse: &Path,
    dir: &Path,
    name: &str,
    cp: SocketAddr,
    redis_url: &str,
    flags: &[&str],
) -> anyhow::Result<Gateway> {
    let addr = procs::free_addr()?;
    let mut command = Command::new(gatehouse);
    command
        .arg("gateway")
        .args(["--listen", &addr.to_string()])
        .args(["--control-plane", &format!("http://{cp}")])
        .args(["--node-secret", NODE_SECRET, "--redis", redis_url, "--node-id", name])
        // Stopped with SIGTERM at the end of a run: no need to wait out a load balancer.
        .args(["--drain-delay", "0", "--drain-timeout", "1"]);
    command.args(flags);
    let proc = Proc::spawn(name, command, dir)?;
    procs::wait_listening(addr, name, WAIT).await?;
    Ok(Gateway { proc, addr })
}

/// nginx as a tuned reverse proxy: as many workers as cores (what Gatehouse's runtime uses),
/// no access log, keep-alive to the upstream with a pool large enough for every client
/// connection, and keep-alive limits far above a run's request count so neither side
/// reconnects mid-run.
async fn start_nginx(dir: &Path, upstream: SocketAddr) -> anyhow::Result<(Proc, SocketAddr)> {
    let addr = procs::free_addr()?;
    let d = dir.display();
    let conf = format!(
        r#"worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{
    worker_connections 4096;
    multi_accept on;
}}
http {{
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    tcp_nodelay on;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    upstream backend {{
        server {upstream};
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }}
    server {{
        listen {addr} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $proxy_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"#
    );
    std::fs::create_dir_all(dir.join("nginx-tmp")).context("nginx temp dir")?;
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).context("nginx.conf")?;
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .args(["-g", "daemon off;"]);
    let proc = Proc::spawn("nginx", command, dir)?;
    procs::wait_listening(addr, "nginx", WAIT).await?;
    Ok((proc, addr))
}
