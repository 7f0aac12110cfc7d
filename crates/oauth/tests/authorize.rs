//! The authorization request (RFC 6749 §4.1.1, §4.1.2) and the codes minted for it, through
//! the public API over the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_model::GrantType;
use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::authorize::{self, AuthorizationParams, SessionOverride};
use support::*;

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
