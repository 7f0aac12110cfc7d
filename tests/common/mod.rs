//! Helpers shared by the end-to-end tests: a cluster of real `gatehouse` processes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gatehouse_testkit::{ChildProcess, free_port, wait_for_port};

pub mod admin;
pub mod load;
pub mod tls;

pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789abcdefghij";
pub const NODE_SECRET: &str = "test-node-secret-0123456789abcdefghijk";

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"))
}

/// A control plane process on a fixed port, restartable on the same port and data dir.
pub struct ControlPlaneProcess {
    pub port: u16,
    pub data_dir: PathBuf,
    log_dir: PathBuf,
    redis: Option<String>,
    extra_args: Vec<String>,
    name: String,
    pub process: Option<ChildProcess>,
}

impl ControlPlaneProcess {
    /// A control plane without token state (no authorize-client, no revocation).
    pub fn start(data_dir: &Path, log_dir: &Path) -> Self {
        Self::launch("control-plane", data_dir, log_dir, None, vec![])
    }

    /// A control plane sharing the gateways' Redis, as production runs it.
    pub fn start_with_redis(data_dir: &Path, log_dir: &Path, redis_url: &str) -> Self {
        Self::launch("control-plane", data_dir, log_dir, Some(redis_url.to_owned()), vec![])
    }

    /// One of several control-plane replicas sharing their state in Redis; `name` tells their
    /// logs apart.
    pub fn start_replica(name: &str, log_dir: &Path, redis_url: &str) -> Self {
        let data_dir = log_dir.join(name);
        let args = vec!["--state-store".to_owned(), "redis".to_owned()];
        Self::launch(name, &data_dir, log_dir, Some(redis_url.to_owned()), args)
    }

    /// A control plane with extra flags (TLS, say), without token state.
    pub fn start_with_args(name: &str, data_dir: &Path, log_dir: &Path, args: &[&str]) -> Self {
        Self::launch(name, data_dir, log_dir, None, args.iter().map(|a| (*a).to_owned()).collect())
    }

    fn launch(
        name: &str,
        data_dir: &Path,
        log_dir: &Path,
        redis: Option<String>,
        extra_args: Vec<String>,
    ) -> Self {
        let mut cp = Self {
            port: free_port(),
            data_dir: data_dir.to_owned(),
            log_dir: log_dir.to_owned(),
            redis,
            extra_args,
            name: name.to_owned(),
            process: None,
        };
        cp.restart();
        cp
    }

    pub fn restart(&mut self) {
        let mut args = vec![
            "control-plane".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
        ];
        if let Some(redis) = &self.redis {
            args.extend(["--redis".to_owned(), redis.clone()]);
        }
        args.extend(self.extra_args.iter().cloned());
        self.kill();
        // Secrets through the environment, as a Kubernetes Secret would pass them.
        let env = [("GATEHOUSE_ADMIN_SECRET", ADMIN_SECRET), ("GATEHOUSE_NODE_SECRET", NODE_SECRET)];
        self.process = Some(ChildProcess::spawn(&self.name, &binary(), &args, &env, &self.log_dir));
        wait_for_port(self.port, Duration::from_secs(20));
    }

    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub struct GatewayProcess {
    pub port: u16,
    pub process: ChildProcess,
}

impl GatewayProcess {
    pub fn start(name: &str, control_plane: &str, redis: &str, log_dir: &Path) -> Self {
        Self::start_with_log_level(name, control_plane, redis, log_dir, "info")
    }

    /// A gateway logging at `level` (a `RUST_LOG` filter), e.g. `trace` to scan for leaks.
    pub fn start_with_log_level(
        name: &str,
        control_plane: &str,
        redis: &str,
        log_dir: &Path,
        level: &str,
    ) -> Self {
        Self::start_with(name, control_plane, redis, log_dir, level, &[])
    }

    /// A gateway with extra command-line flags.
    pub fn start_with(
        name: &str,
        control_plane: &str,
        redis: &str,
        log_dir: &Path,
        level: &str,
        extra: &[&str],
    ) -> Self {
        let port = free_port();
        let args = vec![
            "gateway".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--control-plane".to_owned(),
            control_plane.to_owned(),
            "--redis".to_owned(),
            redis.to_owned(),
            "--node-id".to_owned(),
            name.to_owned(),
        ];
        let args: Vec<String> = args.into_iter().chain(extra.iter().map(|a| (*a).to_owned())).collect();
        let env = [("GATEHOUSE_NODE_SECRET", NODE_SECRET), ("RUST_LOG", level)];
        let process = ChildProcess::spawn(name, &binary(), &args, &env, log_dir);
        wait_for_port(port, Duration::from_secs(20));
        Self { port, process }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`eventually`] for checks that authenticate: until the gateway has synced a new client,
/// every try is a failed client authentication, which the gateway counts against this address
/// (`--auth-failure-limit`, 10 by default). Waits of 20 ms doubling up to 320 ms keep a slow
/// sync on a loaded machine from turning those tries into a lockout (ten take about 2 s).
pub async fn eventually_backing_off<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut wait = Duration::from_millis(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(320));
    }
}

