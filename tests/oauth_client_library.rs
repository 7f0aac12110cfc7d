//! A widely used OAuth 2.0 client library, the Rust `oauth2` crate, completes every grant
//! Gatehouse offers against real processes: a control plane on Redis, two gateways sharing that
//! Redis, and an echo upstream. The library builds the requests and parses the responses; the
//! test only plays the parts a library does not: the user agent following the redirect to the
//! login page, and the identity server asking the control plane for a code.
//!
//! Flows cross gateways on purpose: a flow started on one gateway finishes on the other.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, RedisServer};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicRequestTokenError, BasicTokenType};
use oauth2::url::Url;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, ResourceOwnerPassword,
    ResourceOwnerUsername, TokenResponse, TokenUrl, reqwest,
};
use serde_json::{Value, json};

const SYNC: Duration = Duration::from_secs(10);
const API_ID: &str = "orders";
const LISTEN_PATH: &str = "/orders/";
const LOGIN_PAGE: &str = "http://idp.example/login";
const REDIRECT_URI: &str = "http://app.example/callback";
const CONFIDENTIAL_ID: &str = "web-app";
const CONFIDENTIAL_SECRET: &str = "web-app-secret-chosen-by-an-admin";
const PUBLIC_ID: &str = "mobile-app";
const USERNAME: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

/// A client of the `oauth2` crate with an authorization endpoint and a token endpoint.
type CodeClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type TokenError = BasicRequestTokenError<HttpClientError<reqwest::Error>>;

/// The processes under test; everything stops when this is dropped.
struct Cluster {
    cp: ControlPlaneProcess,
    gw1: GatewayProcess,
    gw2: GatewayProcess,
    /// As the `oauth2` crate requires: redirects are never followed (an authorization server
    /// that redirected a token request could otherwise lead the client anywhere).
    http: reqwest::Client,
    upstream: EchoUpstream,
    _redis: RedisServer,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let redis = RedisServer::start();
        let upstream = EchoUpstream::start("orders-backend").await;
        let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
        let gw1 = GatewayProcess::start("gateway-1", &cp.url(), &redis.url(), dir.path());
        let gw2 = GatewayProcess::start("gateway-2", &cp.url(), &redis.url(), dir.path());
        let http = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Self { cp, gw1, gw2, http, upstream, _redis: redis, _dir: dir }
    }

    /// An admin REST call to the control plane that must succeed; returns its JSON body.
    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.cp.url()))
            .header("authorization", ADMIN_SECRET)
            .json(&body)
            .send()
            .await
            .expect("admin request");
        let status = response.status();
        let body: Value = response.json().await.expect("admin response is JSON");
        assert_eq!(status, 200, "POST {path}: {body}");
        body
    }

    /// The identity server's call once the user has logged in and approved: the control plane's
    /// `authorize-client` with the parameters the login page received. Returns status and body.
    async fn authorize_client(&self, login_params: &HashMap<String, String>) -> (u16, Value) {
        let forwarded: serde_json::Map<String, Value> = [
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
        ]
        .into_iter()
        .filter_map(|name| login_params.get(name).map(|v| (name.to_owned(), Value::from(v.as_str()))))
        .collect();
        let response = self
            .http
            .post(format!("{}/api/apis/oauth/{API_ID}/authorize-client", self.cp.url()))
            .header("authorization", ADMIN_SECRET)
            .json(&forwarded)
            .send()
            .await
            .expect("authorize-client request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A GET of the API through `gw` with `token`: the status and, on success, the upstream's echo.
    /// Waits until `gw` refuses `token`, revoked on the other gateway: the one that revokes
    /// refuses it before answering, the others once their session cache hears of it over
    /// Redis (milliseconds; ARCHITECTURE.md, the session cache's invariant).
    async fn refused_soon(&self, gw: &GatewayProcess, token: &str, what: &str) {
        eventually(what, Duration::from_secs(2), || async {
            (self.call_api(gw, token).await.0 == 401).then_some(())
        })
        .await;
    }

    async fn call_api(&self, gw: &GatewayProcess, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(gw.url("/orders/items?page=2"))
            .bearer_auth(token)
            .send()
            .await
            .expect("API request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn authorize_url(gw: &GatewayProcess) -> AuthUrl {
    AuthUrl::new(gw.url("/orders/oauth/authorize")).expect("authorize URL")
}

fn token_url(gw: &GatewayProcess) -> TokenUrl {
    TokenUrl::new(gw.url("/orders/oauth/token")).expect("token URL")
}

/// An `oauth2` client for `client_id`, confidential when it has a secret.
fn oauth_client(
    client_id: &str,
    secret: Option<&str>,
    auth_type: AuthType,
    authorize_on: &GatewayProcess,
    token_on: &GatewayProcess,
) -> CodeClient {
    let client = BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(authorize_url(authorize_on))
        .set_token_uri(token_url(token_on))
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).expect("redirect URI"))
        .set_auth_type(auth_type);
    match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.to_owned())),
        None => client,
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .unwrap_or_else(|e| panic!("{url:?} is not a URL: {e}"))
        .query_pairs()
        .into_owned()
        .collect()
}

