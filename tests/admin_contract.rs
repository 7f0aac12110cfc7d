//! Every admin RPC, driven from the route table generated out of the .proto annotations, so a
//! new RPC is covered the day it is added: over REST each refuses an unauthenticated caller,
//! refuses a malformed body, and answers an unknown id with 404; over gRPC each service refuses
//! an unauthenticated caller and the node secret. The Tyk Gateway API's paths answer in its
//! envelope: 403 for a refused admin secret, `{"status":"error","message":…}`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use common::*;
use gatehouse::pb;
use gatehouse::rest::{BodySpec, ROUTES};
use tonic::Code;

/// The route's path with every variable set to an id that exists nowhere.
fn unknown_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { "no-such-id" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_route_authenticates_validates_and_reports_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    // Every route is tried with wrong secrets: counting them would lock this address out
    // (throttling has its own test, auth_throttle_e2e.rs).
    let dev = DevProcess::start_with_args(dir.path(), ADMIN_SECRET, &["--auth-failure-limit", "0"]);
    let admin = dev.admin.clone();
    let http = reqwest::Client::new();
    assert!(ROUTES.len() >= 25, "the route table covers the admin API ({} routes)", ROUTES.len());
    for route in ROUTES {
        let url = format!("{admin}{}", unknown_path(route.template));
        let method: reqwest::Method = route.verb.parse().unwrap();
        let name = format!("{} {} ({})", route.verb, route.template, route.rpc_name);
        let tyk = route.template.contains("/tyk/");
        let (refused, message) = if tyk { (403, "message") } else { (401, "Message") };

        let r = http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(r.status(), refused, "{name} without the admin secret");
        let r = http
            .request(method.clone(), &url)
            .header("authorization", "not-the-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), refused, "{name} with a wrong secret");
        let r = http.request(method.clone(), &url).header("authorization", NODE_SECRET).send().await.unwrap();
        assert_eq!(r.status(), refused, "{name} with a secret that is not the admin secret");
        let r = http
            .request(method.clone(), &url)
            .header("x-tyk-authorization", NODE_SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), refused, "{name} with the node secret in x-tyk-authorization");

        if !matches!(route.body, BodySpec::None) {
            let r = http
                .request(method.clone(), &url)
                .header("authorization", ADMIN_SECRET)
                .header("content-type", "application/json")
                .body("{\"unterminated\": ")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{name} with a malformed body");
            let body: serde_json::Value = r.json().await.unwrap();
            let error = if tyk { body["status"] == "error" } else { body["Status"] == "Error" };
            assert!(error, "{name}: {body}");
            assert!(body[message].as_str().unwrap().contains("line 1"), "{name}: {body}");
        }

        // Routes with ids: an unknown id is 404 (or 400 when the body is needed first and is
        // empty, or 401 for revoke_all, which answers unknown clients like wrong secrets).
        if route.template.contains('{') {
            let r = http
                .request(method.clone(), &url)
                .header("authorization", ADMIN_SECRET)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            assert!(matches!(status, 400 | 401 | 404), "{name} with unknown ids: {status} {body}");
            assert_ne!(status, 500, "{name}");
            assert!(body[message].as_str().is_some_and(|m| !m.is_empty()), "{name}: a precise message");
        }
    }
}

/// The status code of a call that must fail.
fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(_) => panic!("the call succeeded"),
        Err(status) => status.code(),
    }
}

