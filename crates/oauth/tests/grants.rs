//! The OAuth 2.0 logic through its public API: the four grants of the token endpoint (RFC 6749
//! §4, §6, RFC 7636), authorization codes, introspection (RFC 7662), revocation (RFC 7009) and
//! error responses (RFC 6749 §5.2), over the in-memory token store.

mod support;

use std::time::Duration;

use gatehouse_model::{GrantType, OAuthSettings};
use gatehouse_oauth::authorize::{self, AuthorizationParams, SessionOverride};
use gatehouse_oauth::introspect::{self, Introspection, Revocation};
use gatehouse_oauth::token::{key_to_hex, kind};
use gatehouse_oauth::{ErrorCode, OAuthError};
use support::*;

const WINDOW: Duration = Duration::from_secs(DEFAULT_REFRESH_TTL);

// ---------------------------------------------------------------- client_credentials

#[tokio::test]
async fn client_credentials_stores_a_session_under_the_keyed_token() {
    let fx = Fixture::new(all_grants());
    let issued = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap();
    assert_eq!((issued.grant, issued.client_id.as_str()), (GrantType::ClientCredentials, CONFIDENTIAL));
    assert_eq!((issued.auth_code.as_ref(), issued.old_refresh_token.as_ref()), (None, None));
    let r = &issued.response;
    assert_eq!((r.expires_in, r.token_type), (DEFAULT_ACCESS_TTL, "bearer"));
    assert_eq!(
        (r.refresh_token.as_ref(), r.scope.as_ref()),
        (None, None),
        "RFC 6749 §4.4.3: no refresh token"
    );

    let session = fx.session(&r.access_token).await.expect("session stored under hasher.key(at, token)");
    assert_eq!(session.api_id, API_ID);
    assert_eq!(session.client_id, CONFIDENTIAL);
    assert_eq!(session.policy_id, CLIENT_POLICY);
    assert_eq!(session.grant, GrantType::ClientCredentials);
    assert_eq!(session.meta_data, meta(&[("tier", "gold"), ("region", "eu")]));
    assert_eq!((session.issued_at, session.expires_at), (NOW, NOW + DEFAULT_ACCESS_TTL));
    assert_eq!((session.family_id, session.scope, session.username), (None, None, None));
    // Domain-separated keys: the token is no refresh token, and only the session and its entry
    // in the client's token index were written.
    assert!(fx.refresh_grant(&r.access_token).await.is_none());
    assert_eq!(fx.store.len_including_expired(), 2);
}

#[tokio::test]
async fn client_credentials_honours_the_configured_ttl_and_argon2_secrets_via_basic() {
    let fx = Fixture::new(OAuthSettings { access_token_ttl_secs: 120, ..all_grants() });
    let auth = basic(CHOSEN, CHOSEN_SECRET);
    let issued = fx.token_raw(fx.api(), "grant_type=client_credentials", Some(&auth), NOW).await.unwrap();
    assert_eq!(issued.response.expires_in, 120);
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert_eq!((session.client_id.as_str(), session.expires_at), (CHOSEN, NOW + 120));
}

#[tokio::test]
async fn client_credentials_is_refused_to_public_clients_and_when_the_api_disallows_it() {
    let fx = Fixture::new(all_grants());
    let e = assert_error(fx.token_as(PUBLIC, &cc()).await, ErrorCode::UnauthorizedClient);
    assert_eq!(e.status(), 400);

    let fx = Fixture::new(settings(&[GrantType::AuthorizationCode, GrantType::RefreshToken]));
    for grant in ["client_credentials", "password"] {
        let params = [("grant_type", grant), ("username", USERNAME), ("password", PASSWORD)];
        assert_error(fx.token_as(CONFIDENTIAL, &params).await, ErrorCode::UnauthorizedClient);
    }
    assert_eq!(fx.store.len_including_expired(), 0, "nothing issued");
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_with_a_challenge_only_after_basic() {
    let fx = Fixture::new(all_grants());
    for client_id in [CONFIDENTIAL, CHOSEN] {
        let auth = basic(client_id, "not-the-secret");
        let e = fx.token_raw(fx.api(), "grant_type=client_credentials", Some(&auth), NOW).await.unwrap_err();
        assert_eq!(
            (e.error, e.basic_challenge, e.status()),
            (ErrorCode::InvalidClient, true, 401),
            "{client_id}"
        );

        let body =
            form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", "x")]);
        let e = fx.token_raw(fx.api(), &body, None, NOW).await.unwrap_err();
        assert_eq!(
            (e.error, e.basic_challenge, e.status()),
            (ErrorCode::InvalidClient, false, 401),
            "{client_id}"
        );
    }
    // A secret registered for another client proves nothing either.
    let auth = basic(PARTNER, &fx.secret);
    let e = fx.token_raw(fx.api(), "grant_type=client_credentials", Some(&auth), NOW).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidClient);
    assert_eq!(fx.store.len_including_expired(), 0);
}

