//! Path tricks against a real nginx upstream, which normalises what it receives (dot segments,
//! `%XX`, merged slashes). Two APIs share the backend: keyless on `/pub/` and OAuth on
//! `/internal/`; a third, keyless on `/based/`, forwards under the upstream base path `/base/`.
//! nginx answers with the location and the path it served, so each request shows where it
//! landed. Every variant must be refused (400) or land inside the API it was routed to: never
//! on `/internal/` without a token, never outside `/base/` through `/based/`.
//!
//! Requests go over raw TCP: HTTP clients would normalise these paths themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::NginxServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Each location answers `<location> <path nginx served>`.
const LOCATIONS: &str = r#"
    default_type text/plain;
    location /pub/ { return 200 "pub $uri"; }
    location /internal/ { return 200 "internal $uri"; }
    location /base/ { return 200 "base $uri"; }
    location / { return 200 "root $uri"; }
"#;

/// Where a request ended.
#[derive(Debug, PartialEq)]
enum Landed {
    /// 400 from the gateway (or from hyper for what it cannot parse).
    Refused,
    /// 401 from the gateway: the protected API wanted a token.
    Unauthorized,
    /// 403 from the gateway: the token's policy does not allow the path.
    Forbidden,
    /// 404 from the gateway: no API listens there.
    NotFound,
    /// nginx answered: `<location> <path>`.
    Served(String),
    /// Anything else (an error from nginx, say), as received.
    Other(String),
}

/// Sends `GET <target>` as written and reads where it landed.
async fn get_raw(gateway: &str, target: &str, token: Option<&str>) -> Landed {
    let addr = gateway.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect to the gateway");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {target} HTTP/1.1\r\nHost: gw.test\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the gateway answers within 10 s")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    match status {
        "200" => Landed::Served(body.to_owned()),
        // The gateway's refusals are its JSON errors; hyper's own 400 has no body.
        "400" if body.is_empty() || body.starts_with("{\"error\":") => Landed::Refused,
        "401" => Landed::Unauthorized,
        "403" => Landed::Forbidden,
        "404" if body.starts_with("{\"error\":") => Landed::NotFound,
        _ => Landed::Other(answer.into_owned()),
    }
}

/// Creates the three APIs on `admin` and returns a token for the protected one.
async fn configure(http: &reqwest::Client, dev: &DevProcess, nginx: &NginxServer) -> String {
    let apis = [
        json!({"api_id": "pub", "listen_path": "/pub/", "strip_listen_path": false,
               "upstream_url": nginx.url()}),
        json!({"api_id": "internal", "listen_path": "/internal/", "strip_listen_path": false,
               "upstream_url": nginx.url(), "oauth": {"allowed_grant_types": ["client_credentials"]}}),
        json!({"api_id": "based", "listen_path": "/based/", "strip_listen_path": true,
               "upstream_url": format!("{}/base/", nginx.url())}),
    ];
    for api in apis {
        admin(http, &dev.admin, "POST", "/api/apis", api).await;
    }
    // The policy allows two paths only, so a dot segment past its URL rules would show.
    let allowed = json!([{"url": "^/x$", "methods": ["GET"]}, {"url": "^/public", "methods": ["GET"]}]);
    let rights = json!({"internal": {"api_id": "internal", "versions": [], "allowed_urls": allowed}});
    let policy = json!({"id": "p", "name": "p", "active": true, "access_rights": rights});
    admin(http, &dev.admin, "POST", "/api/portal/policies", policy).await;
    let client = admin(
        http,
        &dev.admin,
        "POST",
        "/api/apis/oauth/internal",
        json!({"client_id": "app", "policy_id": "p"}),
    )
    .await;
    let secret = client["secret"].as_str().expect("client secret").to_owned();
    let token_url = format!("{}/internal/oauth/token", dev.gateway);
    access_token(http, &token_url, "app", &secret).await
}

