//! Telemetry end to end, with real processes: spans exported over OTLP to a real receiver in
//! the test (names, parent links across the caller → gateway → upstream hops, no secrets),
//! `/metrics` on both roles parsed strictly against known traffic, and JSON logs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;
#[path = "telemetry/exposition.rs"]
mod exposition;
#[path = "telemetry/otlp.rs"]
mod otlp;

use std::path::Path;
use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{ChildProcess, EchoUpstream, RedisServer, free_port, wait_for_port};
use otlp::{OtlpReceiver, ReceivedSpan};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(15);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A control plane and a gateway on one Redis, each with extra environment.
struct Pair {
    cp: ChildProcess,
    cp_url: String,
    gw: ChildProcess,
    gw_url: String,
    http: reqwest::Client,
}

impl Pair {
    fn start(dir: &Path, redis: &str, cp_env: &[(&str, &str)], gw_env: &[(&str, &str)]) -> Self {
        let (cp_port, gw_port) = (free_port(), free_port());
        let data_dir = dir.join("data").display().to_string();
        let cp_args = ["control-plane", "--listen", &format!("127.0.0.1:{cp_port}"), "--data-dir", &data_dir];
        let mut env = vec![("GATEHOUSE_ADMIN_SECRET", ADMIN_SECRET), ("GATEHOUSE_NODE_SECRET", NODE_SECRET)];
        env.extend_from_slice(cp_env);
        let cp = ChildProcess::spawn("cp", &binary(), &strings(&cp_args), &env, dir);
        wait_for_port(cp_port, SYNC);
        let cp_url = format!("http://127.0.0.1:{cp_port}");
        let gw_args = [
            "gateway",
            "--listen",
            &format!("127.0.0.1:{gw_port}"),
            "--control-plane",
            &cp_url,
            "--redis",
            redis,
            "--drain-delay",
            "0",
        ];
        let mut env = vec![("GATEHOUSE_NODE_SECRET", NODE_SECRET)];
        env.extend_from_slice(gw_env);
        let gw = ChildProcess::spawn("gw", &binary(), &strings(&gw_args), &env, dir);
        wait_for_port(gw_port, SYNC);
        Self { cp, cp_url, gw, gw_url: format!("http://127.0.0.1:{gw_port}"), http: reqwest::Client::new() }
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        admin(&self.http, &self.cp_url, method, path, body).await
    }

    /// A client_credentials token, once the gateway has the client.
    async fn token(&self, api_path: &str, client_id: &str, secret: &str) -> String {
        access_token(&self.http, &format!("{}{api_path}oauth/token", self.gw_url), client_id, secret).await
    }

    async fn scrape(&self, base: &str) -> exposition::Exposition {
        let r = self.http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        let text = r.text().await.unwrap();
        exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn oauth_api(id: &str, upstream: &EchoUpstream) -> Value {
    json!({"api_id": id, "name": id, "listen_path": format!("/{id}/"), "strip_listen_path": true,
           "upstream_url": upstream.url(), "oauth": {"allowed_grant_types": ["client_credentials"]}})
}

// Multi-threaded: the receiver must keep serving while the test blocks waiting for the
// gateway to exit, since that is when the gateway flushes its spans to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_the_callers_trace_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let receiver = OtlpReceiver::start().await;
    let upstream = EchoUpstream::start("traced").await;
    let endpoint = receiver.endpoint.as_str();
    // The control plane exports as it goes; the gateway holds its spans (a minute's batch) so
    // that only the flush on SIGTERM can deliver them.
    let cp_env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let gw_env = [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "60000")];
    let mut pair = Pair::start(dir.path(), &redis.url(), &cp_env, &gw_env);

    pair.admin("POST", "/api/apis", oauth_api("traced", &upstream)).await;
    let secret = "traced-client-secret-0123456789abcdef";
    pair.admin("POST", "/api/apis/oauth/traced", json!({"client_id": "traced-client", "secret": secret}))
        .await;
    // One admin call over gRPC too.
    let mut apis = pb::api_service_client::ApiServiceClient::connect(pair.cp_url.clone()).await.unwrap();
    let mut request = tonic::Request::new(pb::ListApisRequest::default());
    request.metadata_mut().insert("authorization", ADMIN_SECRET.parse().unwrap());
    apis.list_apis(request).await.unwrap();

