//! RFC 6749 §5.2 error responses.

use serde::Serialize;

/// The error codes of RFC 6749 §5.2 (and §4.1.2.1 for the authorization endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The code as RFC 6749 spells it (as serialized), for logs, traces and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error as the token endpoint answers it: `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct OAuthError {
    pub error: ErrorCode,
    pub error_description: String,
    /// The client tried HTTP Basic and failed: RFC 6749 §5.2 requires 401 with a
    /// `WWW-Authenticate` challenge for the scheme it used.
    #[serde(skip)]
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self { error, error_description: description.into(), basic_challenge: false }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// Client authentication failed. Deliberately one message for unknown client and wrong
    /// secret, so the answer does not reveal which client ids exist.
    pub fn invalid_client(used_basic: bool) -> Self {
        Self {
            basic_challenge: used_basic,
            ..Self::new(ErrorCode::InvalidClient, "client authentication failed")
        }
    }

    /// HTTP status per RFC 6749 §5.2: 401 for failed client authentication, 503/500 for our own
    /// failures, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self.error {
            ErrorCode::InvalidClient => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and a unit enum cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"error\":\"server_error\"}"))
    }
}

/// Our storage failing is not the client's fault: RFC 6749's `temporarily_unavailable`.
pub(crate) fn store_unavailable(error: gatehouse_store::StoreError) -> OAuthError {
    tracing::error!(%error, "token store unavailable");
    OAuthError::new(ErrorCode::TemporarilyUnavailable, "token storage is unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_rfc_6749_json() {
        let e = OAuthError::invalid_request("missing grant_type");
        assert_eq!(e.to_json(), r#"{"error":"invalid_request","error_description":"missing grant_type"}"#);
        assert_eq!(e.status(), 400);
        let c = OAuthError::invalid_client(true);
        assert_eq!(c.status(), 401);
        assert!(c.basic_challenge);
    }
}