fn request<T>(message: T, secret: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(secret) = secret {
        request.metadata_mut().insert("authorization", secret.parse().unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grpc_service_authenticates_and_reports_precise_statuses() {
    let dir = tempfile::tempdir().unwrap();
    // Every route is tried with wrong secrets: counting them would lock this address out
    // (throttling has its own test, auth_throttle_e2e.rs).
    let dev = DevProcess::start_with_args(dir.path(), ADMIN_SECRET, &["--auth-failure-limit", "0"]);
    let admin = dev.admin.clone();
    let channel = tonic::transport::Channel::from_shared(admin).unwrap().connect().await.unwrap();
    for secret in [None, Some(NODE_SECRET), Some("wrong")] {
        let mut apis = pb::api_service_client::ApiServiceClient::new(channel.clone());
        assert_eq!(
            code(apis.list_apis(request(pb::ListApisRequest::default(), secret)).await),
            Code::Unauthenticated
        );
        let mut clients = pb::client_service_client::ClientServiceClient::new(channel.clone());
        let list = pb::ListClientsRequest { api_id: "a".into(), p: 0 };
        assert_eq!(code(clients.list_clients(request(list, secret)).await), Code::Unauthenticated);
        let mut policies = pb::policy_service_client::PolicyServiceClient::new(channel.clone());
        let list = pb::ListPoliciesRequest::default();
        assert_eq!(code(policies.list_policies(request(list, secret)).await), Code::Unauthenticated);
        let mut users = pb::user_service_client::UserServiceClient::new(channel.clone());
        assert_eq!(
            code(users.list_users(request(pb::ListUsersRequest {}, secret)).await),
            Code::Unauthenticated
        );
        let mut tokens = pb::token_service_client::TokenServiceClient::new(channel.clone());
        let revoke =
            pb::RevokeTokenRequest { client_id: "c".into(), token: "t".into(), ..Default::default() };
        assert_eq!(code(tokens.revoke_token(request(revoke, secret)).await), Code::Unauthenticated);
        let mut gateways = pb::gateway_service_client::GatewayServiceClient::new(channel.clone());
        let list = pb::ListGatewaysRequest {};
        assert_eq!(code(gateways.list_gateways(request(list, secret)).await), Code::Unauthenticated);
    }
    // With the admin secret: precise statuses for unknown ids and missing fields.
    let admin = Some(ADMIN_SECRET);
    let mut policies = pb::policy_service_client::PolicyServiceClient::new(channel.clone());
    let e =
        policies.get_policy(request(pb::GetPolicyRequest { id: "nope".into() }, admin)).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::NotFound, "policy \"nope\" not found"));
    let e =
        policies.create_policy(request(pb::CreatePolicyRequest { policy: None }, admin)).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::InvalidArgument, "policy: is required"));
    let mut users = pb::user_service_client::UserServiceClient::new(channel.clone());
    let e =
        users.get_user(request(pb::GetUserRequest { username: "nobody".into() }, admin)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let weak = pb::CreateUserRequest { username: "u".into(), password: "short".into(), ..Default::default() };
    let e = users.create_user(request(weak, admin)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("password:"), "{}", e.message());
    let mut tokens = pb::token_service_client::TokenServiceClient::new(channel.clone());
    let authorize =
        pb::AuthorizeClientRequest { api_id: "nope".into(), client_id: "c".into(), ..Default::default() };
    let e = tokens.authorize_client(request(authorize, admin)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut clients = pb::client_service_client::ClientServiceClient::new(channel.clone());
    let rotate = pb::RotateClientSecretRequest { api_id: "nope".into(), client_id: "c".into() };
    assert_eq!(
        clients.rotate_client_secret(request(rotate, admin)).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut apis = pb::api_service_client::ApiServiceClient::new(channel);
    let e = apis.import_oas(request(pb::ImportOasRequest { document: None }, admin)).await.unwrap_err();
    assert_eq!((e.code(), e.message()), (Code::InvalidArgument, "document: is required"));
    let e =
        apis.export_oas(request(pb::ExportOasRequest { api_id: "nope".into() }, admin)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // A Tyk OAS update that would make a protected API keyless without saying so.
    let protected = pb::Api {
        api_id: "protected".into(),
        name: "Protected".into(),
        listen_path: "/protected/".into(),
        upstream_url: "http://127.0.0.1:9".into(),
        token_auth: true,
        ..Default::default()
    };
    apis.create_api(request(pb::CreateApiRequest { api: Some(protected) }, admin)).await.unwrap();
    let export = pb::ExportOasRequest { api_id: "protected".into() };
    let document = apis.export_oas(request(export, admin)).await.unwrap().into_inner().document;
    let mut lost = serde_json::to_value(document).unwrap();
    lost["x-tyk-api-gateway"]["server"].as_object_mut().unwrap().remove("authentication");
    lost.as_object_mut().unwrap().remove("x-gatehouse");
    let update = |allow_keyless| pb::UpdateOasRequest {
        api_id: "protected".into(),
        document: Some(serde_json::from_value(lost.clone()).unwrap()),
        allow_keyless,
    };
    let e = apis.update_oas(request(update(false), admin)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("\"protected\" requires a token (token_auth)"), "{}", e.message());
    let api = apis.update_oas(request(update(true), admin)).await.unwrap().into_inner();
    assert!(!api.token_auth && api.oauth.is_none());
}
