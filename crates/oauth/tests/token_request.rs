//! The token endpoint's request: the form read into a typed [`GrantRequest`] (each grant's
//! required parameters, secrets kept out of `Debug`), and the RFC 6749 §5.2 errors the endpoint
//! answers with.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves every test file; this one uses part of it.
#[allow(dead_code)]
mod support;

use gatehouse_model::GrantType;
use gatehouse_oauth::grant_request::{
    AuthorizationCodeRequest, ClientCredentialsRequest, PasswordRequest, Redacted, RefreshTokenRequest,
};
use gatehouse_oauth::{ErrorCode, GrantRequest, OAuthError, TokenRequest};
use support::*;

/// The typed grant of a form body, as the token endpoint reads it.
fn grant_of(body: &str) -> Result<GrantRequest, OAuthError> {
    let request = TokenRequest::parse(body.as_bytes(), None)?;
    GrantRequest::parse(request.grant_type()?, &request)
}

fn some(value: &str) -> Option<String> {
    Some(value.to_owned())
}

#[test]
fn each_grant_type_reads_its_own_parameters() {
    let cases = [
        (
            "grant_type=authorization_code&code=c1&redirect_uri=https%3A%2F%2Fa.example%2Fcb&code_verifier=v1&scope=ignored",
            GrantRequest::AuthorizationCode(AuthorizationCodeRequest {
                code: Redacted::new("c1"),
                redirect_uri: some("https://a.example/cb"),
                code_verifier: Some(Redacted::new("v1")),
            }),
        ),
        (
            "grant_type=authorization_code&code=c1",
            GrantRequest::AuthorizationCode(AuthorizationCodeRequest {
                code: Redacted::new("c1"),
                redirect_uri: None,
                code_verifier: None,
            }),
        ),
        (
            "grant_type=client_credentials&scope=read+write&username=ignored",
            GrantRequest::ClientCredentials(ClientCredentialsRequest { scope: some("read write") }),
        ),
        (
            "grant_type=client_credentials",
            GrantRequest::ClientCredentials(ClientCredentialsRequest { scope: None }),
        ),
        (
            "grant_type=password&username=alice&password=p+w&scope=read",
            GrantRequest::Password(PasswordRequest {
                username: "alice".into(),
                password: Redacted::new("p w"),
                scope: some("read"),
            }),
        ),
        (
            "grant_type=refresh_token&refresh_token=r1",
            GrantRequest::RefreshToken(RefreshTokenRequest {
                refresh_token: Redacted::new("r1"),
                scope: None,
            }),
        ),
    ];
    for (body, expected) in cases {
        let grant = grant_of(body).unwrap();
        assert_eq!(grant, expected, "{body}");
        let named = body.trim_start_matches("grant_type=").split('&').next().unwrap();
        assert_eq!(grant.grant_type().as_str(), named, "{body}");
    }
}

#[test]
fn grant_types_are_named_as_rfc_6749_spells_them_and_nothing_else() {
    for grant in GrantType::ALL {
        assert_eq!(grant.as_str().parse::<GrantType>(), Ok(grant));
    }
    for unknown in
        ["implicit", "Password", "client_credentials ", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    {
        let request = TokenRequest::parse(form(&[("grant_type", unknown)]).as_bytes(), None).unwrap();
        let e = request.grant_type().unwrap_err();
        assert_eq!(
            (e.error, e.error_description.as_str()),
            (ErrorCode::UnsupportedGrantType, "unknown grant_type")
        );
    }
    for absent in ["", "grant_type=", "scope=read"] {
        let e = TokenRequest::parse(absent.as_bytes(), None).unwrap().grant_type().unwrap_err();
        assert_eq!(
            (e.error, e.error_description.as_str()),
            (ErrorCode::InvalidRequest, "missing parameter: grant_type"),
            "{absent:?}"
        );
    }
}

#[test]
fn a_missing_or_empty_required_parameter_is_invalid_request_naming_it() {
    let cases = [
        ("grant_type=authorization_code", "code"),
        ("grant_type=authorization_code&code=&redirect_uri=x", "code"),
        ("grant_type=password&password=p", "username"),
        ("grant_type=password", "username"),
        ("grant_type=password&username=alice", "password"),
        ("grant_type=password&username=alice&password=", "password"),
        ("grant_type=refresh_token&scope=read", "refresh_token"),
    ];
    for (body, missing) in cases {
        let e = grant_of(body).unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidRequest, "{body}");
        assert_eq!(e.error_description, format!("missing parameter: {missing}"), "{body}");
    }
}

