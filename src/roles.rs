//! Starting each role.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use gatehouse_control::ControlPlane;
use gatehouse_gateway::analytics::AnalyticsRecorder;
use gatehouse_gateway::conn::Connections;
use gatehouse_gateway::edge::EdgePolicy;
use gatehouse_gateway::limits::coalesce::Coalescer;
use gatehouse_gateway::listener::Listener;
use gatehouse_gateway::notify::{Notifier, NotifierConfig};
use gatehouse_gateway::path::PathRules;
use gatehouse_gateway::proxy::tunnel::Tunnels;
use gatehouse_gateway::proxy::{ProxyTimeouts, UpstreamClient};
use gatehouse_gateway::session_cache::SessionCache;
use gatehouse_gateway::{Gateway, LiveConfig, shards};
use gatehouse_store::{
    AnyStateStore, AnyTokenStore, FileStateStore, MemoryStateStore, MemoryTokenStore, RedisStateStore,
    RedisTokenStore,
};
use tokio::net::TcpListener;

use crate::admin::auth::SecretCheck;
use crate::cli::{ControlPlaneArgs, DevArgs, GatewayArgs, StateStoreKind};
use crate::listener::{AdminEdge, ControlSecrets, ListenerTls, Readiness, serve_control_plane};
use crate::sync::{self, ControlPlaneAccess};

pub async fn control_plane(args: ControlPlaneArgs) -> anyhow::Result<()> {
    // Before the secret checks, which take the failure policy from it.
    args.auth.apply(cpus())?;
    let (admin_name, node_name) =
        (args.names.name("admin_secret", "--admin-secret"), args.names.name("node_secret", "--node-secret"));
    let node = match &args.node_secret {
        Some(secret) => Some(SecretCheck::new(secret, "node").context(node_name.clone())?),
        None => None,
    };
    let secrets = ControlSecrets {
        admin: SecretCheck::new(&args.admin_secret, "admin").context(admin_name.clone())?.with_tyk_header(),
        node,
    };
    if args.node_secret.as_deref() == Some(args.admin_secret.as_str()) {
        bail!("{node_name} must differ from {admin_name}: gateways must not hold admin rights");
    }
    let tokens = match &args.redis {
        Some(url) => Some(AnyTokenStore::redis(
            RedisTokenStore::connect(url).await.with_context(|| redis_context("--redis", url))?,
        )),
        None => {
            tracing::warn!("no --redis: authorize-client and token revocation are unavailable");
            None
        }
    };
    let store = match (args.state_store, &args.redis) {
        (StateStoreKind::File, _) => AnyStateStore::File(
            FileStateStore::open(&args.data_dir)
                .with_context(|| format!("--data-dir {}", args.data_dir.display()))?,
        ),
        (StateStoreKind::Redis, Some(url)) => AnyStateStore::Redis(
            RedisStateStore::connect(url)
                .await
                .with_context(|| redis_context("--state-store redis: --redis", url))?,
        ),
        (StateStoreKind::Redis, None) => bail!("--state-store redis needs --redis URL"),
    };
    let control = ControlPlane::open_with(store, tokens, args.clients.settings()).await?;
    let tls = match args.tls.load(args.tls_client_ca.clone())? {
        Some(config) => Some(ListenerTls { config, hsts: args.tls.hsts()? }),
        None => None,
    };
    let connections = Connections::new(args.connections.limits()?, "control_plane");
    let listener = bind(args.listen, LISTEN).await?;
    let readiness = Readiness::new(Arc::clone(&control));
    if let Some(probe) = args.probe_listen {
        let probe_connections = Connections::new(connections.limits.clone(), "control_plane");
        tokio::spawn(crate::probes::serve(
            bind(probe, PROBE_LISTEN).await?,
            Arc::clone(&readiness),
            probe_connections,
        ));
    }
    tracing::info!(
        listen = %args.listen,
        probe_listen = ?args.probe_listen,
        data_dir = %args.data_dir.display(),
        tls = tls.is_some(),
        mutual_tls = args.tls_client_ca.is_some(),
        "control plane ready"
    );
    let edge = AdminEdge {
        connections,
        apply_wait: seconds("--apply-wait", args.apply_wait)?,
        dashboard_session_ttl: dashboard_session_ttl(args.dashboard_session_ttl)?,
        gateway_url: gateway_url(args.gateway_url.as_deref())?,
    };
    serve_control_plane(listener, tls, control, readiness, secrets, edge, shutdown_signal()).await
}

