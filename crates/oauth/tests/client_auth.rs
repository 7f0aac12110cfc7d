//! Client authentication at the token endpoint (RFC 6749 §2.3.1, §3.2.1, §5.2): wrong, unknown
//! and missing credentials, over the in-memory token store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_oauth::ErrorCode;
use support::*;

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

/// A secret migrated from Tyk holding `+` and `%`, sent over HTTP Basic the way curl `-u`,
/// requests and authlib send it (unencoded), or strictly encoded (RFC 6749 §2.3.1), works
/// either way, for a chosen (Argon2id) and a generated (SHA-256) secret alike.
#[tokio::test]
async fn a_basic_secret_with_plus_or_percent_works_sent_raw_or_encoded() {
    const SECRET: &str = "tyk+migrated%2Fsecret";
    let mut fx = Fixture::new(all_grants());
    let template = fx.state.clients[API_ID][CHOSEN].clone();
    for (client_id, hash) in [
        ("tyk-argon", gatehouse_oauth::secret::hash_chosen(SECRET).unwrap()),
        ("tyk-sha", gatehouse_oauth::secret::hash_generated(SECRET)),
    ] {
        let mut client = template.clone();
        client.client_id = client_id.into();
        client.secret_hash = Some(hash);
        fx.state.clients.get_mut(API_ID).unwrap().insert(client_id.into(), client);
    }
    for client_id in ["tyk-argon", "tyk-sha"] {
        let raw = format!("Basic {}", STANDARD.encode(format!("{client_id}:{SECRET}")));
        for (how, auth) in [("raw", raw), ("encoded", basic(client_id, SECRET))] {
            let issued = fx.token_raw(fx.api(), "grant_type=client_credentials", Some(&auth), NOW).await;
            assert!(issued.is_ok(), "{client_id} {how}: {:?}", issued.err());
        }
        // What the raw secret decodes to ("tyk migrated/secret"), sent as is, is not the secret.
        let decoded = format!("Basic {}", STANDARD.encode(format!("{client_id}:tyk migrated/secret")));
        let e =
            fx.token_raw(fx.api(), "grant_type=client_credentials", Some(&decoded), NOW).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidClient, "{client_id}");
    }
}