#[tokio::test]
async fn unknown_or_missing_client_authentication_is_invalid_client() {
    let fx = Fixture::new(all_grants());
    let cases = [
        (
            form(&[("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "s")]),
            None,
        ),
        ("grant_type=client_credentials".to_owned(), Some(basic("nobody", "s"))),
        ("grant_type=client_credentials".to_owned(), None),
        // A confidential client that names itself without its secret.
        (form(&[("grant_type", "client_credentials"), ("client_id", CONFIDENTIAL)]), None),
        // A public client has no secret to present.
        (form(&[("grant_type", "client_credentials"), ("client_id", PUBLIC), ("client_secret", "s")]), None),
    ];
    for (body, auth) in cases {
        let e = fx.token_raw(fx.api(), &body, auth.as_deref(), NOW).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidClient, "{body} {auth:?}");
        assert_eq!(e.basic_challenge, auth.is_some(), "{body}");
        assert_eq!(e.status(), 401);
    }
    let other = form(&[("grant_type", "client_credentials"), ("client_id", PARTNER)]);
    let auth = basic(PARTNER, &fx.partner_secret);
    let e = fx.token_raw(fx.other_api(), &other, Some(&auth), NOW).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidClient, "client ids are scoped to their API");
    assert_eq!(fx.store.len_including_expired(), 0);
}

// ---------------------------------------------------------------- authorization_code

#[tokio::test]
async fn code_redemption_issues_a_token_family() {
    let fx = Fixture::new(all_grants());
    let code = fx.code(CONFIDENTIAL, None).await;
    let issued = fx.redeem(CONFIDENTIAL, &code, &[]).await.unwrap();
    assert_eq!(
        (issued.grant, issued.auth_code.as_deref()),
        (GrantType::AuthorizationCode, Some(code.as_str()))
    );
    assert_eq!(issued.response.scope.as_deref(), Some("read write"));
    assert_eq!(issued.response.expires_in, DEFAULT_ACCESS_TTL);

    let access = &issued.response.access_token;
    let session = fx.session(access).await.unwrap();
    assert_eq!((session.client_id.as_str(), session.grant), (CONFIDENTIAL, GrantType::AuthorizationCode));
    assert_eq!((session.policy_id.as_str(), session.scope.as_deref()), (CLIENT_POLICY, Some("read write")));
    assert_eq!(session.expires_at, NOW + DEFAULT_ACCESS_TTL);
    let family = session.family_id.clone().expect("code tokens belong to a family");

    let grant = fx.refresh_grant(&refresh_token_of(&issued)).await.unwrap();
    assert_eq!((grant.api_id.as_str(), grant.client_id.as_str()), (API_ID, CONFIDENTIAL));
    assert_eq!((grant.family_id.as_str(), grant.origin), (family.as_str(), GrantType::AuthorizationCode));
    assert_eq!(grant.access_key, key_to_hex(&fx.hasher.key(kind::ACCESS_TOKEN, access)));
    assert_eq!((grant.issued_at, grant.expires_at), (NOW, NOW + DEFAULT_REFRESH_TTL));
    assert_eq!((grant.scope.as_deref(), grant.username), (Some("read write"), None));
}

#[tokio::test]
async fn code_redemption_without_the_refresh_grant_issues_an_access_token_only() {
    let fx = Fixture::new(settings(&[GrantType::AuthorizationCode]));
    let issued = fx.code_tokens().await;
    assert_eq!(issued.response.refresh_token, None);
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert!(session.family_id.is_some(), "still a family, so that a replayed code can revoke it");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_the_first_redemption_issued() {
    for grants in [&GrantType::ALL[..], &[GrantType::AuthorizationCode]] {
        let fx = Fixture::new(settings(grants));
        let code = fx.code(CONFIDENTIAL, None).await;
        let first = fx.redeem(CONFIDENTIAL, &code, &[]).await.unwrap();
        assert!(fx.session(&first.response.access_token).await.is_some());

        let e = assert_error(fx.redeem(CONFIDENTIAL, &code, &[]).await, ErrorCode::InvalidGrant);
        assert_eq!(e.status(), 400);
        assert!(fx.session(&first.response.access_token).await.is_none(), "RFC 6749 §4.1.2: revoked");
        if let Some(refresh) = &first.response.refresh_token {
            assert!(fx.refresh_grant(refresh).await.is_none());
            assert_error(fx.refresh(CONFIDENTIAL, refresh, &[]).await, ErrorCode::InvalidGrant);
        }
    }
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let fx = Fixture::new(all_grants());
    let code = fx.code(CONFIDENTIAL, None).await;
    assert_eq!(fx.store.len_including_expired(), 1);
    assert_error(fx.redeem(PARTNER, &code, &[]).await, ErrorCode::InvalidGrant);
    assert_eq!(fx.store.len_including_expired(), 1, "no tokens issued");

    let fx = Fixture::new(all_grants());
    for other in ["https://app.example/callback", "https://app.example/callback?tenant=7&x=1"] {
        let code = fx.code(CONFIDENTIAL, None).await;
        let params = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", other)];
        assert_error(fx.token_as(CONFIDENTIAL, &params).await, ErrorCode::InvalidGrant);
    }
    assert_eq!(fx.store.len_including_expired(), 2, "two spent codes, no tokens");
}

#[tokio::test]
async fn pkce_binds_the_code_to_its_verifier() {
    let fx = Fixture::new(all_grants());
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
    for (challenge, verifier) in
        [(Some(CHALLENGE), None), (Some(CHALLENGE), Some(wrong)), (None, Some(VERIFIER))]
    {
        let code = fx.code(CONFIDENTIAL, challenge).await;
        let extra: Vec<_> = verifier.map(|v| ("code_verifier", v)).into_iter().collect();
        assert_error(fx.redeem(CONFIDENTIAL, &code, &extra).await, ErrorCode::InvalidGrant);
    }
    assert_eq!(fx.store.len_including_expired(), 3, "three spent codes, no tokens");

    let code = fx.code(CONFIDENTIAL, Some(CHALLENGE)).await;
    let issued = fx.redeem(CONFIDENTIAL, &code, &[("code_verifier", VERIFIER)]).await.unwrap();
    assert!(fx.session(&issued.response.access_token).await.is_some());
}

#[tokio::test]
async fn public_clients_must_use_pkce_and_need_no_secret() {
    let fx = Fixture::new(all_grants());
    let e = fx.issue_code_for(fx.params(PUBLIC, None), SessionOverride::default()).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidRequest);
    assert_eq!(fx.store.len_including_expired(), 0, "no code minted");

    let code = fx.code(PUBLIC, Some(CHALLENGE)).await;
    assert_eq!(fx.secret_of(PUBLIC), None, "the request carries client_id only");
    let issued = fx.redeem(PUBLIC, &code, &[("code_verifier", VERIFIER)]).await.unwrap();
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert_eq!((session.client_id.as_str(), session.grant), (PUBLIC, GrantType::AuthorizationCode));
    let grant = fx.refresh_grant(&refresh_token_of(&issued)).await.unwrap();
    assert_eq!(grant.client_id, PUBLIC);
}

#[tokio::test]
async fn authorization_requests_are_checked_before_any_code_is_minted() {
    let fx = Fixture::new(all_grants());
    let (base, pkce) = (fx.params(CONFIDENTIAL, None), fx.params(CONFIDENTIAL, Some(CHALLENGE)));
    let bad = [
        (
            AuthorizationParams { redirect_uri: Some("https://evil.example/"), ..base },
            ErrorCode::InvalidRequest,
        ),
        (AuthorizationParams { client_id: Some("nobody"), ..base }, ErrorCode::InvalidRequest),
        (AuthorizationParams { response_type: Some("token"), ..base }, ErrorCode::UnsupportedResponseType),
        (AuthorizationParams { code_challenge_method: Some("plain"), ..pkce }, ErrorCode::InvalidRequest),
    ];
    for (params, expected) in bad {
        let e = fx.issue_code_for(params, SessionOverride::default()).await.unwrap_err();
        assert_eq!(e.error, expected, "{params:?}");
    }
    let fx = Fixture::new(settings(&[GrantType::ClientCredentials]));
    let e = authorize::validate(fx.api(), fx.params(CONFIDENTIAL, None), |id| fx.state.client(API_ID, id));
    assert_eq!(e.unwrap_err().error, ErrorCode::UnauthorizedClient);
    assert_eq!(fx.store.len_including_expired(), 0);
}

#[tokio::test]
async fn identity_server_overrides_reach_every_session_of_the_family() {
    let fx = Fixture::new(all_grants());
    let overrides = SessionOverride {
        policy_id: Some("idp-policy".into()),
        meta_data: meta(&[("region", "ap"), ("uid", "42")]),
    };
    let code = fx.issue_code_for(fx.params(CONFIDENTIAL, None), overrides).await.unwrap().code;
    let issued = fx.redeem(CONFIDENTIAL, &code, &[]).await.unwrap();
    let expected_meta = meta(&[("tier", "gold"), ("region", "ap"), ("uid", "42")]);
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert_eq!((session.policy_id.as_str(), &session.meta_data), ("idp-policy", &expected_meta));

    let refreshed = fx.refresh(CONFIDENTIAL, &refresh_token_of(&issued), &[]).await.unwrap();
    let session = fx.session(&refreshed.response.access_token).await.unwrap();
    assert_eq!((session.policy_id.as_str(), &session.meta_data), ("idp-policy", &expected_meta));
}

#[tokio::test]
async fn redirect_to_appends_code_and_state_form_encoded() {
    let fx = Fixture::new(all_grants());
    let state = "a b&c=d/é?#";
    let params =
        AuthorizationParams { state: Some(state), redirect_uri: None, ..fx.params(CONFIDENTIAL, None) };
    let issued = fx.issue_code_for(params, SessionOverride::default()).await.unwrap();
    let expected = format!("{REDIRECT_URI}&code={}&state=a+b%26c%3Dd%2F%C3%A9%3F%23", issued.code);
    assert_eq!(issued.redirect_to, expected);
    let (_, query) = issued.redirect_to.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let expected = [("tenant", "7"), ("code", issued.code.as_str()), ("state", state)];
    assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));

    let params = AuthorizationParams { state: None, ..fx.params(CONFIDENTIAL, None) };
    let issued = fx.issue_code_for(params, SessionOverride::default()).await.unwrap();
    assert_eq!(issued.redirect_to, format!("{REDIRECT_URI}&code={}", issued.code));
    fx.redeem(CONFIDENTIAL, &issued.code, &[]).await.expect("the code in redirect_to is redeemable");
}

