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
    /// Human-readable text for the client developer. Built by [`OAuthError::new`], which keeps
    /// it to the RFC 6749 §5.2 character set; serialising enforces that again for values set
    /// directly, so no response ever carries a byte outside it.
    #[serde(serialize_with = "serialize_description")]
    pub error_description: String,
    /// The client tried HTTP Basic and failed: RFC 6749 §5.2 requires 401 with a
    /// `WWW-Authenticate` challenge for the scheme it used.
    #[serde(skip)]
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self { error, error_description: sanitize_description(&description.into()), basic_challenge: false }
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

/// Whether `c` may appear in `error_description`: RFC 6749 §5.2 allows
/// `%x20-21 / %x23-5B / %x5D-7E`, printable ASCII without `"` and `\`.
pub fn is_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// `text` within the RFC 6749 §5.2 character set: quotes become `'`, backslashes `/`, and any
/// other character outside it (control bytes, non-ASCII) `?`. Descriptions are our own
/// sentences, so this only ever changes something that should not have been echoed.
pub fn sanitize_description(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if is_description_char(c) => c,
            '"' => '\'',
            '\\' => '/',
            _ => '?',
        })
        .collect()
}

fn serialize_description<S: serde::Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    if text.chars().all(is_description_char) {
        serializer.serialize_str(text)
    } else {
        serializer.serialize_str(&sanitize_description(text))
    }
}

/// Parameter names a description may name: the ones the endpoints define. Anything else the
/// request sent is the caller's text and is never echoed back.
const KNOWN_PARAMETERS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "username",
    "password",
    "token",
    "token_type_hint",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// How a description refers to a parameter the request named: by its name when the protocol
/// defines it, otherwise as "a parameter".
pub(crate) fn parameter_label(name: &str) -> String {
    match KNOWN_PARAMETERS.iter().find(|known| **known == name) {
        Some(known) => format!("parameter {known}"),
        None => String::from("a parameter"),
    }
}

/// Our storage failing is not the client's fault: RFC 6749's `temporarily_unavailable`.
pub(crate) fn store_unavailable(error: gatehouse_model::storage::StoreError) -> OAuthError {
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

    fn conforms(json: &str) -> bool {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        value["error_description"].as_str().unwrap().chars().all(is_description_char)
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6749_character_set() {
        let hostile = "a \"quoted\" back\\slash\u{0}nul\ttab\n\u{7f}é\u{202e}";
        let e = OAuthError::invalid_request(hostile);
        assert_eq!(e.error_description, "a 'quoted' back/slash?nul?tab????");
        assert!(conforms(&e.to_json()), "{}", e.to_json());
        // Set directly, bypassing `new`: serialising still keeps to the set.
        let direct = OAuthError { error_description: hostile.to_owned(), ..e };
        assert!(conforms(&direct.to_json()), "{}", direct.to_json());
        // Every allowed character survives untouched.
        let allowed: String = (0x20u8..=0x7e).map(char::from).filter(|c| is_description_char(*c)).collect();
        assert_eq!(OAuthError::invalid_request(allowed.clone()).error_description, allowed);
    }

    #[test]
    fn only_known_parameter_names_are_named() {
        assert_eq!(parameter_label("grant_type"), "parameter grant_type");
        assert_eq!(parameter_label("\u{0}"), "a parameter");
        assert_eq!(parameter_label("grant_type\""), "a parameter");
    }
}
