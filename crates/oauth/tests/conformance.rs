//! RFC details a conformance review checks, through the public API over the in-memory store:
//! scope syntax and echo (RFC 6749 §3.3, §5.1), the redirect URI a code's redemption must
//! repeat (§4.1.3), secrets kept out of authorization requests, and error descriptions within
//! §5.2's character set.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_oauth::authorize::{self, AuthorizationParams, SessionOverride};
use gatehouse_oauth::error::is_description_char;
use gatehouse_oauth::{ErrorCode, introspect};
use support::*;

const MALFORMED_SCOPES: [&str; 5] = ["read  write", " read", "a\"b", "a\\b", "r\u{e9}ad"];

#[tokio::test]
async fn client_credentials_grants_and_echoes_the_scope_asked_for() {
    let fx = Fixture::new(all_grants());
    let issued =
        fx.token_as(CONFIDENTIAL, &[("grant_type", "client_credentials"), ("scope", "read write")]).await;
    let response = issued.unwrap().response;
    assert_eq!(response.scope.as_deref(), Some("read write"), "RFC 6749 §5.1, as Tyk echoes it");
    let session = fx.session(&response.access_token).await.unwrap();
    assert_eq!(session.scope.as_deref(), Some("read write"), "the token carries what the response says");
    let i = introspect::introspect(&fx.store, &fx.hasher, fx.api(), &response.access_token, None, NOW)
        .await
        .unwrap();
    assert_eq!(i.scope.as_deref(), Some("read write"));
}

#[tokio::test]
async fn every_grant_returns_the_scope_it_issued() {
    let fx = Fixture::new(all_grants());
    let mut params = password(USERNAME, PASSWORD).to_vec();
    params.push(("scope", "read"));
    let pw = fx.token_as(CONFIDENTIAL, &params).await.unwrap();
    assert_eq!(pw.response.scope.as_deref(), Some("read"));
    // The code's scope comes from the authorization request; the token request names none.
    let code = fx.code_tokens().await;
    assert_eq!(code.response.scope.as_deref(), Some("read write"));
    // A refresh that asks for less returns what it issued.
    let narrowed = fx.refresh(CONFIDENTIAL, &refresh_token_of(&code), &[("scope", "write")]).await.unwrap();
    assert_eq!(narrowed.response.scope.as_deref(), Some("write"));
}

#[tokio::test]
async fn malformed_scopes_are_invalid_scope_at_every_grant_and_the_authorization_request() {
    let fx = Fixture::new(all_grants());
    let refresh = refresh_token_of(&fx.code_tokens().await);
    for scope in MALFORMED_SCOPES {
        let mut pw = password(USERNAME, PASSWORD).to_vec();
        pw.push(("scope", scope));
        for params in [vec![("grant_type", "client_credentials"), ("scope", scope)], pw] {
            let e = assert_error(fx.token_as(CONFIDENTIAL, &params).await, ErrorCode::InvalidScope);
            assert!(e.error_description.chars().all(is_description_char), "{e:?}");
        }
        let e = fx.refresh(CONFIDENTIAL, &refresh, &[("scope", scope)]).await;
        assert_error(e, ErrorCode::InvalidScope);
        let params = AuthorizationParams { scope: Some(scope), ..fx.params(CONFIDENTIAL, None) };
        let e = fx.issue_code_for(params, SessionOverride::default()).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidScope, "{scope:?}");
    }
    assert!(fx.refresh_grant(&refresh).await.is_some(), "a refused refresh does not spend the token");
}

#[tokio::test]
async fn a_code_asked_for_with_a_redirect_uri_needs_the_same_one_to_be_redeemed() {
    let fx = Fixture::new(all_grants());
    let code = fx.code(CONFIDENTIAL, None).await;
    let without = [("grant_type", "authorization_code"), ("code", code.as_str())];
    let e = assert_error(fx.token_as(CONFIDENTIAL, &without).await, ErrorCode::InvalidGrant);
    assert!(e.error_description.contains("redirect_uri"), "{e:?}");

    // Asked for without one (the registered URI is used): the redemption may omit it too.
    let params = AuthorizationParams { redirect_uri: None, ..fx.params(CONFIDENTIAL, None) };
    let code = fx.issue_code_for(params, SessionOverride::default()).await.unwrap().code;
    let without = [("grant_type", "authorization_code"), ("code", code.as_str())];
    fx.token_as(CONFIDENTIAL, &without)
        .await
        .expect("RFC 6749 §4.1.3 requires redirect_uri only when the request had one");
}

#[tokio::test]
async fn an_authorization_request_carrying_a_client_secret_is_refused() {
    let fx = Fixture::new(all_grants());
    let secret = fx.secret.clone();
    let params = AuthorizationParams { client_secret: Some(&secret), ..fx.params(CONFIDENTIAL, None) };
    let e = authorize::validate(fx.api(), params, |id| fx.state.client(API_ID, id)).unwrap_err();
    assert_eq!((e.error, e.status()), (ErrorCode::InvalidRequest, 400));
    assert!(!e.error_description.contains(&secret));
    assert_eq!(fx.store.len_including_expired(), 0);
}