#[tokio::test]
async fn codes_expire_after_the_configured_ttl() {
    let fx = Fixture::new(OAuthSettings { code_ttl_secs: 1, ..all_grants() });
    let fresh = fx.code(CONFIDENTIAL, None).await;
    let stale = fx.code(CONFIDENTIAL, None).await;
    fx.redeem(CONFIDENTIAL, &fresh, &[]).await.expect("a code is good within its TTL");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let e = assert_error(fx.redeem(CONFIDENTIAL, &stale, &[]).await, ErrorCode::InvalidGrant);
    assert_eq!(e.status(), 400);
}

// ---------------------------------------------------------------- password

#[tokio::test]
async fn password_grant_issues_tokens_for_the_resource_owner() {
    let fx = Fixture::new(all_grants());
    let mut params = password(USERNAME, PASSWORD).to_vec();
    params.push(("scope", "read"));
    let issued = fx.token_as(CHOSEN, &params).await.unwrap();
    assert_eq!((issued.grant, issued.response.scope.as_deref()), (GrantType::Password, Some("read")));
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert_eq!((session.username.as_deref(), session.grant), (Some(USERNAME), GrantType::Password));
    assert_eq!(session.policy_id, USER_POLICY, "the user's policy overrides the client's");
    let merged = meta(&[("tier", "gold"), ("region", "us"), ("email", "alice@example.com")]);
    assert_eq!(session.meta_data, merged, "user metadata merged over the client's");
    let grant = fx.refresh_grant(&refresh_token_of(&issued)).await.unwrap();
    assert_eq!((grant.username.as_deref(), grant.origin), (Some(USERNAME), GrantType::Password));

    let issued = fx.token_as(CONFIDENTIAL, &password(PLAIN_USERNAME, PASSWORD)).await.unwrap();
    let session = fx.session(&issued.response.access_token).await.unwrap();
    assert_eq!(session.policy_id, CLIENT_POLICY, "a user without a policy keeps the client's");
    assert_eq!(session.meta_data, meta(&[("tier", "gold"), ("region", "eu")]));
}

