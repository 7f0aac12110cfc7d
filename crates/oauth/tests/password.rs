//! RFC 6749 §4.3: the resource owner password credentials grant, through the public API over
//! the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_model::GrantType;
use gatehouse_oauth::ErrorCode;
use support::*;

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
