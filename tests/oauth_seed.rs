//! The seed's curl examples (Tyk's OAuth 2.0 documentation), run as written against a control
//! plane and two gateways on one Redis, plus the security rules Gatehouse adds: atomic single
//! use of codes, refresh rotation with reuse detection, PKCE, client-authenticated introspection
//! and revocation, RFC error statuses, and no secret in any log line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use gatehouse_testkit::{EchoUpstream, Recorder, RedisServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BASIC: &str = "Basic bXktY2xpZW50LWlkOm15LWNsaWVudC1zZWNyZXQ="; // my-client-id:my-client-secret
const REDIRECT: &str = "http://identityserver.com/client-redirect-uri";
const REDIRECT_ENC: &str = "http%3A%2F%2Fidentityserver.com%2Fclient-redirect-uri";
const SYNC: Duration = Duration::from_secs(10);

struct Cluster {
    redis: RedisServer,
    _upstream: EchoUpstream,
    notifications: Recorder,
    cp: ControlPlaneProcess,
    gw1: GatewayProcess,
    gw2: GatewayProcess,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let redis = RedisServer::start();
        let upstream = EchoUpstream::start("upstream").await;
        let notifications = Recorder::start().await;
        let cp = ControlPlaneProcess::start_with_redis(&dir.path().join("data"), dir.path(), &redis.url());
        // Trace level everywhere, so the log scan at the end sees everything that is ever logged.
        let gw1 = GatewayProcess::start_with_log_level("gw1", &cp.url(), &redis.url(), dir.path(), "trace");
        let gw2 = GatewayProcess::start_with_log_level("gw2", &cp.url(), &redis.url(), dir.path(), "trace");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let cluster = Self { redis, _upstream: upstream, notifications, cp, gw1, gw2, http, _dir: dir };
        cluster.configure().await;
        cluster
    }

    /// The seed's example API (authorization code with refresh tokens, notifications), plus
    /// the other grants its curl examples use, and its example client and resource owner.
    async fn configure(&self) {
        let api = json!({
            "api_id": "my-api", "name": "My OAuth API", "listen_path": "/my-api/", "strip_listen_path": true,
            "upstream_url": self._upstream.url(),
            "oauth": {
                "allowed_grant_types": ["authorization_code", "client_credentials", "password", "refresh_token"],
                "allowed_authorize_types": ["code"],
                "auth_login_redirect": REDIRECT,
                "notifications": {"url": self.notifications.url(), "shared_secret": "oauth-shared-secret"}
            }
        });
        self.admin_json("POST", "/api/apis", api).await;
        let tyk_compat = json!({
            "api_id": "tyk-compat", "listen_path": "/tyk-compat/", "upstream_url": self._upstream.url(),
            "oauth": {"allowed_grant_types": ["client_credentials"], "error_status_code": 403}
        });
        self.admin_json("POST", "/api/apis", tyk_compat).await;
        let client =
            json!({"client_id": "my-client-id", "secret": "my-client-secret", "redirect_uri": REDIRECT});
        self.admin_json("POST", "/api/apis/oauth/my-api", client).await;
        let other =
            json!({"client_id": "other-client", "secret": "other-client-secret", "redirect_uri": REDIRECT});
        self.admin_json("POST", "/api/apis/oauth/my-api", other).await;
        let user = json!({"username": "resource-owner-username", "password": "resource-owner-password"});
        self.admin_json("POST", "/api/users", user).await;
        // Config reaches gateways in order: once the last object (the resource owner) works on a
        // gateway, everything created before it is there too.
        for gw in [&self.gw1, &self.gw2] {
            let url = gw.url("/my-api/oauth/token");
            eventually("gateway has the seed's APIs, clients and user", SYNC, || async {
                let body =
                    "grant_type=password&username=resource-owner-username&password=resource-owner-password";
                let r = self.form(&url, Some(BASIC), body).await;
                (r.0 == StatusCode::OK).then_some(())
            })
            .await;
        }
    }

    async fn admin_json(&self, method: &str, path: &str, body: Value) -> Value {
        admin_ok(&self.http, &self.cp, method, path, body).await
    }

    /// A form POST as the seed's curl examples send it; returns status, headers and JSON body.
    async fn form(
        &self,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn authorize_client(&self, extra: &str) -> Value {
        let url = format!("{}/api/apis/oauth/my-api/authorize-client/", self.cp.url());
        let body = format!("response_type=code&client_id=my-client-id&redirect_uri={REDIRECT_ENC}{extra}");
        let (status, _, json) = self.form(&url, Some(ADMIN_SECRET), &body).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }

    async fn redeem(&self, gw: &GatewayProcess, code: &str, extra: &str) -> (StatusCode, Value) {
        let body = format!(
            "grant_type=authorization_code&client_id=my-client-id&code={code}&redirect_uri={REDIRECT_ENC}{extra}"
        );
        let (status, _, json) = self.form(&gw.url("/my-api/oauth/token/"), Some(BASIC), &body).await;
        (status, json)
    }

    async fn api_status(&self, gw: &GatewayProcess, token: &str) -> StatusCode {
        self.http.get(gw.url("/my-api/anything")).bearer_auth(token).send().await.unwrap().status()
    }

    /// Waits until `gw` refuses `token`, revoked through the other gateway: the revoking one
    /// refuses it before answering, the other once its session cache hears of it over Redis.
    async fn refused_soon(&self, gw: &GatewayProcess, token: &str, what: &str) {
        eventually(what, Duration::from_secs(2), || async {
            (self.api_status(gw, token).await == StatusCode::UNAUTHORIZED).then_some(())
        })
        .await;
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_examples_and_security_rules_hold_across_two_gateways() {
    let c = Cluster::start().await;
    let mut secrets: Vec<String> =
        vec!["my-client-secret".into(), "other-client-secret".into(), "resource-owner-password".into()];

    // --- Authorization request (seed): 307 to the login page, never to an unverified URI.
    let authorize = c.gw1.url("/my-api/oauth/authorize/");
    let (status, headers, _) = c
        .form(
            &authorize,
            None,
            &format!("response_type=code&client_id=my-client-id&redirect_uri={REDIRECT_ENC}"),
        )
        .await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    let location = headers["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(
        location.contains("client_id=my-client-id")
            && location.contains(&format!("redirect_uri={REDIRECT_ENC}"))
    );
    let get = c
        .http
        .get(format!("{authorize}?response_type=code&client_id=my-client-id&state=s1"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::TEMPORARY_REDIRECT);
    for bad in [
        "response_type=code&client_id=nobody&redirect_uri=http%3A%2F%2Fevil.example%2F",
        "response_type=code&client_id=my-client-id&redirect_uri=http%3A%2F%2Fevil.example%2F",
        "response_type=code&client_id=my-client-id&redirect_uri=http%3A%2F%2Fidentityserver.com%2Fclient-redirect-uri%2Fx",
        "response_type=token&client_id=my-client-id",
    ] {
        let (status, headers, json) = c.form(&authorize, None, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {json}");
        assert!(headers.get("location").is_none(), "no open redirect for {bad}");
        assert!(json["error"].is_string());
    }

    // --- Authorization code request (seed), then the exchange (seed) on the OTHER gateway.
    let issued = c.authorize_client("&state=xyz").await;
    let code = str_of(&issued, "code").to_owned();
    assert_eq!(issued["redirect_to"], format!("{REDIRECT}?code={code}&state=xyz"));
    let (status, token) = c.redeem(&c.gw2, &code, "").await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!((token["token_type"].as_str(), token["expires_in"].as_u64()), (Some("bearer"), Some(3600)));
    let access = str_of(&token, "access_token").to_owned();
    let refresh = str_of(&token, "refresh_token").to_owned();
    secrets.extend([code.clone(), access.clone(), refresh.clone()]);
    assert_eq!(c.api_status(&c.gw1, &access).await, StatusCode::OK);

    // A replayed code is refused, and the tokens first issued from it die.
    let (status, json) = c.redeem(&c.gw1, &code, "").await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(c.api_status(&c.gw1, &access).await, StatusCode::UNAUTHORIZED);

    // 20 parallel redemptions of one code, spread over both gateways: exactly one succeeds.
    let code = str_of(&c.authorize_client("").await, "code").to_owned();
    let attempts = (0..20).map(|i| {
        let gw = if i % 2 == 0 { &c.gw1 } else { &c.gw2 };
        c.redeem(gw, &code, "")
    });
    let results = futures_util::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|(s, _)| *s == StatusCode::OK).count(), 1, "{results:?}");
    assert!(
        results.iter().filter(|(s, _)| *s != StatusCode::OK).all(|(_, j)| j["error"] == "invalid_grant"),
        "{results:?}"
    );
    for (_, j) in &results {
        if let Some(t) = j["access_token"].as_str() {
            secrets.push(t.to_owned());
        }
    }

    // Bound to client and redirect URI.
    let code = str_of(&c.authorize_client("").await, "code").to_owned();
    let (status, json) = c.redeem(&c.gw1, &code, "&redirect_uri=http%3A%2F%2Fevil.example%2F").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "duplicated redirect_uri is refused: {json}");
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_ENC}");
    let (status, _, json) = c
        .form(
            &c.gw1.url("/my-api/oauth/token"),
            None,
            &format!("{body}&client_id=other-client&client_secret=other-client-secret"),
        )
        .await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // PKCE (RFC 7636 Appendix B's pair): verifier required, and must match.
    let pkce = "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    for (verifier, expected) in [
        ("", StatusCode::BAD_REQUEST),
        ("&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", StatusCode::BAD_REQUEST),
        ("&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", StatusCode::OK),
    ] {
        let code = str_of(&c.authorize_client(pkce).await, "code").to_owned();
        let (status, json) = c.redeem(&c.gw2, &code, verifier).await;
        assert_eq!(status, expected, "verifier {verifier:?}: {json}");
    }
    let code = str_of(&c.authorize_client("").await, "code").to_owned();
    let (status, _) =
        c.redeem(&c.gw2, &code, "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a verifier for a code without challenge is a downgrade");

    // --- Password grant (seed) and refresh (seed), across gateways, with reuse detection.
    let (status, _, pw) = c
        .form(&c.gw1.url("/my-api/oauth/token/"), Some(BASIC), "grant_type=password&client_id=my-client-id&username=resource-owner-username&password=resource-owner-password")
        .await;
    assert_eq!(status, StatusCode::OK, "{pw}");
    let (pw_access, pw_refresh) =
        (str_of(&pw, "access_token").to_owned(), str_of(&pw, "refresh_token").to_owned());
    secrets.extend([pw_access.clone(), pw_refresh.clone()]);
    let (status, _, wrong) = c
        .form(
            &c.gw1.url("/my-api/oauth/token/"),
            Some(BASIC),
            "grant_type=password&client_id=my-client-id&username=resource-owner-username&password=nope",
        )
        .await;
    assert_eq!((status, wrong["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    let refresh_body = format!(
        "grant_type=refresh_token&client_id=my-client-id&client_secret=my-client-secret&refresh_token={pw_refresh}"
    );
    let (status, _, refreshed) = c.form(&c.gw2.url("/my-api/oauth/token/"), Some(BASIC), &refresh_body).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let new_access = str_of(&refreshed, "access_token").to_owned();
    let new_refresh = str_of(&refreshed, "refresh_token").to_owned();
    secrets.extend([new_access.clone(), new_refresh.clone()]);
    assert_ne!(new_refresh, pw_refresh);
    c.refused_soon(&c.gw1, &pw_access, "old access token invalidated").await;
    assert_eq!(c.api_status(&c.gw1, &new_access).await, StatusCode::OK);
    let (status, _, reuse) = c.form(&c.gw1.url("/my-api/oauth/token/"), Some(BASIC), &refresh_body).await;
    assert_eq!((status, reuse["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    assert_eq!(c.api_status(&c.gw1, &new_access).await, StatusCode::UNAUTHORIZED, "reuse revokes the family");
    c.refused_soon(&c.gw2, &new_access, "reuse revokes the family on the other gateway").await;
    let again = format!("grant_type=refresh_token&refresh_token={new_refresh}");
    let (status, _, _) = c.form(&c.gw2.url("/my-api/oauth/token/"), Some(BASIC), &again).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the family's newest refresh token is dead too");

    // --- Client credentials (seed, Basic and form both sent): no refresh token.
    let (status, _, cc) = c
        .form(
            &c.gw1.url("/my-api/oauth/token/"),
            Some(BASIC),
            "grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cc.get("refresh_token").is_none());
    let cc_access = str_of(&cc, "access_token").to_owned();
    secrets.push(cc_access.clone());

    // --- Introspection and revocation (RFC 7662, RFC 7009), client-authenticated.
    let introspect = c.gw2.url("/my-api/oauth/introspect");
    let (status, _, info) = c.form(&introspect, Some(BASIC), &format!("token={cc_access}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((info["active"].as_bool(), info["client_id"].as_str()), (Some(true), Some("my-client-id")));
    assert_eq!(info["token_type"], "bearer", "RFC 7662 §2.2 takes RFC 6749 §7.1's token type");
    let (status, _, _) = c.form(&introspect, None, &format!("token={cc_access}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "introspection needs client authentication");
    let revoke = c.gw1.url("/my-api/oauth/revoke");
    let (status, _, _) = c
        .form(
            &revoke,
            None,
            &format!("token={cc_access}&client_id=other-client&client_secret=other-client-secret"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a client cannot revoke another client's token");
    assert_eq!(c.api_status(&c.gw1, &cc_access).await, StatusCode::OK);
    let (status, _, _) = c.form(&revoke, Some(BASIC), &format!("token={cc_access}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = c.form(&revoke, Some(BASIC), "token=never-issued").await;
    assert_eq!(status, StatusCode::OK, "unknown tokens are not an error (RFC 7009 §2.2)");
    assert_eq!(c.api_status(&c.gw1, &cc_access).await, StatusCode::UNAUTHORIZED);
    c.refused_soon(&c.gw2, &cc_access, "the revoked token on the other gateway").await;
    let (_, _, info) = c.form(&introspect, Some(BASIC), &format!("token={cc_access}")).await;
    assert_eq!(info, json!({"active": false}));

    // --- Admin revocation (seed): the Dashboard-style endpoint on the control plane.
    let (_, _, cc) =
        c.form(&c.gw1.url("/my-api/oauth/token"), Some(BASIC), "grant_type=client_credentials").await;
    let to_revoke = str_of(&cc, "access_token").to_owned();
    secrets.push(to_revoke.clone());
    let (status, _, answer) = c
        .form(
            &format!("{}/api/apis/oauth/my-client-id/revoke/", c.cp.url()),
            Some(ADMIN_SECRET),
            &format!("token={to_revoke}&token_type_hint=access_token&client_id=my-client-id&client_secret=my-client-secret"),
        )
        .await;
    assert_eq!((status, answer["Status"].as_str()), (StatusCode::OK, Some("OK")), "{answer}");
    assert_eq!(c.api_status(&c.gw1, &to_revoke).await, StatusCode::UNAUTHORIZED);

    // --- RFC 8414 metadata.
    let meta: Value = c
        .http
        .get(c.gw1.url("/.well-known/oauth-authorization-server/my-api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], c.gw1.url("/my-api"));
    assert_eq!(meta["token_endpoint"], c.gw1.url("/my-api/oauth/token"));
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));

    // --- Errors: method, content type, duplicates, unknown grant, size, Tyk-compatible status.
    let token_url = c.gw1.url("/my-api/oauth/token");
    let get = c.http.get(&token_url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let json_body = c
        .http
        .post(&token_url)
        .header("authorization", BASIC)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
    for (body, error) in [
        ("grant_type=client_credentials&grant_type=password", "invalid_request"),
        ("grant_type=implicit", "unsupported_grant_type"),
        ("scope=x", "invalid_request"),
    ] {
        let (status, _, json) = c.form(&token_url, Some(BASIC), body).await;
        assert_eq!((status, json["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{body}");
    }
    let (status, headers, json) =
        c.form(&token_url, Some("Basic bXktY2xpZW50LWlkOndyb25n"), "grant_type=client_credentials").await;
    assert_eq!((status, json["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let (status, _, json) =
        c.form(&token_url, Some(BASIC), "grant_type=client_credentials&client_id=other-client").await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "credentials two ways that disagree"
    );
    let huge = format!("grant_type=client_credentials&pad={}", "a".repeat(70 * 1024));
    let (status, headers, json) = c.form(&token_url, Some(BASIC), &huge).await;
    // Over the 64 KiB form limit: 413, with an RFC 6749 error body, and the connection closes
    // (its unread rest is still on the wire; a client reusing it would meet a broken pipe).
    assert_eq!((status, json["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("invalid_request")));
    assert_eq!(headers.get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    let (status, _, json) =
        c.form(&c.gw1.url("/tyk-compat/oauth/token"), Some(BASIC), "grant_type=client_credentials").await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_client")),
        "Tyk's 403"
    );

    // --- Notifications: one per code/password issuance ("new") and per refresh ("refresh").
    let notes = eventually("notifications arrive", SYNC, || async {
        let notes = c.notifications.received();
        (notes.iter().any(|n| n.json()["notification_type"] == "refresh")).then_some(notes)
    })
    .await;
    for note in &notes {
        assert_eq!(note.header("x-tyk-shared-secret"), Some("oauth-shared-secret"));
    }
    let refresh_note = notes.iter().find(|n| n.json()["notification_type"] == "refresh").unwrap().json();
    assert_eq!(refresh_note["old_refresh_token"], pw_refresh.as_str());
    assert_eq!(refresh_note["new_oauth_token"], new_access.as_str());
    assert!(notes.iter().any(|n| n.json()["auth_code"].as_str().is_some_and(|s| !s.is_empty())));
    assert!(
        notes.iter().all(|n| n.json()["new_oauth_token"] != cc_access.as_str()),
        "client_credentials tokens are not notified"
    );

    // --- Redis holds keyed hashes, never a token, code or secret: dump every key and value.
    let redis = redis::Client::open(c.redis.url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert!(keys.iter().any(|k| k.starts_with("gh:at:")), "{keys:?}");
    for key in &keys {
        let value: Option<String> = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap_or(None);
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0, "{key} has no expiry");
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!key.contains(secret.as_str()), "a secret is a Redis key");
            assert!(!value.as_deref().unwrap_or("").contains(secret.as_str()), "a secret is stored in {key}");
        }
    }

    // --- No token, code, secret or password in any log line, at trace level.
    secrets.retain(|s| !s.is_empty());
    for process in [c.gw1.process.logs(), c.gw2.process.logs(), c.cp.process.as_ref().unwrap().logs()] {
        assert!(!process.is_empty());
        for secret in &secrets {
            assert!(!process.contains(secret.as_str()), "a secret value leaked into the logs");
        }
    }
}