    let token = pair.token("/traced/", "traced-client", secret).await;
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let echoed: Value = pair
        .http
        .get(format!("{}/traced/hello", pair.gw_url))
        .bearer_auth(&token)
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent_upstream =
        echoed["headers"]["traceparent"].as_str().expect("upstream got a traceparent").to_owned();

    assert!(pair.gw.terminate(SYNC), "gateway exits cleanly on SIGTERM");
    let spans = eventually("the gateway's spans arrive after SIGTERM", SYNC, || async {
        let spans = receiver.spans();
        let gateway_spans = spans.iter().filter(|s| s.service == "gatehouse-gateway").count();
        (gateway_spans >= 3 && spans.iter().any(|s| s.name == "gatehouse.v1.ApiService/ListApis"))
            .then_some(spans)
    })
    .await;
    let find = |name: &str, service: &str| -> &ReceivedSpan {
        spans
            .iter()
            .find(|s| s.name == name && s.service == service)
            .unwrap_or_else(|| panic!("no span {name} from {service} in {spans:#?}"))
    };

    // The gateway's server span continues the caller's trace, as a child of the caller's span.
    let server = find("GET /traced/", "gatehouse-gateway");
    assert_eq!((server.trace_id.as_str(), server.parent_span_id.as_str()), (TRACE_ID, CALLER_SPAN));
    assert_eq!(server.kind, 2, "server span");
    assert_eq!(server.attribute("gatehouse.api_id"), Some("traced"));
    assert_eq!(server.attribute("gatehouse.client_id"), Some("traced-client"));
    assert_eq!(server.attribute("gatehouse.route_kind"), Some("proxy"));
    // An integer, as the semantic conventions say, so that `>= 500` queries match.
    assert_eq!(server.int_attribute("http.response.status_code"), Some(200));
    assert!(server.attribute("gatehouse.upstream.duration_ms").is_some());
    // The upstream call is its child, and the upstream continued from there.
    let upstream_span = find("upstream", "gatehouse-gateway");
    assert_eq!(upstream_span.parent_span_id, server.span_id);
    assert_eq!(upstream_span.kind, 3, "client span");
    assert_eq!(sent_upstream, format!("00-{TRACE_ID}-{}-01", upstream_span.span_id));

    // The grant: its own trace (no traceparent sent), under the token endpoint's server span.
    // The token helper retries while the gateway has not yet synced the client, so refused
    // attempts may come before the grant that issued.
    let grants: Vec<&ReceivedSpan> =
        spans.iter().filter(|s| s.name == "oauth.token" && s.service == "gatehouse-gateway").collect();
    let (issued, refused): (Vec<&ReceivedSpan>, Vec<&ReceivedSpan>) =
        grants.iter().partition(|s| s.attribute("gatehouse.outcome") == Some("issued"));
    assert_eq!(issued.len(), 1, "one grant issued: {grants:#?}");
    assert!(
        refused.iter().all(|s| s.attribute("gatehouse.outcome") == Some("invalid_client")),
        "{refused:#?}"
    );
    let grant = issued[0];
    assert_eq!(grant.attribute("oauth.grant_type"), Some("client_credentials"));
    assert_eq!(grant.attribute("gatehouse.client_id"), Some("traced-client"));
    let token_server = spans.iter().find(|s| s.span_id == grant.parent_span_id).expect("grant's parent");
    assert!(token_server.name.starts_with("POST /traced/"), "{token_server:?}");
    assert_eq!(token_server.attribute("gatehouse.route_kind"), Some("token"));

    // Admin calls from the control plane, REST (by route template) and gRPC.
    let create = find("POST /api/apis", "gatehouse-control-plane");
    assert_eq!(create.attribute("rpc.method"), Some("gatehouse.v1.ApiService/CreateApi"));
    assert_eq!(create.int_attribute("http.response.status_code"), Some(200));
    let list = find("gatehouse.v1.ApiService/ListApis", "gatehouse-control-plane");
    assert_eq!(list.attribute("rpc.grpc.status_code"), Some("0"));

    // Nothing secret anywhere in what was exported.
    let exported = format!("{spans:?}");
    for secret in [token.as_str(), secret, ADMIN_SECRET, NODE_SECRET] {
        assert!(!exported.contains(secret), "a secret reached the collector");
    }
    assert!(pair.cp.terminate(SYNC));
}

