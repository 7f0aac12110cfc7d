//! What a token request asks for, typed: one [`GrantRequest`] variant per grant, carrying that
//! grant's parameters, read once from the strictly parsed form ([`TokenRequest`]).
//!
//! The token endpoint reads the request in two steps, so that its refusals keep their order:
//! [`TokenRequest::grant_type`] before client authentication (an unknown grant costs no secret
//! verification), [`GrantRequest::parse`] after it and after the API has admitted the grant
//! (scope syntax, then the grant's required parameters). The grant handlers in
//! [`crate::grants`] receive their variant and read no parameters of their own.

use gatehouse_model::GrantType;

use crate::{OAuthError, TokenRequest, scope};

/// A request parameter that proves something (a code, password, refresh token or PKCE
/// verifier): `Debug` never shows it, so a request can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// The grant a token request asks for, with its parameters (RFC 6749 §4.1.3, §4.3.2, §4.4.2,
/// §6). Client authentication is not part of it: it stays in [`TokenRequest::credentials`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRequest {
    AuthorizationCode(AuthorizationCodeRequest),
    ClientCredentials(ClientCredentialsRequest),
    Password(PasswordRequest),
    RefreshToken(RefreshTokenRequest),
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRequest {
    pub code: Redacted,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<Redacted>,
}

/// RFC 6749 §4.4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentialsRequest {
    pub scope: Option<String>,
}

/// RFC 6749 §4.3.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    pub username: String,
    pub password: Redacted,
    pub scope: Option<String>,
}

/// RFC 6749 §6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRequest {
    pub refresh_token: Redacted,
    pub scope: Option<String>,
}

impl GrantRequest {
    /// The parameters of the `grant_type` grant (read before, by [`TokenRequest::grant_type`]):
    /// `invalid_scope` for a malformed `scope` (whichever the grant), then `invalid_request`
    /// for the first required parameter missing.
    pub fn parse(grant_type: GrantType, request: &TokenRequest) -> Result<Self, OAuthError> {
        let scope = request.param("scope");
        scope::check(scope)?;
        let scope = scope.map(str::to_owned);
        let secret = |name: &str| request.require(name).map(Redacted::new);
        Ok(match grant_type {
            GrantType::AuthorizationCode => Self::AuthorizationCode(AuthorizationCodeRequest {
                code: secret("code")?,
                redirect_uri: request.param("redirect_uri").map(str::to_owned),
                code_verifier: request.param("code_verifier").map(Redacted::new),
            }),
            GrantType::ClientCredentials => Self::ClientCredentials(ClientCredentialsRequest { scope }),
            GrantType::Password => Self::Password(PasswordRequest {
                username: request.require("username")?.to_owned(),
                password: secret("password")?,
                scope,
            }),
            GrantType::RefreshToken => {
                Self::RefreshToken(RefreshTokenRequest { refresh_token: secret("refresh_token")?, scope })
            }
        })
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
            Self::Password(_) => GrantType::Password,
            Self::RefreshToken(_) => GrantType::RefreshToken,
        }
    }
}
