//! The walking skeleton end to end: a control plane streams config to two gateway processes
//! that issue client_credentials tokens into one real Redis and proxy with them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;

const SYNC: Duration = Duration::from_secs(10);

fn admin_request<T>(message: T, secret: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = secret.parse().expect("secret as metadata");
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_streams_config_to_two_gateways_sharing_redis() {
    let dirs = tempfile::tempdir().expect("tempdir");
    let data_dir = dirs.path().join("data");
    let redis = RedisServer::start();
    let upstream_a = EchoUpstream::start("A").await;
    let upstream_b = EchoUpstream::start("B").await;
    let mut cp = ControlPlaneProcess::start(&data_dir, dirs.path());
    let gw1 = GatewayProcess::start("gateway-1", &cp.url(), &redis.url(), dirs.path());
    let gw2 = GatewayProcess::start("gateway-2", &cp.url(), &redis.url(), dirs.path());
    let http = reqwest::Client::new();

    // An API over REST, in the shape the README shows, with a trailing slash on the path.
    let api = json!({
        "api_id": "my-api", "name": "My API", "listen_path": "/my-api/", "strip_listen_path": true,
        "upstream_url": upstream_a.url(),
        "oauth": {"allowed_grant_types": ["client_credentials"]}
    });
    let response = http
        .post(format!("{}/api/apis/", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    // A client over REST (Tyk Dashboard path and shape)…
    let rest_client: Value = http
        .post(format!("{}/api/apis/oauth/my-api", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&json!({"redirect_uri": "https://app.example/cb", "meta_data": {"team": "payments"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rest_id = rest_client["client_id"].as_str().expect("client_id").to_owned();
    let rest_secret = rest_client["secret"].as_str().expect("secret shown once").to_owned();
    assert_eq!(rest_secret.len(), 43, "a generated secret carries 256 bits");

    // …and another over gRPC on the same port.
    let mut grpc = pb::client_service_client::ClientServiceClient::connect(cp.url()).await.unwrap();
    let grpc_client = grpc
        .create_client(admin_request(
            pb::CreateClientRequest {
                api_id: "my-api".into(),
                client_id: "grpc-client".into(),
                ..Default::default()
            },
            ADMIN_SECRET,
        ))
        .await
        .expect("gRPC create_client")
        .into_inner();
    let grpc_secret = grpc_client.secret.clone().expect("secret shown once");

    // The stored secret is never shown again.
    let fetched: Value = http
        .get(format!("{}/api/apis/oauth/my-api/{rest_id}", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(fetched.get("secret").is_none(), "{fetched}");

    // A token from gateway 1, used through gateway 2: token state is shared through Redis.
    let token_url = gw1.url("/my-api/oauth/token/");
    let token: Value = eventually("gateway 1 issues tokens for my-api", SYNC, || async {
        let r = client_credentials_token(&http, &token_url, &rest_id, &rest_secret).await;
        (r.status() == 200).then_some(r)
    })
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(token.get("refresh_token").is_none(), "client_credentials never yields a refresh token");
    let access_token = token["access_token"].as_str().unwrap().to_owned();

    let proxied: Value = eventually("gateway 2 proxies with gateway 1's token", SYNC, || async {
        let r = http.get(gw2.url("/my-api/items?x=1")).bearer_auth(&access_token).send().await.ok()?;
        (r.status() == 200).then_some(r)
    })
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(proxied["upstream"], "A");
    assert_eq!(proxied["path"], "/items?x=1", "listen path stripped, query kept");
    assert!(proxied["headers"]["x-forwarded-for"].as_str().is_some_and(|v| v.contains("127.0.0.1")));

    // The gRPC-created client works too, through gateway 2.
    let url = gw2.url("/my-api/oauth/token");
    eventually("gateway 2 has the gRPC-created client", SYNC, || async {
        let r = client_credentials_token(&http, &url, "grpc-client", &grpc_secret).await;
        (r.status() == 200).then_some(())
    })
    .await;

    // HTTP/2 from clients (h2c, prior knowledge) is served too.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", gw2.port)).await.unwrap();
    let (mut h2, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://127.0.0.1:{}/my-api/h2", gw2.port))
        .header("authorization", format!("Bearer {access_token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = h2.send_request(request).await.expect("h2 request");
    assert_eq!((response.status(), response.version()), (http::StatusCode::OK, http::Version::HTTP_2));

    // Refusals.
    let r = http.get(gw1.url("/my-api/items")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let r = http.get(gw1.url("/my-api/items")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Key not authorised");
    let r = client_credentials_token(&http, &token_url, &rest_id, "wrong-secret").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    assert_eq!(http.get(gw1.url("/nothing-here/")).send().await.unwrap().status(), 404);

    // Admin calls need the admin secret; the node secret is not enough.
    let r = http.get(format!("{}/api/apis", cp.url())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r =
        http.get(format!("{}/api/apis", cp.url())).header("authorization", NODE_SECRET).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let denied = grpc
        .list_clients(admin_request(pb::ListClientsRequest { api_id: "my-api".into(), p: 0 }, NODE_SECRET))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);

    // Changing the upstream over REST: both gateways follow.
    let mut moved = api.clone();
    moved["upstream_url"] = json!(upstream_b.url());
    let r = http
        .put(format!("{}/api/apis/my-api", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&moved)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for gw in [&gw1, &gw2] {
        let url = gw.url("/my-api/x");
        eventually("gateway follows the upstream change", SYNC, || async {
            (upstream_of(&http, &url, &access_token).await.as_deref() == Some("B")).then_some(())
        })
        .await;
    }

    // Control plane down: both gateways keep serving their last config, tokens keep working.
    cp.kill();
    for gw in [&gw1, &gw2] {
        assert_eq!(upstream_of(&http, &gw.url("/my-api/x"), &access_token).await.as_deref(), Some("B"));
        let r = client_credentials_token(&http, &gw.url("/my-api/oauth/token"), &rest_id, &rest_secret).await;
        assert_eq!(r.status(), 200, "gateways issue tokens without the control plane");
    }

    // Back up on the same data dir: state survived, and a new change reaches both gateways.
    cp.restart();
    let mut api_client = pb::api_service_client::ApiServiceClient::connect(cp.url()).await.unwrap();
    let kept = api_client
        .get_api(admin_request(pb::GetApiRequest { api_id: "my-api".into() }, ADMIN_SECRET))
        .await
        .expect("API survived the restart")
        .into_inner();
    assert_eq!(kept.upstream_url, upstream_b.url());
    let mut back = kept.clone();
    back.upstream_url = upstream_a.url();
    api_client
        .update_api(admin_request(
            pb::UpdateApiRequest { api_id: "my-api".into(), api: Some(back) },
            ADMIN_SECRET,
        ))
        .await
        .expect("gRPC update_api");
    for gw in [&gw1, &gw2] {
        let url = gw.url("/my-api/x");
        eventually("gateway resumes and follows the change made after the restart", SYNC, || async {
            (upstream_of(&http, &url, &access_token).await.as_deref() == Some("A")).then_some(())
        })
        .await;
    }

    // Deleting the client kills its tokens on every gateway.
    let r = http
        .delete(format!("{}/api/apis/oauth/my-api/{rest_id}/", cp.url()))
        .header("authorization", ADMIN_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["Status"], "OK");
    for gw in [&gw1, &gw2] {
        let url = gw.url("/my-api/x");
        eventually("a deleted client's token is refused", SYNC, || async {
            let r = http.get(&url).bearer_auth(&access_token).send().await.ok()?;
            (r.status() == 401).then_some(())
        })
        .await;
    }

    // No secret or token in any log line.
    for logs in [gw1.process.logs(), gw2.process.logs()] {
        for secret in [&rest_secret, &grpc_secret, &access_token] {
            assert!(!logs.contains(secret.as_str()), "a secret leaked into the logs");
        }
    }
}
