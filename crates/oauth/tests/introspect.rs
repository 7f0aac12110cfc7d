//! Introspection (RFC 7662) and revocation (RFC 7009) of the tokens the grants issue, through
//! the public API over the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use std::time::Duration;

use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::introspect::{self, Introspection, Revocation};
use support::*;

const WINDOW: Duration = Duration::from_secs(DEFAULT_REFRESH_TTL);

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
        // Live through its last second, NOW + DEFAULT_ACCESS_TTL; expired after it.
        ("expired access token", access.clone(), NOW + DEFAULT_ACCESS_TTL + 1),
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

/// The client's live tokens, as the Dashboard's token listing reads them.
async fn listed(fx: &Fixture, client_id: &str) -> usize {
    use gatehouse_model::storage::{ClientRef, ClientTokenIndex};
    let client = ClientRef { api_id: API_ID, client_id };
    let (page, total) = fx.store.list_client_tokens(&client, NOW, 0, 100).await.unwrap();
    assert_eq!(page.len(), total);
    total
}

/// Whatever ends a token ends its place in the client's token listing: revoking an access
/// token or a refresh token, and a replayed code killing its family.
#[tokio::test]
async fn revoked_tokens_leave_the_clients_listing() {
    let fx = Fixture::new(all_grants());
    let plain = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap();
    let by_refresh = fx.code_tokens().await;
    let code = fx.code(CONFIDENTIAL, None).await;
    fx.redeem(CONFIDENTIAL, &code, &[]).await.unwrap();
    let kept = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap();
    assert_eq!(listed(&fx, CONFIDENTIAL).await, 4);

    let token = &plain.response.access_token;
    let r = introspect::revoke(&fx.store, &fx.hasher, owner(CONFIDENTIAL), token, None, WINDOW).await;
    assert_eq!(r.unwrap(), Revocation::AccessToken);
    let refresh = refresh_token_of(&by_refresh);
    let r = introspect::revoke(&fx.store, &fx.hasher, owner(CONFIDENTIAL), &refresh, None, WINDOW).await;
    assert_eq!(r.unwrap(), Revocation::RefreshFamily);
    // The code again: a replay, which revokes the family it issued.
    assert_error(fx.redeem(CONFIDENTIAL, &code, &[]).await, ErrorCode::InvalidGrant);
    assert_eq!(listed(&fx, CONFIDENTIAL).await, 1);
    assert!(fx.session(&kept.response.access_token).await.is_some());
}

// ---------------------------------------------------------------- revoke-all (Tyk's)

#[tokio::test]
async fn revoke_all_takes_every_token_of_the_client_on_its_api_only() {
    let fx = Fixture::new(all_grants());
    let cc_token = fx.token_as(CONFIDENTIAL, &cc()).await.unwrap().response.access_token;
    let family = fx.code_tokens().await;
    let elsewhere =
        fx.token_on(fx.other_api(), CONFIDENTIAL, &cc(), NOW).await.unwrap().response.access_token;
    let client = fx.state.client(API_ID, CONFIDENTIAL).unwrap();
    let count = introspect::revoke_all(&fx.store, client, WINDOW).await.unwrap();
    assert_eq!(count, 2, "the access token and the code's family");
    assert!(fx.session(&cc_token).await.is_none());
    assert!(fx.session(&family.response.access_token).await.is_none());
    assert_error(fx.refresh(CONFIDENTIAL, &refresh_token_of(&family), &[]).await, ErrorCode::InvalidGrant);
    assert!(fx.session(&elsewhere).await.is_some(), "the same client id on another API is another client");
}

#[tokio::test]
async fn a_public_client_cannot_revoke_all() {
    let fx = Fixture::new(all_grants());
    let client = fx.state.client(API_ID, PUBLIC).unwrap();
    let e = introspect::revoke_all(&fx.store, client, WINDOW).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::UnauthorizedClient);
}