#[tokio::test]
async fn password_grant_refuses_bad_credentials_requests_and_public_clients() {
    let fx = Fixture::new(all_grants());
    let cases = [
        (password(USERNAME, "wrong"), ErrorCode::InvalidGrant),
        (password("mallory", PASSWORD), ErrorCode::InvalidGrant),
        (password(USERNAME, ""), ErrorCode::InvalidRequest),
        (password("", PASSWORD), ErrorCode::InvalidRequest),
    ];
    for (params, expected) in cases {
        assert_error(fx.token_as(CONFIDENTIAL, &params).await, expected);
    }
    let no_username = [("grant_type", "password"), ("password", PASSWORD)];
    assert_error(fx.token_as(CONFIDENTIAL, &no_username).await, ErrorCode::InvalidRequest);
    assert_error(fx.token_as(PUBLIC, &password(USERNAME, PASSWORD)).await, ErrorCode::UnauthorizedClient);
    assert_eq!(fx.store.len_including_expired(), 0, "nothing issued");
}

// ---------------------------------------------------------------- refresh_token

#[tokio::test]
async fn refresh_rotates_the_pair_and_deletes_the_old_access_token() {
    let fx = Fixture::new(all_grants());
    let first = fx.code_tokens().await;
    let old_refresh = refresh_token_of(&first);
    let family = fx.session(&first.response.access_token).await.unwrap().family_id;
    let later = NOW + 600;
    let params = [("grant_type", "refresh_token"), ("refresh_token", old_refresh.as_str())];
    let second = fx.token_on(fx.api(), CONFIDENTIAL, &params, later).await.unwrap();
    assert_eq!(
        (second.grant, second.old_refresh_token.as_deref()),
        (GrantType::RefreshToken, Some(&*old_refresh))
    );
    let new_refresh = refresh_token_of(&second);
    assert_ne!(second.response.access_token, first.response.access_token);
    assert_ne!(new_refresh, old_refresh);

    assert!(fx.session(&first.response.access_token).await.is_none(), "old access token deleted");
    assert!(fx.refresh_grant(&old_refresh).await.is_none(), "old refresh token spent");
    let session = fx.session(&second.response.access_token).await.unwrap();
    assert_eq!((session.family_id, session.grant), (family, GrantType::AuthorizationCode));
    assert_eq!((session.issued_at, session.expires_at), (later, later + DEFAULT_ACCESS_TTL));
    let grant = fx.refresh_grant(&new_refresh).await.unwrap();
    assert_eq!(
        grant.access_key,
        key_to_hex(&fx.hasher.key(kind::ACCESS_TOKEN, &second.response.access_token))
    );
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_family() {
    let fx = Fixture::new(all_grants());
    let first = fx.code_tokens().await;
    let old_refresh = refresh_token_of(&first);
    let second = fx.refresh(CONFIDENTIAL, &old_refresh, &[]).await.unwrap();

    assert_error(fx.refresh(CONFIDENTIAL, &old_refresh, &[]).await, ErrorCode::InvalidGrant);
    assert!(fx.session(&second.response.access_token).await.is_none(), "new access token revoked");
    let new_refresh = refresh_token_of(&second);
    assert!(fx.refresh_grant(&new_refresh).await.is_none(), "new refresh token revoked");
    assert_error(fx.refresh(CONFIDENTIAL, &new_refresh, &[]).await, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_refresh_token_presented_by_another_client_revokes_the_family() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let refresh = refresh_token_of(&issued);
    assert_error(fx.refresh(PARTNER, &refresh, &[]).await, ErrorCode::InvalidGrant);
    assert!(fx.session(&issued.response.access_token).await.is_none());
    assert!(fx.refresh_grant(&refresh).await.is_none());
    assert_error(fx.refresh(CONFIDENTIAL, &refresh, &[]).await, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn refresh_may_narrow_the_scope() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let narrowed = fx.refresh(CONFIDENTIAL, &refresh_token_of(&issued), &[("scope", "read")]).await.unwrap();
    assert_eq!(narrowed.response.scope.as_deref(), Some("read"));
    let session = fx.session(&narrowed.response.access_token).await.unwrap();
    assert_eq!(session.scope.as_deref(), Some("read"));
    let kept = fx.refresh(CONFIDENTIAL, &refresh_token_of(&narrowed), &[]).await.unwrap();
    assert!(fx.session(&kept.response.access_token).await.is_some());
}

/// RFC 6749 §6: "If a new refresh token is issued, the refresh token scope MUST be identical to
/// that of the refresh token included by the client in the request."
#[tokio::test]
async fn a_narrowed_refresh_keeps_the_original_scope_on_the_new_refresh_token() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let narrowed = fx.refresh(CONFIDENTIAL, &refresh_token_of(&issued), &[("scope", "read")]).await.unwrap();
    let grant = fx.refresh_grant(&refresh_token_of(&narrowed)).await.unwrap();
    assert_eq!(grant.scope.as_deref(), Some("read write"), "refresh token scope must not shrink");
    let other_part = fx.refresh(CONFIDENTIAL, &refresh_token_of(&narrowed), &[("scope", "write")]).await;
    assert_eq!(other_part.unwrap().response.scope.as_deref(), Some("write"));
}

#[tokio::test]
async fn refresh_may_not_widen_the_scope() {
    for scope in ["read write admin", "admin"] {
        let fx = Fixture::new(all_grants());
        let issued = fx.code_tokens().await;
        let e = fx.refresh(CONFIDENTIAL, &refresh_token_of(&issued), &[("scope", scope)]).await.unwrap_err();
        assert_eq!((e.error, e.status()), (ErrorCode::InvalidScope, 400), "{scope}");
        assert!(fx.session(&issued.response.access_token).await.is_some(), "nothing was revoked");
    }
}

/// RFC 6749 §6 lets the server revoke the old refresh token "after issuing a new refresh token";
/// a refused request issues none, so the client's refresh token must still work.
#[tokio::test]
async fn a_refused_scope_widening_leaves_the_refresh_token_usable() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let refresh = refresh_token_of(&issued);
    assert_error(fx.refresh(CONFIDENTIAL, &refresh, &[("scope", "admin")]).await, ErrorCode::InvalidScope);
    assert!(fx.refresh_grant(&refresh).await.is_some(), "refresh token still live");
    let retried = fx.refresh(CONFIDENTIAL, &refresh, &[]).await;
    assert!(retried.is_ok(), "retry without the bad scope must succeed: {:?}", retried.err());
}

#[tokio::test]
async fn refresh_is_refused_when_the_api_does_not_allow_it() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let refresh = refresh_token_of(&issued);
    let mut api = fx.api().clone();
    api.oauth = Some(settings(&[GrantType::AuthorizationCode]));
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    assert_error(fx.token_on(&api, CONFIDENTIAL, &params, NOW).await, ErrorCode::UnauthorizedClient);
    assert!(fx.refresh_grant(&refresh).await.is_some(), "the refresh token was not spent");
    assert!(fx.session(&issued.response.access_token).await.is_some());
}