/// Which upstream answered a proxied GET, or `None` if the gateway did not proxy it.
pub async fn upstream_of(http: &reqwest::Client, url: &str, token: &str) -> Option<String> {
    let response = http.get(url).bearer_auth(token).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: serde_json::Value = response.json().await.ok()?;
    body["upstream"].as_str().map(str::to_owned)
}

/// An admin REST call that must succeed (200): its JSON body.
pub async fn admin_ok(
    http: &reqwest::Client,
    cp: &ControlPlaneProcess,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    admin(http, &cp.url(), method, path, body).await
}

/// A client_credentials access token, retried until the gateway behind `token_url` has synced
/// the client (config arrives asynchronously).
pub async fn access_token(http: &reqwest::Client, token_url: &str, client_id: &str, secret: &str) -> String {
    eventually_backing_off("a token is issued", Duration::from_secs(10), || async {
        let r = client_credentials_token(http, token_url, client_id, secret).await;
        let body: serde_json::Value = r.json().await.ok()?;
        body["access_token"].as_str().map(str::to_owned)
    })
    .await
}

/// A client_credentials token from a gateway, authenticating with HTTP Basic.
pub async fn client_credentials_token(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(token_url)
        .basic_auth(client_id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request")
}

/// `gatehouse dev` on free ports.
pub struct DevProcess {
    pub process: ChildProcess,
    pub admin: String,
    pub gateway: String,
    /// The admin secret: the one given, or the one dev generated and printed.
    pub secret: String,
}

impl DevProcess {
    /// With the admin secret dev generates and prints, as a new user runs it.
    pub fn start(dir: &Path) -> Self {
        Self::launch(dir, None, &[])
    }

    pub fn start_with_secret(dir: &Path, secret: &str) -> Self {
        Self::launch(dir, Some(secret), &[])
    }

    /// With the admin secret and extra flags.
    pub fn start_with_args(dir: &Path, secret: &str, extra: &[&str]) -> Self {
        Self::launch(dir, Some(secret), extra)
    }

    fn launch(dir: &Path, secret: Option<&str>, extra: &[&str]) -> Self {
        let (gw_port, admin_port) = (free_port(), free_port());
        let mut args = vec![
            "dev".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{gw_port}"),
            "--admin-listen".to_owned(),
            format!("127.0.0.1:{admin_port}"),
        ];
        if let Some(secret) = secret {
            args.extend(["--admin-secret".to_owned(), secret.to_owned()]);
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let process = ChildProcess::spawn("dev", &binary(), &args, &[], dir);
        wait_for_port(gw_port, Duration::from_secs(20));
        wait_for_port(admin_port, Duration::from_secs(20));
        let secret = match secret {
            Some(secret) => secret.to_owned(),
            // The ports open a moment before dev prints (it binds, then prints the addresses):
            // on a loaded machine the line may not be there yet.
            None => {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let stdout = std::fs::read_to_string(&process.stdout_path).expect("dev stdout");
                    if let Some(secret) = stdout.lines().find_map(|l| l.trim().strip_prefix("admin secret:"))
                    {
                        break secret.trim().to_owned();
                    }
                    assert!(Instant::now() < deadline, "dev prints the admin secret it generated");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        Self {
            process,
            admin: format!("http://127.0.0.1:{admin_port}"),
            gateway: format!("http://127.0.0.1:{gw_port}"),
            secret,
        }
    }
}

/// An admin REST call that must succeed; returns the response body.
pub async fn admin(
    http: &reqwest::Client,
    control_plane: &str,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http
        .request(method.parse().expect("an HTTP method"), format!("{control_plane}{path}"))
        .header("authorization", ADMIN_SECRET)
        .json(&body)
        .send()
        .await
        .expect("admin request");
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("admin JSON answer");
    assert_eq!(status, 200, "{method} {path}: {body}");
    body
}

/// Waits until the gateway at `introspect_url` (an OAuth API's `/oauth/introspect`) knows the
/// client: introspection authenticates the client and spends no limit, and config arrives in
/// order, so whatever was created before the client is there too.
pub async fn wait_for_client(http: &reqwest::Client, introspect_url: &str, client_id: &str, secret: &str) {
    eventually_backing_off("the gateway knows the client", Duration::from_secs(10), || async {
        let r = http
            .post(introspect_url)
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=none")
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
}

/// `gatehouse dev` with [`ADMIN_SECRET`], and admin calls that report their status.
pub struct Dev {
    pub inner: DevProcess,
    pub http: reqwest::Client,
}

impl Dev {
    pub fn start(dir: &Path) -> Self {
        Self { inner: DevProcess::start_with_secret(dir, ADMIN_SECRET), http: reqwest::Client::new() }
    }

    /// An admin REST call: its status and JSON body (`Null` when there is none).
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method.parse().expect("an HTTP method"), format!("{}{path}", self.inner.admin))
            .header("authorization", ADMIN_SECRET);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("admin request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// RFC 7009 revocation of `token` at `revoke_url`, authenticating with HTTP Basic; the status.
pub async fn oauth_revoke(
    http: &reqwest::Client,
    revoke_url: &str,
    client_id: &str,
    secret: &str,
    token: &str,
) -> u16 {
    http.post(revoke_url)
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revocation request")
        .status()
        .as_u16()
}