#[tokio::test]
async fn metrics_count_the_traffic_sent() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("metered").await;
    // Uncached, so that every proxied request reads its session from Redis and the Redis
    // metrics below count each one (through the variable, as a deployment would set it).
    let pair = Pair::start(dir.path(), &redis.url(), &[], &[("GATEHOUSE_SESSION_CACHE", "false")]);

    pair.admin("POST", "/api/apis", oauth_api("metered", &upstream)).await;
    pair.admin(
        "POST",
        "/api/portal/policies",
        json!({"id": "rate", "name": "rate", "active": true,
        "rate": 3, "per": 3600}),
    )
    .await;
    pair.admin(
        "POST",
        "/api/portal/policies",
        json!({"id": "quota", "name": "quota", "active": true,
        "quota_max": 2, "quota_renewal_rate": 3600}),
    )
    .await;
    let rate_secret = "metered-rate-secret-0123456789abcdefgh";
    let quota_secret = "metered-quota-secret-0123456789abcdefg";
    pair.admin(
        "POST",
        "/api/apis/oauth/metered",
        json!({"client_id": "rate-client", "secret": rate_secret, "policy_id": "rate"}),
    )
    .await;
    pair.admin(
        "POST",
        "/api/apis/oauth/metered",
        json!({"client_id": "quota-client", "secret": quota_secret, "policy_id": "quota"}),
    )
    .await;
    // `token` retries until the gateway knows the client; count what it finally issued.
    let rate_token = pair.token("/metered/", "rate-client", rate_secret).await;
    let quota_token = pair.token("/metered/", "quota-client", quota_secret).await;

    let mut statuses = Vec::new();
    for (token, n) in [(&rate_token, 5), (&quota_token, 3)] {
        for _ in 0..n {
            let r =
                pair.http.get(format!("{}/metered/x", pair.gw_url)).bearer_auth(token).send().await.unwrap();
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 200, 200, 403]);
    let bad =
        pair.http.get(format!("{}/metered/x", pair.gw_url)).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let lost = pair.http.get(format!("{}/nowhere", pair.gw_url)).send().await.unwrap();
    assert_eq!(lost.status(), 404);

    let gw = pair.scrape(&pair.gw_url).await;
    let requests = |route: &str, class: &str| {
        gw.value(
            "gatehouse_gateway_requests_total",
            &[("api", "metered"), ("route", route), ("status_class", class)],
        )
    };
    assert_eq!(requests("proxy", "2xx"), Some(5.0));
    assert_eq!(requests("proxy", "4xx"), Some(4.0), "3 refused by limits, 1 bad token");
    assert_eq!(requests("token", "2xx"), Some(2.0));
    assert_eq!(
        gw.value(
            "gatehouse_gateway_requests_total",
            &[("api", ""), ("route", "not_found"), ("status_class", "4xx")]
        ),
        Some(1.0)
    );
    let rejections = |limit: &str| {
        gw.value("gatehouse_gateway_limit_rejections_total", &[("api", "metered"), ("limit", limit)])
    };
    assert_eq!((rejections("rate"), rejections("quota")), (Some(2.0), Some(1.0)));
    assert_eq!(
        gw.value(
            "gatehouse_gateway_tokens_issued_total",
            &[("api", "metered"), ("grant_type", "client_credentials")]
        ),
        Some(2.0)
    );
    let proxied = [("api", "metered"), ("route", "proxy")];
    assert_eq!(gw.value("gatehouse_gateway_request_duration_seconds_count", &proxied), Some(9.0));
    assert_eq!(
        gw.value("gatehouse_gateway_upstream_duration_seconds_count", &[("api", "metered")]),
        Some(5.0)
    );
    // Every proxied request with a token looked its session up in Redis.
    let lookups = gw.value("gatehouse_redis_duration_seconds_count", &[("op", "get_session")]).unwrap_or(0.0);
    assert!(lookups >= 9.0, "{lookups} session lookups");
    assert_eq!(gw.value("gatehouse_redis_errors_total", &[("op", "get_session")]), None);

    let cp = pair.scrape(&pair.cp_url).await;
    // Five admin writes: the API, two policies, two clients.
    assert_eq!(cp.value("gatehouse_control_plane_config_revision", &[]), Some(5.0));
    assert_eq!(gw.value("gatehouse_gateway_config_revision", &[]), Some(5.0));
    assert_eq!(cp.value("gatehouse_control_plane_connected_gateways", &[]), Some(1.0));
    let admin = |method: &str| {
        cp.value(
            "gatehouse_admin_requests_total",
            &[("protocol", "rest"), ("method", method), ("code", "200")],
        )
    };
    assert_eq!(admin("gatehouse.v1.ApiService/CreateApi"), Some(1.0));
    assert_eq!(admin("gatehouse.v1.PolicyService/CreatePolicy"), Some(2.0));
    assert_eq!(admin("gatehouse.v1.ClientService/CreateClient"), Some(2.0));
    // Both roles say which build runs and how the process fares, as Prometheus's clients do.
    for scrape in [&gw, &cp] {
        let build = scrape.samples.iter().find(|s| s.name == "gatehouse_build_info").expect("build info");
        assert_eq!(build.labels.get("version").map(String::as_str), Some(env!("CARGO_PKG_VERSION")));
        assert!(build.labels.get("commit").is_some_and(|c| !c.is_empty()), "{build:?}");
        assert_eq!(build.value, 1.0);
        assert!(scrape.value("process_resident_memory_bytes", &[]).is_some_and(|rss| rss > 1e6));
        assert!(scrape.value("process_open_fds", &[]).is_some_and(|fds| fds >= 3.0));
        assert!(scrape.value("process_start_time_seconds", &[]).is_some_and(|t| t > 1.7e9));
        assert_eq!(scrape.types.get("process_cpu_seconds_total").map(String::as_str), Some("counter"));
    }
    // The gateway's config stream, still open, is counted when it ends; the only gRPC calls so
    // far are its reports of the revisions it applied.
    let grpc: Vec<_> =
        cp.samples.iter().filter(|s| s.labels.get("protocol").is_some_and(|p| p == "grpc")).collect();
    assert!(
        grpc.iter()
            .all(|s| s.labels.get("method").is_some_and(|m| m == "gatehouse.v1.ConfigService/ReportApplied")),
        "{grpc:?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (gw_port, admin_port) = (free_port(), free_port());
    let args = [
        "dev",
        "--log-format",
        "json",
        "--listen",
        &format!("127.0.0.1:{gw_port}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin_port}"),
        "--admin-secret",
        ADMIN_SECRET,
    ];
    let mut dev =
        ChildProcess::spawn("dev", &binary(), &strings(&args), &[("RUST_LOG", "debug")], dir.path());
    wait_for_port(gw_port, SYNC);
    wait_for_port(admin_port, SYNC);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://127.0.0.1:{admin_port}/api/apis"))
        .header("authorization", ADMIN_SECRET)
        .json(&json!({"api_id": "logged", "listen_path": "/logged/", "upstream_url": "http://127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("the gateway applies the change", SYNC, || async {
        let r = http.get(format!("http://127.0.0.1:{gw_port}/logged/")).send().await.ok()?;
        (r.status() == 502).then_some(())
    })
    .await;
    assert!(dev.terminate(SYNC));

    let logs = dev.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "too few log lines: {logs}");
    for line in lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string() && entry["timestamp"].is_string(), "{line}");
    }
    assert!(logs.contains("upstream request failed"), "warnings logged as JSON too: {logs}");
}

