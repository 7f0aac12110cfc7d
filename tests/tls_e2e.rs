//! TLS on the listeners, end to end with real processes: the token endpoint and a proxied call
//! over HTTPS with HTTP/1.1 and h2, HSTS, a plain listener that refuses credentials, a
//! certificate rotated on disk (Kubernetes-style symlink swap) served to new connections while
//! an open one keeps working, SNI, and mutual TLS between gateways and the control plane.
//! Certificates are made in the test (rcgen). Upstream TLS and trusted proxies:
//! `tls_upstream_e2e.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::tls::{https_client, keyless_api, loopback_cert, oauth_api};
use common::*;
use gatehouse_testkit::{EchoUpstream, Leaf, RedisServer, TestCa, free_port};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;

const SYNC: Duration = Duration::from_secs(15);

/// A control plane serving HTTPS with `ca`'s certificate, plus `extra` flags.
fn tls_control_plane(name: &str, dir: &Path, ca: &TestCa, extra: &[&str]) -> ControlPlaneProcess {
    let (cert, key) = loopback_cert(ca, dir, name);
    let mut args = vec!["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    args.extend_from_slice(extra);
    ControlPlaneProcess::start_with_args(name, &dir.join(name), dir, &args)
}

fn https_url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

async fn token(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.post(url)
        .basic_auth("tls-client", Some("tls-client-secret-0123456789"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request")
}

#[tokio::test(flavor = "multi_thread")]
async fn token_and_proxied_calls_over_https_with_http1_and_h2() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream = EchoUpstream::start("echo").await;
    let ca = TestCa::new("test CA");
    // The control plane over TLS too: its REST API and the gateway's config stream.
    let cp = tls_control_plane("cp", dir.path(), &ca, &[]);
    let ca_file = ca.write(dir.path(), "ca");
    let (cert, key) = loopback_cert(&ca, dir.path(), "gw");
    let plain_port = free_port();
    let plain = format!("127.0.0.1:{plain_port}");
    let gw = GatewayProcess::start_with(
        "gw",
        &https_url(cp.port, ""),
        &redis.url(),
        dir.path(),
        "info",
        &[
            "--control-plane-ca",
            ca_file.to_str().unwrap(),
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--plain-listen",
            &plain,
            "--hsts",
            "max-age=600; includeSubDomains",
        ],
    );

    let http1 = https_client(&ca, None, true);
    let h2 = https_client(&ca, None, false);
    let admin = https_url(cp.port, "");
    oauth_api(&http1, &admin, "secure", &upstream.url(), "tls-client", "tls-client-secret-0123456789").await;

    let token_url = https_url(gw.port, "/secure/oauth/token");
    for (http, version) in [(&http1, reqwest::Version::HTTP_11), (&h2, reqwest::Version::HTTP_2)] {
        let access_token = eventually("a token over HTTPS", SYNC, || async {
            let response = token(http, &token_url).await;
            let version_seen = response.version();
            let hsts = response.headers().get("strict-transport-security").cloned();
            let body: Value = response.json().await.ok()?;
            let access_token = body["access_token"].as_str()?.to_owned();
            assert_eq!(version_seen, version);
            assert_eq!(hsts.unwrap(), "max-age=600; includeSubDomains");
            Some(access_token)
        })
        .await;
        let response =
            http.get(https_url(gw.port, "/secure/hello")).bearer_auth(&access_token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), version);
        assert!(response.headers().contains_key("strict-transport-security"));
        let echoed: Value = response.json().await.unwrap();
        assert_eq!(echoed["path"], "/hello");
        assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
        assert!(echoed["headers"].get("authorization").is_some());
    }

    // RFC 8414 metadata names https endpoints when asked over TLS.
    let metadata: Value = http1
        .get(https_url(gw.port, "/.well-known/oauth-authorization-server/secure"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["token_endpoint"], format!("https://127.0.0.1:{}/secure/oauth/token", gw.port));

    // The plain listener: probes answer, credentials are refused (never redirected), no HSTS.
    let plain_http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let probe = plain_http.get(format!("http://{plain}/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), 200);
    let refused = token(&plain_http, &format!("http://{plain}/secure/oauth/token")).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    assert!(refused.headers().get("strict-transport-security").is_none());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body.get("access_token").is_none());
    let refused =
        plain_http.get(format!("http://{plain}/secure/hello")).bearer_auth("anything").send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(gw.process.logs().contains("credential endpoint reached over plain HTTP"));
    // A keyless API still works over the plain listener.
    keyless_api(&http1, &admin, "open", &upstream.url(), serde_json::json!({})).await;
    eventually("keyless over plain HTTP", SYNC, || async {
        let r = plain_http.get(format!("http://{plain}/open/x")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // HTTP spoken to the TLS port is not served.
    assert!(plain_http.get(format!("http://127.0.0.1:{}/healthz", gw.port)).send().await.is_err());
}

/// A TLS client that trusts `ca`, offering `protocols` (defaults: TLS 1.2 and 1.3).
fn tls_connector(ca: &TestCa, tls12_only: bool) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca.der())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(
    connector: &tokio_rustls::TlsConnector,
    port: u16,
    name: &str,
) -> std::io::Result<TlsStream> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    connector.connect(ServerName::try_from(name.to_owned()).unwrap(), tcp).await
}

/// The leaf certificate a TLS connection got.
fn served(stream: &TlsStream) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// Points `dir/tls.crt` and `dir/tls.key` at a new `..<version>` directory through `..data`,
/// swapped with one rename, as the kubelet updates a Secret volume.
fn kube_secret_swap(dir: &Path, version: &str, leaf: &Leaf) {
    let data = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&data).unwrap();
    leaf.write(&data, "tls");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_certificate_reaches_new_connections_while_open_ones_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let cp = ControlPlaneProcess::start(&dir.path().join("cp"), dir.path());
    let ca = TestCa::new("rotation CA");
    let secret_dir = dir.path().join("secret");
    std::fs::create_dir_all(&secret_dir).unwrap();
    let (first, second) = (ca.issue(&["localhost", "127.0.0.1"]), ca.issue(&["localhost", "127.0.0.1"]));
    kube_secret_swap(&secret_dir, "v1", &first);
    let sni = ca.issue(&["api.example.test"]);
    let (sni_cert, sni_key) = sni.write(dir.path(), "sni");
    let sni_spec = format!("api.example.test={},{}", sni_cert.display(), sni_key.display());
    let gw = GatewayProcess::start_with(
        "gw",
        &cp.url(),
        &redis.url(),
        dir.path(),
        "info",
        &[
            "--tls-cert",
            secret_dir.join("tls.crt").to_str().unwrap(),
            "--tls-key",
            secret_dir.join("tls.key").to_str().unwrap(),
            "--tls-sni-cert",
            &sni_spec,
        ],
    );
    let connector = tls_connector(&ca, false);

    // SNI picks the certificate by name; other names and none get the default.
    let by_name = connect(&connector, gw.port, "api.example.test").await.unwrap();
    assert_eq!(served(&by_name), sni.der());
    assert_eq!(served(&connect(&connector, gw.port, "localhost").await.unwrap()), first.der());
    // TLS 1.2 is still offered (older clients); 1.0 and 1.1 are not built into rustls at all.
    let tls12 = connect(&tls_connector(&ca, true), gw.port, "localhost").await.unwrap();
    assert_eq!(tls12.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));

    // An HTTP/1.1 connection opened before the rotation.
    let open = connect(&connector, gw.port, "localhost").await.unwrap();
    assert_eq!(served(&open), first.der());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(open)).await.unwrap();
    tokio::spawn(connection);
    let probe = || {
        http::Request::get("/healthz")
            .header("host", "localhost")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    assert_eq!(sender.send_request(probe()).await.unwrap().status(), 200);

    kube_secret_swap(&secret_dir, "v2", &second);
    eventually("the new certificate is served", Duration::from_secs(10), || async {
        let fresh = connect(&connector, gw.port, "localhost").await.ok()?;
        (served(&fresh) == second.der()).then_some(())
    })
    .await;
    assert!(gw.process.logs().contains("TLS certificates reloaded"));

    // The connection from before the rotation is still served, on its original session.
    let response = sender.send_request(probe()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");

    // A broken update (a key that does not match) is refused; the last good pair stays.
    std::fs::write(secret_dir.join("..v2/tls.key"), ca.issue(&["localhost"]).key_pem).unwrap();
    eventually("the broken pair is reported", Duration::from_secs(10), || async {
        gw.process.logs().contains("do not load; still serving the previous ones").then_some(())
    })
    .await;
    assert_eq!(served(&connect(&connector, gw.port, "localhost").await.unwrap()), second.der());
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_control_plane_admits_only_gateways_with_a_certificate_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let server_ca = TestCa::new("server CA");
    let client_ca = TestCa::new("gatehouse nodes CA");
    let rogue_ca = TestCa::new("someone else's CA");
    let client_ca_file = client_ca.write(dir.path(), "client-ca");
    let server_ca_file = server_ca.write(dir.path(), "server-ca");
    let probe = format!("127.0.0.1:{}", free_port());
    let cp = tls_control_plane(
        "cp",
        dir.path(),
        &server_ca,
        &["--tls-client-ca", client_ca_file.to_str().unwrap(), "--probe-listen", &probe],
    );
    let cp_url = https_url(cp.port, "");

    // A gateway whose certificate another CA signed: refused at the handshake.
    let (rogue_cert, rogue_key) = rogue_ca.issue(&["gw-rogue.nodes.test"]).write(dir.path(), "rogue");
    let rogue = GatewayProcess::start_with(
        "gw-rogue",
        &cp_url,
        &redis.url(),
        dir.path(),
        "info",
        &[
            "--control-plane-ca",
            server_ca_file.to_str().unwrap(),
            "--control-plane-cert",
            rogue_cert.to_str().unwrap(),
            "--control-plane-key",
            rogue_key.to_str().unwrap(),
        ],
    );
    // One with a certificate from the nodes' CA: admitted on it, and named by it.
    let (cert, key) = client_ca.issue(&["gw-1.nodes.test"]).write(dir.path(), "gw-1");
    let good = GatewayProcess::start_with(
        "gw-good",
        &cp_url,
        &redis.url(),
        dir.path(),
        "info",
        &[
            "--control-plane-ca",
            server_ca_file.to_str().unwrap(),
            "--control-plane-cert",
            cert.to_str().unwrap(),
            "--control-plane-key",
            key.to_str().unwrap(),
        ],
    );

    let plain = reqwest::Client::new();
    eventually("the certified gateway syncs", SYNC, || async {
        let r = plain.get(good.url("/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    assert_eq!(plain.get(rogue.url("/readyz")).send().await.unwrap().status(), 503);
    eventually("the rogue gateway was refused", SYNC, || async {
        rogue.process.logs().contains("config stream failed").then_some(())
    })
    .await;
    assert!(cp.process.as_ref().unwrap().logs().contains("TLS handshake refused"));

    // Admin callers need a certificate from the nodes' CA too, and the admin secret on top.
    let admin_cert = client_ca.issue(&["admin.nodes.test"]);
    let admin = https_client(&server_ca, Some(&admin_cert), false);
    let fleet: Value = admin
        .get(format!("{cp_url}/api/gateways"))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nodes = fleet["gateways"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{fleet}");
    // Named by its certificate, not by its --node-id.
    assert_eq!(nodes[0]["node_id"], "gw-1.nodes.test");
    assert_eq!(nodes[0]["authenticated_by"], "client-certificate");
    let no_secret = admin.get(format!("{cp_url}/api/gateways")).send().await.unwrap();
    assert_eq!(no_secret.status(), 401);
    let no_certificate = https_client(&server_ca, None, false);
    assert!(no_certificate.get(format!("{cp_url}/api/gateways")).send().await.is_err());

    // Probes have their own plain port, which serves nothing else.
    assert_eq!(plain.get(format!("http://{probe}/readyz")).send().await.unwrap().status(), 200);
    let admin_on_probe_port =
        plain.get(format!("http://{probe}/api/gateways")).header("authorization", ADMIN_SECRET);
    assert_eq!(admin_on_probe_port.send().await.unwrap().status(), 404);
}