fn served(s: &str) -> Landed {
    Landed::Served(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_reaches_a_protected_api_or_leaves_the_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = NginxServer::start(LOCATIONS);
    let dev = DevProcess::start_with_secret(dir.path(), ADMIN_SECRET);
    let http = reqwest::Client::new();
    let token = configure(&http, &dev, &nginx).await;
    let gw = dev.gateway.as_str();

    // Controls: each API serves its own paths; the protected one only with a token.
    assert_eq!(get_raw(gw, "/pub/x", None).await, served("pub /pub/x"));
    assert_eq!(get_raw(gw, "/internal/x", None).await, Landed::Unauthorized);
    assert_eq!(get_raw(gw, "/internal/x", Some(&token)).await, served("internal /internal/x"));
    assert_eq!(get_raw(gw, "/based/x?q=1", None).await, served("base /base/x"));

    let cases: &[(&str, Landed)] = &[
        // Dot segments, plain and encoded: normalised to /internal/x, which is routed to the
        // protected API and wants a token.
        ("/pub/../internal/x", Landed::Unauthorized),
        ("/pub/%2e%2e/internal/x", Landed::Unauthorized),
        ("/pub/%2E%2E/internal/x", Landed::Unauthorized),
        ("/pub/.%2e/internal/x", Landed::Unauthorized),
        ("/pub/%2e./internal/x", Landed::Unauthorized),
        ("//pub/../internal/x", Landed::Unauthorized),
        ("/pub//../internal/x", Landed::Unauthorized),
        ("/pub/./../internal/x", Landed::Unauthorized),
        ("/pub/a/%2e%2e/../internal/x", Landed::Unauthorized),
        // Encoded slashes and backslashes: refused.
        ("/pub/..%2finternal/x", Landed::Refused),
        ("/pub/..%2Finternal/x", Landed::Refused),
        ("/pub/%2e%2e%2finternal/x", Landed::Refused),
        ("/pub/..\\internal/x", Landed::Refused),
        ("/pub/..%5cinternal/x", Landed::Refused),
        ("/pub/..%5Cinternal/x", Landed::Refused),
        // Servlet-style path parameters on a dot segment.
        ("/pub/..;/internal/x", Landed::Refused),
        // Above the root.
        ("/pub/../../internal/x", Landed::Refused),
        ("/../internal/x", Landed::Refused),
        ("/pub/%2e%2e/%2e%2e/internal/x", Landed::Refused),
        ("/based/../../internal/x", Landed::Refused),
        // Dot segments that stay inside the API are served there, normalised.
        ("/pub/a/./b/../c", served("pub /pub/a/c")),
        ("/pub/%2e/x", served("pub /pub/x")),
        ("/pub//x", served("pub /pub/x")),
        // The base path: climbing out of /based/ leaves its API, never /base/.
        ("/based/../internal/x", Landed::Unauthorized),
        ("/based/%2e%2e/internal/x", Landed::Unauthorized),
        ("/based/%2e%2e/x", Landed::NotFound),
        ("/based/a/../x", served("base /base/x")),
    ];
    let mut wrong = Vec::new();
    for (target, expected) in cases {
        let landed = get_raw(gw, target, None).await;
        if landed != *expected {
            wrong.push(format!("{target}: expected {expected:?}, got {landed:?}"));
        }
    }
    assert!(wrong.is_empty(), "paths that landed elsewhere:\n{}", wrong.join("\n"));

    // With a token, a dot segment reaches the protected API through its own route.
    assert_eq!(get_raw(gw, "/pub/../internal/x", Some(&token)).await, served("internal /internal/x"));
    // The policy's URL rules see the canonical path too: `/public/..` is not a way past them.
    assert_eq!(get_raw(gw, "/internal/public/a", Some(&token)).await, served("internal /internal/public/a"));
    for target in ["/internal/public/../private", "/internal/public/%2e%2e/private"] {
        assert_eq!(get_raw(gw, target, Some(&token)).await, Landed::Forbidden, "{target}");
    }
}

/// `--path-escaped-slashes keep`: encoded slashes reach the upstream as written (nginx decodes
/// them), but never to hide a dot segment nor to cross into another API's listen path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_escaped_slashes_stay_inside_their_api() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = NginxServer::start(LOCATIONS);
    let dev = DevProcess::start_with_args(dir.path(), ADMIN_SECRET, &["--path-escaped-slashes", "keep"]);
    let http = reqwest::Client::new();
    configure(&http, &dev, &nginx).await;
    // A keyless API on `/` as well: `/internal%2Fx` must not slip through it.
    let root = json!({"api_id": "root", "listen_path": "/", "strip_listen_path": false, "upstream_url": nginx.url()});
    admin(&http, &dev.admin, "POST", "/api/apis", root).await;
    let gw = dev.gateway.as_str();
    eventually("the root API is served", Duration::from_secs(10), || async {
        (get_raw(gw, "/elsewhere", None).await == served("root /elsewhere")).then_some(())
    })
    .await;

    let cases: &[(&str, Landed)] = &[
        ("/pub/a%2Fb", served("pub /pub/a/b")),
        ("/pub/..%2finternal/x", Landed::Refused),
        ("/pub/%2e%2e%2finternal/x", Landed::Refused),
        ("/pub/..%5cinternal/x", Landed::Refused),
        ("/internal%2Fx", Landed::Refused),
        ("/pub/..\\internal/x", Landed::Refused),
        ("/pub/../internal/x", Landed::Unauthorized),
    ];
    let mut wrong = Vec::new();
    for (target, expected) in cases {
        let landed = get_raw(gw, target, None).await;
        if landed != *expected {
            wrong.push(format!("{target}: expected {expected:?}, got {landed:?}"));
        }
    }
    assert!(wrong.is_empty(), "paths that landed elsewhere:\n{}", wrong.join("\n"));
}
