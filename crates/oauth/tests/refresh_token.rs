//! RFC 6749 §6 with RFC 9700 §4.14.2 rotation: the refresh_token grant, through the public API
//! over the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_model::GrantType;
use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::token::{key_to_hex, kind};
use support::*;

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