/// The RFC 6749 §5.2 error code the server answered a token request with.
fn server_error(result: Result<impl std::fmt::Debug, TokenError>) -> BasicErrorResponseType {
    match result {
        Err(oauth2::RequestTokenError::ServerResponse(response)) => response.error().clone(),
        other => panic!("expected an OAuth error response from the server, got {other:?}"),
    }
}

/// What a completed authorization code flow leaves the client with.
struct CodeFlowTokens {
    /// The (spent) authorization code and its PKCE verifier.
    code: String,
    verifier: String,
    access_token: String,
    refresh_token: String,
}

/// The authorization code flow with PKCE (S256), end to end: the client builds the authorization
/// request, the user agent is sent to the login page, the identity server obtains a code from the
/// control plane, and the client redeems it at its token endpoint.
async fn code_flow_with_pkce(cluster: &Cluster, client: &CodeClient) -> CodeFlowTokens {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let verifier_value = verifier.secret().clone();
    let (authorize, csrf) =
        client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge.clone()).url();

    // The user agent: the gateway sends it on to the login page with the request's parameters.
    let response = cluster.http.get(authorize.as_str()).send().await.expect("authorization request");
    assert_eq!(response.status(), 307, "GET {authorize}: {:?}", response.text().await);
    let location = response.headers()["location"].to_str().expect("ASCII Location").to_owned();
    assert!(location.starts_with(&format!("{LOGIN_PAGE}?")), "{location}");
    let login = query_of(&location);
    let client_id = client.client_id().as_str();
    assert_eq!(login.get("response_type").map(String::as_str), Some("code"), "{location}");
    assert_eq!(login.get("client_id").map(String::as_str), Some(client_id), "{location}");
    assert_eq!(login.get("redirect_uri").map(String::as_str), Some(REDIRECT_URI), "{location}");
    assert_eq!(login.get("state"), Some(csrf.secret()), "{location}");
    assert_eq!(login.get("code_challenge").map(String::as_str), Some(challenge.as_str()), "{location}");
    assert_eq!(login.get("code_challenge_method").map(String::as_str), Some("S256"), "{location}");

    // The identity server, once the user has logged in: a code, and where to send the user.
    let (status, issued) = cluster.authorize_client(&login).await;
    assert_eq!(status, 200, "authorize-client: {issued}");
    let redirect_to = issued["redirect_to"].as_str().expect("redirect_to").to_owned();
    assert!(redirect_to.starts_with(&format!("{REDIRECT_URI}?")), "{redirect_to}");
    let callback = query_of(&redirect_to);
    let code = callback.get("code").expect("code in redirect_to").clone();
    assert_eq!(Some(code.as_str()), issued["code"].as_str(), "{issued}");
    assert_eq!(callback.get("state"), Some(csrf.secret()), "the client's CSRF state comes back unchanged");

    // The client, at its redirect URI: redeems the code with the verifier.
    let token = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&cluster.http)
        .await
        .unwrap_or_else(|e| panic!("{client_id}: code exchange failed: {e:?}"));
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
    let refresh_token = token.refresh_token().expect("the code grant issues a refresh token");
    CodeFlowTokens {
        code,
        verifier: verifier_value,
        access_token: token.access_token().secret().clone(),
        refresh_token: refresh_token.secret().clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth2_crate_completes_every_grant_across_two_gateways() {
    let cluster = Cluster::start().await;
    let (gw1, gw2) = (&cluster.gw1, &cluster.gw2);

    // --- Configuration over REST. Config changes reach gateways in order, so once the last one
    // (the public client) is live everywhere, so is everything before it.
    cluster.admin("/api/portal/policies", json!({"id": "reader", "name": "reader"})).await;
    cluster
        .admin("/api/users", json!({"username": USERNAME, "password": PASSWORD, "policy_id": "reader"}))
        .await;
    cluster
        .admin(
            "/api/apis",
            json!({
                "api_id": API_ID, "name": "Orders", "listen_path": LISTEN_PATH, "strip_listen_path": true,
                "upstream_url": cluster.upstream.url(),
                "oauth": {
                    "allowed_grant_types": ["authorization_code", "client_credentials", "password", "refresh_token"],
                    "allowed_authorize_types": ["code"],
                    "auth_login_redirect": LOGIN_PAGE
                }
            }),
        )
        .await;
    let confidential = cluster
        .admin(
            &format!("/api/apis/oauth/{API_ID}"),
            json!({"client_id": CONFIDENTIAL_ID, "secret": CONFIDENTIAL_SECRET, "redirect_uri": REDIRECT_URI}),
        )
        .await;
    assert_ne!(confidential["public_client"], true, "{confidential}");
    let public = cluster
        .admin(
            &format!("/api/apis/oauth/{API_ID}"),
            json!({"client_id": PUBLIC_ID, "public_client": true, "redirect_uri": REDIRECT_URI}),
        )
        .await;
    assert_eq!(public["public_client"], true, "{public}");
    assert!(public.get("secret").is_none(), "a public client has no secret: {public}");
    for gw in [gw1, gw2] {
        let probe = oauth_client(PUBLIC_ID, None, AuthType::BasicAuth, gw, gw);
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = probe.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
        eventually("the gateway has the API and both clients", SYNC, || async {
            let r = cluster.http.get(url.as_str()).send().await.ok()?;
            (r.status() == 307).then_some(())
        })
        .await;
    }

    // --- Authorization code + PKCE, confidential client authenticating with HTTP Basic (the
    // library's default): started on gateway 1, redeemed on gateway 2.
    let web_basic = oauth_client(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), AuthType::BasicAuth, gw1, gw2);
    assert!(matches!(web_basic.auth_type(), AuthType::BasicAuth));
    let code_tokens = code_flow_with_pkce(&cluster, &web_basic).await;
    let (status, echo) = cluster.call_api(gw1, &code_tokens.access_token).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["upstream"], "orders-backend");
    assert_eq!(echo["path"], "/items?page=2", "listen path stripped, query kept");

    // --- The same flow for the public client: no secret, PKCE is its proof. Started on gateway 2,
    // redeemed on gateway 1.
    let mobile = oauth_client(PUBLIC_ID, None, AuthType::BasicAuth, gw2, gw1);
    let mobile_tokens = code_flow_with_pkce(&cluster, &mobile).await;
    let (status, echo) = cluster.call_api(gw2, &mobile_tokens.access_token).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["upstream"], "orders-backend");

    // Without a code challenge the public client's authorization request is refused outright:
    // no redirect anywhere, an RFC 6749 error instead.
    let (no_pkce, _) = mobile.authorize_url(CsrfToken::new_random).url();
    let refused = cluster.http.get(no_pkce.as_str()).send().await.expect("authorization request");
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    let body: Value = refused.json().await.expect("OAuth error JSON");
    assert_eq!(body["error"], "invalid_request", "{body}");
    // Nor will the control plane mint a code for it, whatever an identity server asks.
    let without_challenge: HashMap<String, String> =
        [("response_type", "code"), ("client_id", PUBLIC_ID), ("redirect_uri", REDIRECT_URI), ("state", "s")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let (status, body) = cluster.authorize_client(&without_challenge).await;
    assert_eq!(status, 400, "authorize-client for a public client without PKCE: {body}");

    // --- Refresh, with the confidential client now authenticating in the request body
    // (client_secret_post), on gateway 1.
    let web_body = oauth_client(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), AuthType::RequestBody, gw2, gw1);
    assert!(matches!(web_body.auth_type(), AuthType::RequestBody));
    let old_refresh = RefreshToken::new(code_tokens.refresh_token.clone());
    let refreshed = web_body
        .exchange_refresh_token(&old_refresh)
        .request_async(&cluster.http)
        .await
        .expect("refresh_token grant");
    let new_access = refreshed.access_token().secret().clone();
    let new_refresh = refreshed.refresh_token().expect("rotation issues a new refresh token").clone();
    assert_ne!(new_access, code_tokens.access_token);
    assert_ne!(new_refresh.secret(), &code_tokens.refresh_token);
    assert_eq!(refreshed.expires_in(), Some(Duration::from_secs(3600)));
    // The old access token died with its refresh token; the new one works, on either gateway.
    assert_eq!(cluster.call_api(gw1, &code_tokens.access_token).await.0, 401);
    cluster.refused_soon(gw2, &code_tokens.access_token, "the old access token on the other gateway").await;
    assert_eq!(cluster.call_api(gw2, &new_access).await.0, 200);
    // Reusing the spent refresh token (RFC 9700 §4.14.2) is refused and revokes the family.
    let reuse = web_basic.exchange_refresh_token(&old_refresh).request_async(&cluster.http).await;
    assert_eq!(server_error(reuse), BasicErrorResponseType::InvalidGrant);
    assert_eq!(cluster.call_api(gw2, &new_access).await.0, 401, "the family's new access token is revoked");
    cluster.refused_soon(gw1, &new_access, "the family's new access token on the other gateway").await;
    let after_revocation = web_body.exchange_refresh_token(&new_refresh).request_async(&cluster.http).await;
    assert_eq!(server_error(after_revocation), BasicErrorResponseType::InvalidGrant);
    // The public client's family is untouched by the confidential client's revocation.
    assert_eq!(cluster.call_api(gw1, &mobile_tokens.access_token).await.0, 200);

    // The public client refreshes too, naming itself in the body without a secret.
    let mobile_refreshed = mobile
        .exchange_refresh_token(&RefreshToken::new(mobile_tokens.refresh_token.clone()))
        .request_async(&cluster.http)
        .await
        .expect("refresh_token grant for the public client");
    assert!(mobile_refreshed.refresh_token().is_some());
    assert_eq!(cluster.call_api(gw2, mobile_refreshed.access_token().secret()).await.0, 200);

    // --- client_credentials, secret in the request body, on gateway 1; used on gateway 2.
    let service = web_body.exchange_client_credentials().request_async(&cluster.http).await;
    let service = service.expect("client_credentials grant");
    assert!(service.refresh_token().is_none(), "client_credentials never yields a refresh token");
    assert_eq!(service.expires_in(), Some(Duration::from_secs(3600)));
    let (status, echo) = cluster.call_api(gw2, service.access_token().secret()).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["upstream"], "orders-backend");
    // A public client may not act on its own behalf.
    let public_cc = mobile.exchange_client_credentials().request_async(&cluster.http).await;
    assert_eq!(server_error(public_cc), BasicErrorResponseType::UnauthorizedClient);

    // --- password, HTTP Basic client authentication, on gateway 2; used on gateway 1.
    let web_basic_gw2 =
        oauth_client(CONFIDENTIAL_ID, Some(CONFIDENTIAL_SECRET), AuthType::BasicAuth, gw1, gw2);
    let username = ResourceOwnerUsername::new(USERNAME.to_owned());
    let owner = web_basic_gw2
        .exchange_password(&username, &ResourceOwnerPassword::new(PASSWORD.to_owned()))
        .request_async(&cluster.http)
        .await
        .expect("password grant");
    assert_eq!(owner.expires_in(), Some(Duration::from_secs(3600)));
    let owner_refresh = owner.refresh_token().expect("the password grant issues a refresh token").clone();
    assert_eq!(cluster.call_api(gw1, owner.access_token().secret()).await.0, 200);
    let wrong = web_basic_gw2
        .exchange_password(&username, &ResourceOwnerPassword::new("wrong password".to_owned()))
        .request_async(&cluster.http)
        .await;
    assert_eq!(server_error(wrong), BasicErrorResponseType::InvalidGrant);
    // The password grant's refresh token rotates like any other.
    let owner_refreshed = web_body
        .exchange_refresh_token(&owner_refresh)
        .request_async(&cluster.http)
        .await
        .expect("refresh of a password-grant token");
    assert_eq!(cluster.call_api(gw2, owner_refreshed.access_token().secret()).await.0, 200);

    // --- A code is single use (RFC 6749 §4.1.2): redeemed again, even with its verifier, it is
    // refused, and the tokens of its first redemption are revoked.
    let replayed = code_flow_with_pkce(&cluster, &web_basic).await;
    assert_eq!(cluster.call_api(gw2, &replayed.access_token).await.0, 200);
    let replay = web_body
        .exchange_code(AuthorizationCode::new(replayed.code.clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(replayed.verifier.clone()))
        .request_async(&cluster.http)
        .await;
    assert_eq!(server_error(replay), BasicErrorResponseType::InvalidGrant);
    cluster.refused_soon(gw2, &replayed.access_token, "the replayed code's token on the other gateway").await;
    let replayed_refresh = RefreshToken::new(replayed.refresh_token);
    let after_replay = web_body.exchange_refresh_token(&replayed_refresh).request_async(&cluster.http).await;
    assert_eq!(server_error(after_replay), BasicErrorResponseType::InvalidGrant);

    // --- Both client authentication methods refuse a wrong secret the same way.
    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let impostor = oauth_client(CONFIDENTIAL_ID, Some("not-the-secret"), auth_type.clone(), gw1, gw2);
        let result = impostor.exchange_client_credentials().request_async(&cluster.http).await;
        assert_eq!(server_error(result), BasicErrorResponseType::InvalidClient, "{auth_type:?}");
    }
}