// ---------------------------------------------------------------- introspection

#[tokio::test]
async fn introspection_describes_live_access_and_refresh_tokens() {
    let fx = Fixture::new(all_grants());
    let issued = fx.token_as(CONFIDENTIAL, &password(USERNAME, PASSWORD)).await.unwrap();
    let access = &issued.response.access_token;
    for hint in [None, Some("access_token"), Some("refresh_token")] {
        let i = introspect::introspect(&fx.store, &fx.hasher, fx.api(), access, hint, NOW + 1).await.unwrap();
        let expected = Introspection {
            active: true,
            client_id: Some(CONFIDENTIAL.into()),
            token_type: Some("bearer"),
            scope: None,
            username: Some(USERNAME.into()),
            exp: Some(NOW + DEFAULT_ACCESS_TTL),
            iat: Some(NOW),
        };
        assert_eq!(i, expected, "{hint:?}");
    }
    let refresh = refresh_token_of(&issued);
    let i = introspect::introspect(&fx.store, &fx.hasher, fx.api(), &refresh, None, NOW + 1).await.unwrap();
    assert_eq!(
        (i.active, i.token_type, i.client_id.as_deref()),
        (true, None, Some(CONFIDENTIAL)),
        "RFC 6749 §7.1 defines no type for refresh tokens"
    );
    assert_eq!((i.exp, i.iat), (Some(NOW + DEFAULT_REFRESH_TTL), Some(NOW)));
}

