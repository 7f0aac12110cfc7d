//! Two control-plane replicas on one Redis, a gateway on each: a change made through either
//! replica reaches every gateway; the fleet view, reflection and health answer on each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse::pb;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use serde_json::{Value, json};
use tokio_stream::StreamExt as _;

const SYNC: Duration = Duration::from_secs(10);

fn with_secret<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", ADMIN_SECRET.parse().expect("metadata"));
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_reaches_gateways_of_both() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let upstream_a = EchoUpstream::start("A").await;
    let upstream_b = EchoUpstream::start("B").await;
    let replica_a = ControlPlaneProcess::start_replica("replica-a", dir.path(), &redis.url());
    let replica_b = ControlPlaneProcess::start_replica("replica-b", dir.path(), &redis.url());
    let gw_a = GatewayProcess::start("gw-on-a", &replica_a.url(), &redis.url(), dir.path());
    let gw_b = GatewayProcess::start("gw-on-b", &replica_b.url(), &redis.url(), dir.path());
    let http = reqwest::Client::new();

    // Created through replica A (REST)…
    let api = json!({"api_id": "shared", "listen_path": "/shared/", "strip_listen_path": true,
                     "upstream_url": upstream_a.url()});
    let r = http
        .post(format!("{}/api/apis", replica_a.url()))
        .header("authorization", ADMIN_SECRET)
        .json(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // …served by both gateways, including the one following replica B.
    for gw in [&gw_a, &gw_b] {
        let url = gw.url("/shared/x");
        eventually("the API created on replica A reaches the gateway", SYNC, || async {
            let body: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (body["upstream"] == "A").then_some(())
        })
        .await;
    }
    // Replica B reads it too, and changes it (gRPC)…
    let mut apis_b = pb::api_service_client::ApiServiceClient::connect(replica_b.url()).await.unwrap();
    let mut shared = eventually("replica B sees the API", SYNC, || {
        let mut client = apis_b.clone();
        async move { client.get_api(with_secret(pb::GetApiRequest { api_id: "shared".into() })).await.ok() }
    })
    .await
    .into_inner();
    shared.upstream_url = upstream_b.url();
    apis_b
        .update_api(with_secret(pb::UpdateApiRequest { api_id: "shared".into(), api: Some(shared) }))
        .await
        .expect("update through replica B");
    // …and the gateway on replica A follows.
    for gw in [&gw_a, &gw_b] {
        let url = gw.url("/shared/x");
        eventually("the change made on replica B reaches the gateway", SYNC, || async {
            let body: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            (body["upstream"] == "B").then_some(())
        })
        .await;
    }
    // Conflicting writes through both replicas: each commit lands once, in one order.
    let creates = (0..10).map(|i| {
        let cp = if i % 2 == 0 { &replica_a } else { &replica_b };
        let body = json!({"api_id": format!("api-{i}"), "listen_path": format!("/api-{i}/"),
                          "upstream_url": upstream_a.url()});
        http.post(format!("{}/api/apis", cp.url())).header("authorization", ADMIN_SECRET).json(&body).send()
    });
    for r in futures_util::future::join_all(creates).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    for cp in [&replica_a, &replica_b] {
        let url = format!("{}/api/apis", cp.url());
        eventually("both replicas list all 11 APIs", SYNC, || async {
            let list: Value =
                http.get(&url).header("authorization", ADMIN_SECRET).send().await.ok()?.json().await.ok()?;
            (list["apis"].as_array()?.len() == 11).then_some(())
        })
        .await;
    }

    // The fleet view: each replica lists the gateway following it.
    for (cp, node) in [(&replica_a, "gw-on-a"), (&replica_b, "gw-on-b")] {
        let fleet: Value = http
            .get(format!("{}/api/gateways", cp.url()))
            .header("authorization", ADMIN_SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let gateways = fleet["gateways"].as_array().expect("gateways");
        assert!(gateways.iter().any(|g| g["node_id"] == node && g["revision"].as_str().is_some()), "{fleet}");
    }

    // Generic gRPC tooling: reflection lists every service; the health service answers.
    let channel = |url: String| async move {
        tonic::transport::Channel::from_shared(url).expect("url").connect().await.expect("connect")
    };
    let mut reflection = tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
        channel(replica_a.url()).await,
    );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = reflection
        .server_reflection_info(with_secret(tokio_stream::iter(vec![request])))
        .await
        .unwrap()
        .into_inner();
    let answer = responses.next().await.expect("a reflection answer").unwrap();
    let Some(tonic_reflection::pb::v1::server_reflection_response::MessageResponse::ListServicesResponse(
        list,
    )) = answer.message_response
    else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in
        ["ApiService", "ClientService", "PolicyService", "UserService", "TokenService", "GatewayService"]
    {
        assert!(names.contains(&format!("gatehouse.v1.{service}")), "{names:?}");
    }
    // The standard health service is described too, so `grpcurl describe` works on it.
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(replica_b.url()).await);
    let status = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(status.into_inner().status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    assert_eq!(http.get(format!("{}/readyz", replica_b.url())).send().await.unwrap().status(), 200);
    assert_eq!(http.get(gw_b.url("/readyz")).send().await.unwrap().status(), 200);
}