#[test]
fn a_malformed_scope_is_invalid_scope_for_every_grant_before_missing_parameters() {
    for grant in GrantType::ALL {
        let body = form(&[("grant_type", grant.as_str()), ("scope", "read  write")]);
        assert_eq!(grant_of(&body).unwrap_err().error, ErrorCode::InvalidScope, "{body}");
    }
}

#[test]
fn debug_of_a_request_never_shows_codes_passwords_refresh_tokens_verifiers_or_secrets() {
    let secrets = ["c0de-secret", "pa55-secret", "r3fresh-secret", "ver1fier-secret", "cl1ent-secret"];
    let bodies = [
        form(&[("grant_type", "authorization_code"), ("code", secrets[0]), ("code_verifier", secrets[3])]),
        form(&[("grant_type", "password"), ("username", "alice"), ("password", secrets[1])]),
        form(&[("grant_type", "refresh_token"), ("refresh_token", secrets[2]), ("scope", "read")]),
    ];
    for body in bodies {
        let body = format!("{body}&client_id=app&client_secret={}", secrets[4]);
        let request = TokenRequest::parse(body.as_bytes(), None).unwrap();
        let grant = GrantRequest::parse(request.grant_type().unwrap(), &request).unwrap();
        let debug = format!("{request:?} {grant:?}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    let request = TokenRequest::parse(b"grant_type=password&username=alice&password=pw", None).unwrap();
    let grant = GrantRequest::parse(GrantType::Password, &request).unwrap();
    assert!(format!("{grant:?}").contains("alice"), "the username and scope are no secrets");
}

#[test]
fn client_authentication_stays_beside_the_grant() {
    let body = "grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret";
    let request =
        TokenRequest::parse(body.as_bytes(), Some("Basic bXktY2xpZW50LWlkOm15LWNsaWVudC1zZWNyZXQ=")).unwrap();
    let credentials = request.credentials.as_ref().unwrap();
    assert_eq!((credentials.client_id.as_str(), credentials.via_basic), ("my-client-id", true));
    let grant = GrantRequest::parse(request.grant_type().unwrap(), &request).unwrap();
    assert_eq!(grant, GrantRequest::ClientCredentials(ClientCredentialsRequest { scope: None }));
}

/// The endpoint refuses in a fixed order: the grant type, client authentication, whether the
/// API and client may use the grant, the scope syntax, then the grant's parameters.
#[tokio::test]
async fn refusals_keep_their_order_grant_type_client_admission_scope_parameters() {
    let fx = Fixture::new(settings(&[GrantType::AuthorizationCode, GrantType::Password]));
    let wrong = basic(CONFIDENTIAL, "not-the-secret");
    let right = basic(CONFIDENTIAL, &fx.secret);
    let cases = [
        ("grant_type=implicit", &wrong, ErrorCode::UnsupportedGrantType),
        ("code=x", &wrong, ErrorCode::InvalidRequest),
        ("grant_type=authorization_code", &wrong, ErrorCode::InvalidClient),
        ("grant_type=refresh_token", &right, ErrorCode::UnauthorizedClient),
        ("grant_type=client_credentials&scope=a%22b", &right, ErrorCode::UnauthorizedClient),
        ("grant_type=authorization_code&scope=a%22b", &right, ErrorCode::InvalidScope),
        ("grant_type=password&scope=read", &right, ErrorCode::InvalidRequest),
    ];
    for (body, auth, expected) in cases {
        let e = fx.token_raw(fx.api(), body, Some(auth), NOW).await.unwrap_err();
        assert_eq!(e.error, expected, "{body}");
    }
    let public = form(&[("grant_type", "password"), ("client_id", PUBLIC), ("username", USERNAME)]);
    let e = fx.token_raw(fx.api(), &public, None, NOW).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::UnauthorizedClient, "before the missing password");
    assert_eq!(fx.store.len_including_expired(), 0);
}

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