/// `--access-log`: one JSON line per request with who called what and how it went, and never
/// a credential, the path below the listen path or the query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_line_per_request_and_no_credential() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::start("logged").await;
    let (gw_port, admin_port) = (free_port(), free_port());
    let (gw, admin) = (format!("127.0.0.1:{gw_port}"), format!("127.0.0.1:{admin_port}"));
    let args = ["dev", "--access-log", "--log-format", "json", "--listen", &gw, "--admin-listen", &admin];
    let args = [&args[..], &["--admin-secret", ADMIN_SECRET]].concat();
    let mut dev = ChildProcess::spawn("dev", &binary(), &strings(&args), &[], dir.path());
    wait_for_port(gw_port, SYNC);
    wait_for_port(admin_port, SYNC);
    let http = reqwest::Client::new();
    let admin_call = |path: &str, body: Value| {
        http.post(format!("http://{admin}{path}")).header("authorization", ADMIN_SECRET).json(&body).send()
    };
    assert_eq!(admin_call("/api/apis", oauth_api("audited", &upstream)).await.unwrap().status(), 200);
    let client = json!({"client_id": "auditor", "redirect_uri": "http://app.example/cb"});
    let client: Value = admin_call("/api/apis/oauth/audited", client).await.unwrap().json().await.unwrap();
    let secret = client["secret"].as_str().unwrap().to_owned();
    let token: Value =
        client_credentials_token(&http, &format!("http://{gw}/audited/oauth/token"), "auditor", &secret)
            .await
            .json()
            .await
            .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let proxied = http
        .get(format!("http://{gw}/audited/private-below?q=hidden-query"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    // A wrong secret, and a client past its rate limit: both logged at info, with who and where.
    let token_url = format!("http://{gw}/audited/oauth/token");
    let wrong = client_credentials_token(&http, &token_url, "auditor", "wrong").await.status();
    assert_eq!(wrong, 401);
    let policy = json!({"id": "one", "name": "one", "rate": 1, "per": 60, "access_rights": {"audited": {}}});
    assert_eq!(admin_call("/api/portal/policies", policy).await.unwrap().status(), 200);
    let limited =
        json!({"client_id": "limited", "policy_id": "one", "redirect_uri": "http://app.example/cb"});
    let limited: Value = admin_call("/api/apis/oauth/audited", limited).await.unwrap().json().await.unwrap();
    let limited_secret = limited["secret"].as_str().unwrap();
    let limited_token: Value =
        client_credentials_token(&http, &token_url, "limited", limited_secret).await.json().await.unwrap();
    let limited_token = limited_token["access_token"].as_str().expect("a token").to_owned();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = http.get(format!("http://{gw}/audited/x")).bearer_auth(&limited_token).send().await.unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 429]);
    assert!(dev.terminate(SYNC));

    let logs = dev.logs();
    for leak in [token.as_str(), secret.as_str(), "private-below", "hidden-query"] {
        assert!(!logs.contains(leak), "{leak} in the logs: {logs}");
    }
    let access: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["target"] == "gatehouse::access")
        .map(|entry| entry["fields"].clone())
        .collect();
    let token_line = access.iter().find(|f| f["route"] == "token").expect("the token request's line");
    assert_eq!((token_line["status"].as_i64(), token_line["api_id"].as_str()), (Some(200), Some("audited")));
    let proxy_line = access.iter().find(|f| f["route"] == "proxy").expect("the proxied request's line");
    assert_eq!(proxy_line["method"], "GET");
    assert_eq!(proxy_line["listen_path"], "/audited/");
    assert_eq!(proxy_line["client_id"], "auditor");
    assert_eq!(
        (proxy_line["status"].as_i64(), proxy_line["upstream_status"].as_i64()),
        (Some(200), Some(200))
    );
    assert_eq!(proxy_line["address"], "127.0.0.1");
    assert!(proxy_line["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{proxy_line}");

    let messages: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|entry| entry["fields"].clone())
        .collect();
    let refused = messages
        .iter()
        .find(|f| f["message"] == "client authentication refused")
        .expect("the wrong secret is logged");
    assert_eq!(refused["client_id"], "auditor");
    assert_eq!(refused["address"], "127.0.0.1");
    let throttled = messages.iter().find(|f| f["message"] == "request throttled").expect("the 429 is logged");
    assert_eq!((throttled["client_id"].as_str(), throttled["status"].as_i64()), (Some("limited"), Some(429)));
    assert_eq!(throttled["address"], "127.0.0.1");
}

/// Without `--access-log` no line is written per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_there_is_no_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let (gw_port, admin_port) = (free_port(), free_port());
    let (gw, admin) = (format!("127.0.0.1:{gw_port}"), format!("127.0.0.1:{admin_port}"));
    let args = ["dev", "--listen", &gw, "--admin-listen", &admin, "--admin-secret", ADMIN_SECRET];
    let mut dev = ChildProcess::spawn("dev", &binary(), &strings(&args), &[], dir.path());
    wait_for_port(gw_port, SYNC);
    for _ in 0..3 {
        let _ = reqwest::get(format!("http://{gw}/nothing-here")).await.unwrap();
    }
    assert!(dev.terminate(SYNC));
    assert!(!dev.logs().contains("gatehouse::access"), "{}", dev.logs());
}
