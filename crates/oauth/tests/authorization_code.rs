//! RFC 6749 §4.1.3 with RFC 7636: redeeming authorization codes, through the public API over
//! the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use gatehouse_model::{GrantType, OAuthSettings};
use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::authorize::SessionOverride;
use gatehouse_oauth::token::{key_to_hex, kind};
use support::*;

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
async fn codes_expire_after_the_configured_ttl() {
    let fx = Fixture::new(OAuthSettings { code_ttl_secs: 1, ..all_grants() });
    let fresh = fx.code(CONFIDENTIAL, None).await;
    let stale = fx.code(CONFIDENTIAL, None).await;
    fx.redeem(CONFIDENTIAL, &fresh, &[]).await.expect("a code is good within its TTL");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let e = assert_error(fx.redeem(CONFIDENTIAL, &stale, &[]).await, ErrorCode::InvalidGrant);
    assert_eq!(e.status(), 400);
}