#[tokio::test]
async fn introspection_reports_unknown_expired_spent_and_foreign_tokens_inactive() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let (access, refresh) = (issued.response.access_token.clone(), refresh_token_of(&issued));
    let foreign = fx.token_on(fx.other_api(), CONFIDENTIAL, &cc(), NOW).await.unwrap().response.access_token;
    let far_future = NOW + 10 * DEFAULT_REFRESH_TTL;
    let cases = [
        ("unknown", "no-such-token".to_owned(), NOW),
        ("expired access token", access.clone(), NOW + DEFAULT_ACCESS_TTL),
        ("expired refresh token", refresh.clone(), far_future),
        ("another API's token", foreign.clone(), NOW),
    ];
    for (what, token, now) in cases {
        let i = introspect::introspect(&fx.store, &fx.hasher, fx.api(), &token, None, now).await.unwrap();
        assert_eq!(i, Introspection::default(), "{what}");
        assert_eq!(serde_json::to_string(&i).unwrap(), r#"{"active":false}"#, "RFC 7662 §2.2");
    }
    let on_other = introspect::introspect(&fx.store, &fx.hasher, fx.other_api(), &foreign, None, NOW).await;
    assert!(on_other.unwrap().active, "live on its own API");

    fx.refresh(CONFIDENTIAL, &refresh, &[]).await.unwrap();
    for token in [&access, &refresh] {
        let i = introspect::introspect(&fx.store, &fx.hasher, fx.api(), token, None, NOW).await.unwrap();
        assert!(!i.active, "spent or replaced by the refresh");
    }
}