/// What a gateway's serving threads share, and how each makes its own [`Gateway`]: the parts
/// here are built once; the Redis connection and the upstream pool are made by each thread on
/// its own runtime, so their tasks stay on that thread (see `gatehouse_gateway::shards`).
#[derive(Clone)]
struct ShardParts {
    live: Arc<LiveConfig>,
    sessions: Arc<SessionCache>,
    analytics: AnalyticsRecorder,
    notifier: Notifier,
    draining: Arc<std::sync::atomic::AtomicBool>,
    edge: EdgePolicy,
    paths: PathRules,
    tunnels: Tunnels,
    timeouts: ProxyTimeouts,
    max_request_body: usize,
    redis: String,
    limit_leases: bool,
}

impl ShardParts {
    async fn build(self) -> anyhow::Result<Gateway> {
        let tokens = RedisTokenStore::connect(&self.redis)
            .await
            .with_context(|| redis_context("--redis", &self.redis))?;
        let tokens = AnyTokenStore::redis(tokens);
        // This thread's revocations must reach the shared cache before they answer.
        self.sessions.hear_local_deletions(&tokens);
        Ok(Gateway {
            live: self.live,
            sessions: self.sessions,
            analytics: self.analytics,
            tokens,
            upstream: UpstreamClient::new(self.timeouts)
                .max_request_body(self.max_request_body)
                .request_body_idle_timeout(self.edge.connections.limits.request_body_idle_timeout)
                .tunnels(self.tunnels),
            notifier: self.notifier,
            draining: self.draining,
            store_health: Default::default(),
            limit_checks: Arc::new(Coalescer::new(self.limit_leases)),
            edge: self.edge,
            paths: self.paths,
        })
    }
}

pub async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    sync::check_url(&args.control_plane)?;
    let serving_threads = match args.serving_threads {
        0 => shards::default_count(),
        n => n,
    };
    // One Argon2id verification per serving thread unless told otherwise.
    args.auth.apply(serving_threads)?;
    let tokens =
        RedisTokenStore::connect(&args.redis).await.with_context(|| redis_context("--redis", &args.redis))?;
    let node_id = args.node_id.unwrap_or_else(default_node_id);
    // Every TLS input is read before binding: a bad file stops the start with its name.
    let tls = args.tls.load(None)?;
    let mut edge = EdgePolicy {
        trusted_proxies: args
            .trusted_proxies
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--trusted-proxies")?,
        hsts: args.tls.hsts()?,
        tls_required: tls.is_some(),
        access_log: args.access_log,
        connections: Connections::new(args.connections.limits()?, "gateway"),
        // Named once the listeners are bound: their addresses are its default allow-list.
        issuer: Default::default(),
    };
    let access = ControlPlaneAccess {
        node_secret: args.node_secret,
        tls: args.control_plane_tls.client_config(&args.control_plane)?,
    };
    let accept = args.accept_sockets.into();
    let mut listeners = vec![Listener { tcp: bind_serving(args.listen, LISTEN, accept)?, tls: tls.clone() }];
    if let Some(plain) = args.plain_listen {
        listeners.push(Listener::plain(bind_serving(plain, PLAIN_LISTEN, accept)?));
    }
    let bound: Vec<std::net::SocketAddr> = listeners.iter().filter_map(|l| l.tcp.local_addr().ok()).collect();
    edge.issuer = args.public.issuer_policy(&bound)?;
    let live = Arc::new(LiveConfig::new());
    tokio::spawn(sync::follow(args.control_plane.clone(), access, node_id.clone(), Arc::clone(&live)));
    let drain_delay = seconds("--drain-delay", args.drain_delay)?;
    let drain_timeout = seconds("--drain-timeout", args.drain_timeout)?;
    let tunnel_idle_timeout = match seconds("--tunnel-idle-timeout", args.tunnel_idle_timeout)? {
        never if never.is_zero() => None,
        timeout => Some(timeout),
    };
    let timeouts = ProxyTimeouts {
        connect: positive_seconds("--upstream-connect-timeout", args.upstream_connect_timeout)?,
        response_header: positive_seconds("--upstream-timeout", args.upstream_timeout)?,
    };
    let notifier = Notifier::start(NotifierConfig::default());
    let tokens = AnyTokenStore::redis(tokens);
    let sessions = if args.session_cache { SessionCache::start(&tokens) } else { SessionCache::disabled() };
    let analytics = AnalyticsRecorder::start(tokens.clone());
    let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shard = ShardParts {
        live,
        sessions,
        analytics: analytics.clone(),
        notifier: notifier.clone(),
        draining: Arc::clone(&draining),
        edge,
        paths: args.paths.rules(),
        tunnels: Tunnels::new(tunnel_idle_timeout),
        timeouts,
        max_request_body: args.max_request_body,
        redis: args.redis.clone(),
        limit_leases: args.limit_leases,
    };
    tracing::info!(
        listen = %args.listen,
        tls = tls.is_some(),
        plain_listen = ?args.plain_listen,
        %node_id,
        control_plane = %args.control_plane,
        serving_threads,
        accept_sockets = ?args.accept_sockets,
        "gateway listening; ready once it holds a config"
    );
    let stop = async move {
        shutdown_signal().await;
        // Not ready first, still serving: the load balancer moves traffic away before the
        // listener closes, so no client meets a refused connection.
        draining.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(?drain_delay, "draining: not ready, still serving");
        tokio::time::sleep(drain_delay).await;
    };
    let placement = shards::Placement { accept, pin_to_cores: args.pin_threads };
    shards::serve(serving_threads, placement, listeners, move |_| shard.clone().build(), stop, drain_timeout)
        .await?;
    if let Err(error) = analytics.flush().await {
        tracing::warn!(%error, "exiting with analytics unwritten");
    }
    // Token notifications already promised to identity servers go out before we exit.
    if !notifier.flush(std::time::Duration::from_secs(10)).await {
        tracing::warn!("exiting with token notifications still undelivered");
    }
    Ok(())
}

pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    args.auth.apply(cpus())?;
    let limits = args.connections.limits()?;
    let apply_wait = seconds("--apply-wait", args.apply_wait)?;
    let dashboard_session_ttl = dashboard_session_ttl(args.dashboard_session_ttl)?;
    let generated = args.admin_secret.is_none();
    let admin_secret = args.admin_secret.unwrap_or_else(gatehouse_oauth::token::mint);
    let node_secret = gatehouse_oauth::token::mint();
    let secrets = ControlSecrets {
        admin: SecretCheck::new(&admin_secret, "admin")
            .context(args.names.name("admin_secret", "--admin-secret"))?
            .with_tyk_header(),
        node: Some(SecretCheck::new(&node_secret, "node")?),
    };
    // One in-memory token store serves both roles, as Redis would serve both in production.
    let tokens = AnyTokenStore::Memory(MemoryTokenStore::new());
    let control = ControlPlane::open_with(
        AnyStateStore::Memory(MemoryStateStore::new()),
        Some(tokens.clone()),
        args.clients.settings(),
    )
    .await?;
    // Before binding: loading the system's CA certificates takes a moment, and scripts (and
    // tests) take the open ports as the sign that the addresses below are printed.
    let upstream = UpstreamClient::new(ProxyTimeouts::default())
        .request_body_idle_timeout(limits.request_body_idle_timeout);
    let admin_listener = bind(args.admin_listen, ADMIN_LISTEN).await?;
    let gateway_listener = bind(args.listen, LISTEN).await?;
    let admin_addr = admin_listener.local_addr().context("the control plane's address")?;
    let gateway_addr = gateway_listener.local_addr().context("the gateway's address")?;
    let issuer = args.public.issuer_policy(&[gateway_addr])?;

    let live = Arc::new(LiveConfig::new());
    let access = ControlPlaneAccess { node_secret: Some(node_secret), tls: None };
    tokio::spawn(sync::follow(format!("http://{admin_addr}"), access, "dev".into(), Arc::clone(&live)));
    let gateway = Arc::new(Gateway {
        live,
        // One process, one store: nothing to save by caching.
        sessions: SessionCache::disabled(),
        analytics: AnalyticsRecorder::start(tokens.clone()),
        tokens,
        upstream,
        notifier: Notifier::start(NotifierConfig::default()),
        draining: Default::default(),
        store_health: Default::default(),
        limit_checks: Default::default(),
        edge: EdgePolicy {
            connections: Connections::new(limits.clone(), "gateway"),
            issuer,
            access_log: args.access_log,
            ..Default::default()
        },
        paths: args.paths.rules(),
    });

    // Printed on stdout (logs go to stderr) so scripts can read it.
    println!("Gatehouse dev mode: in-memory stores, nothing persists.");
    println!("  gateway:       http://{gateway_addr}");
    println!("  control plane: http://{admin_addr}  (gRPC and REST)");
    println!("  dashboard:     http://{admin_addr}/dashboard/");
    if generated {
        println!("  admin secret:  {admin_secret}");
    }
    tokio::spawn(async move {
        let readiness = Readiness::new(Arc::clone(&control));
        let edge = AdminEdge {
            connections: Connections::new(limits, "control_plane"),
            apply_wait,
            dashboard_session_ttl,
            gateway_url: Some(format!("http://{gateway_addr}")),
        };
        if let Err(e) = serve_control_plane(
            admin_listener,
            None,
            control,
            readiness,
            secrets,
            edge,
            std::future::pending(),
        )
        .await
        {
            tracing::error!("control plane stopped: {}", crate::report::one_line(e.as_ref()));
        }
    });
    gateway.serve(gateway_listener, shutdown_signal(), std::time::Duration::from_secs(5)).await;
    Ok(())
}

