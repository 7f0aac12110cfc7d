//! RFC 6749 §4.4: the client_credentials grant, through the public API over the in-memory
//! token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_model::{GrantType, OAuthSettings};
use gatehouse_oauth::ErrorCode;
use support::*;

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