// ---------------------------------------------------------------- revocation

/// A client of the fixture's API, as its revocation endpoint names it.
fn owner(client_id: &str) -> introspect::Owner<'_> {
    introspect::Owner { api_id: Some(API_ID), client_id }
}

#[tokio::test]
async fn the_same_client_id_on_another_api_cannot_revoke() {
    let fx = Fixture::new(all_grants());
    let issued = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap();
    let token = &issued.response.access_token;
    let elsewhere = introspect::Owner { api_id: Some(OTHER_API_ID), client_id: CONFIDENTIAL };
    let r = introspect::revoke(&fx.store, &fx.hasher, elsewhere, token, None, WINDOW).await.unwrap();
    assert_eq!(r, Revocation::OtherClient, "client ids are unique per API only");
    assert!(fx.session(token).await.is_some());
}

#[tokio::test]
async fn revoking_an_access_token_deletes_it() {
    let fx = Fixture::new(all_grants());
    let issued = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap();
    let token = &issued.response.access_token;
    let r =
        introspect::revoke(&fx.store, &fx.hasher, owner(CONFIDENTIAL), token, None, WINDOW).await.unwrap();
    assert_eq!(r, Revocation::AccessToken);
    assert!(fx.session(token).await.is_none());
    let again = introspect::revoke(&fx.store, &fx.hasher, owner(CONFIDENTIAL), token, None, WINDOW).await;
    assert_eq!(again.unwrap(), Revocation::Unknown, "RFC 7009 §2.2: revoking twice is harmless");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    for hint in [Some("refresh_token"), Some("access_token"), None] {
        let fx = Fixture::new(all_grants());
        let issued = fx.code_tokens().await;
        let refresh = refresh_token_of(&issued);
        let r = introspect::revoke(&fx.store, &fx.hasher, owner(CONFIDENTIAL), &refresh, hint, WINDOW).await;
        assert_eq!(r.unwrap(), Revocation::RefreshFamily, "{hint:?}");
        assert!(fx.session(&issued.response.access_token).await.is_none(), "RFC 7009 §2.1");
        assert!(fx.refresh_grant(&refresh).await.is_none());
        assert_error(fx.refresh(CONFIDENTIAL, &refresh, &[]).await, ErrorCode::InvalidGrant);
    }
    // After a rotation, the family's current pair is what goes.
    let fx = Fixture::new(all_grants());
    let first = fx.code_tokens().await;
    let second = fx.refresh(CONFIDENTIAL, &refresh_token_of(&first), &[]).await.unwrap();
    let refresh = refresh_token_of(&second);
    let admin = introspect::Owner { api_id: None, client_id: CONFIDENTIAL };
    let r = introspect::revoke(&fx.store, &fx.hasher, admin, &refresh, None, WINDOW).await.unwrap();
    assert_eq!(r, Revocation::RefreshFamily, "admins name the client, not the API");
    assert!(fx.session(&second.response.access_token).await.is_none());
    assert!(fx.refresh_grant(&refresh).await.is_none());
}