/// `--gateway-url`: a plain-HTTP base URL, checked at start rather than at the first try.
fn gateway_url(url: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
    let parsed: http::Uri = url.parse().with_context(|| format!("--gateway-url {url:?} is not a URL"))?;
    if parsed.scheme_str() != Some("http") || parsed.host().is_none() {
        bail!(
            "--gateway-url {url:?} must be an http:// URL (the gateways' in-cluster address), e.g. http://gateway:8080"
        );
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

/// `--dashboard-session-ttl`: a session of zero seconds could never be used.
fn dashboard_session_ttl(seconds: u64) -> anyhow::Result<std::time::Duration> {
    if seconds == 0 {
        bail!("--dashboard-session-ttl must be at least 1 second");
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// The flag and variable that set a listening address, for the error when it is taken.
type AddressSetting = (&'static str, &'static str);
const LISTEN: AddressSetting = ("--listen", "GATEHOUSE_LISTEN");
const PROBE_LISTEN: AddressSetting = ("--probe-listen", "GATEHOUSE_PROBE_LISTEN");
const PLAIN_LISTEN: AddressSetting = ("--plain-listen", "GATEHOUSE_PLAIN_LISTEN");
const ADMIN_LISTEN: AddressSetting = ("--admin-listen", "GATEHOUSE_ADMIN_LISTEN");

/// What to say when `addr` cannot be listened on: the address, and how to choose another, since
/// "address already in use" alone leaves a newcomer looking for the setting.
fn cannot_listen(addr: std::net::SocketAddr, (flag, variable): AddressSetting) -> String {
    format!("cannot listen on {addr} (choose another address with {flag} or {variable})")
}

async fn bind(addr: std::net::SocketAddr, setting: AddressSetting) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| cannot_listen(addr, setting))
}

/// A serving listener, bound so that the serving threads can share it as `accept` says.
fn bind_serving(
    addr: std::net::SocketAddr,
    setting: AddressSetting,
    accept: shards::AcceptSockets,
) -> anyhow::Result<TcpListener> {
    let listener = shards::bind(addr, accept).and_then(TcpListener::from_std);
    listener.with_context(|| cannot_listen(addr, setting))
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("{flag}: {value} is not a number of seconds"))
}

/// A timeout of zero would refuse every request with 504: surely a mistake, so say so at start.
fn positive_seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    let duration = seconds(flag, value)?;
    if duration.is_zero() {
        bail!("{flag}: must be more than 0 seconds");
    }
    Ok(duration)
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn default_node_id() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("gateway-{}", std::process::id()))
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// What a Redis connection failure happened to: the URL names the server, but its password,
/// which Redis URLs carry inline, is masked.
fn redis_context(flag: &str, url: &str) -> String {
    format!("{flag} {}", crate::config_file::mask_url_password(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_plain_http_base_urls() {
        assert_eq!(
            gateway_url(Some("http://gateway:8080/")).unwrap().as_deref(),
            Some("http://gateway:8080")
        );
        assert_eq!(gateway_url(Some("  ")).unwrap(), None);
        assert_eq!(gateway_url(None).unwrap(), None);
        for wrong in ["gateway:8080", "https://gateway", "ftp://gateway", "http://"] {
            let error = format!("{:#}", gateway_url(Some(wrong)).unwrap_err());
            assert!(error.contains("--gateway-url"), "{wrong}: {error}");
        }
        assert!(dashboard_session_ttl(0).is_err());
        assert_eq!(dashboard_session_ttl(60).unwrap(), std::time::Duration::from_secs(60));
    }
}