#[tokio::test]
async fn revoking_another_clients_token_changes_nothing() {
    let fx = Fixture::new(all_grants());
    let issued = fx.code_tokens().await;
    let (access, refresh) = (issued.response.access_token.clone(), refresh_token_of(&issued));
    for token in [&access, &refresh] {
        let r = introspect::revoke(&fx.store, &fx.hasher, owner(PARTNER), token, None, WINDOW).await.unwrap();
        assert_eq!(r, Revocation::OtherClient);
    }
    assert!(fx.session(&access).await.is_some());
    assert!(fx.refresh_grant(&refresh).await.is_some());
    let r = introspect::revoke(&fx.store, &fx.hasher, owner(PARTNER), "no-such-token", None, WINDOW).await;
    assert_eq!(r.unwrap(), Revocation::Unknown);
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn errors_carry_rfc_6749_codes_and_statuses() {
    let table = [
        (ErrorCode::InvalidRequest, "invalid_request", 400),
        (ErrorCode::InvalidClient, "invalid_client", 401),
        (ErrorCode::InvalidGrant, "invalid_grant", 400),
        (ErrorCode::UnauthorizedClient, "unauthorized_client", 400),
        (ErrorCode::UnsupportedGrantType, "unsupported_grant_type", 400),
        (ErrorCode::InvalidScope, "invalid_scope", 400),
        (ErrorCode::AccessDenied, "access_denied", 400),
        (ErrorCode::UnsupportedResponseType, "unsupported_response_type", 400),
        (ErrorCode::ServerError, "server_error", 500),
        (ErrorCode::TemporarilyUnavailable, "temporarily_unavailable", 503),
    ];
    for (code, name, status) in table {
        // RFC 6749 §5.2 leaves `"` out of error_description's characters.
        let e = OAuthError::new(code, "why \"quoted\"");
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json, serde_json::json!({"error": name, "error_description": "why 'quoted'"}));
        assert_eq!(e.status(), status, "{name}");
    }

    // And as the token endpoint produces them.
    let fx = Fixture::new(all_grants());
    let auth = basic(CONFIDENTIAL, &fx.secret);
    let cases = [
        ("grant_type=implicit", ErrorCode::UnsupportedGrantType),
        ("scope=read", ErrorCode::InvalidRequest),
        ("grant_type=client_credentials&grant_type=password", ErrorCode::InvalidRequest),
        ("grant_type=authorization_code", ErrorCode::InvalidRequest),
        ("grant_type=refresh_token", ErrorCode::InvalidRequest),
        ("grant_type=authorization_code&code=bogus", ErrorCode::InvalidGrant),
        ("grant_type=refresh_token&refresh_token=bogus", ErrorCode::InvalidGrant),
    ];
    for (body, expected) in cases {
        let e = fx.token_raw(fx.api(), body, Some(&auth), NOW).await.unwrap_err();
        assert_eq!((e.error, e.status()), (expected, 400), "{body}");
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["error"], serde_json::to_value(expected).unwrap(), "{body}");
        assert!(json.get("basic_challenge").is_none());
    }
}
