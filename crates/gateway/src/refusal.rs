//! Why a request for a protected API was refused (RFC 6750), by the credential, the session or
//! the policy, answering with Tyk's messages so tooling written for Tyk keeps recognising them.
//! Its own file because the bearer check, the credential lookup and the policy all refuse.

use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Response, StatusCode};

use crate::response::{ResponseBody, json_error};

/// Why a request was refused, each with its status, challenge and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    /// The token in more than one place (RFC 6750 §3.1).
    Ambiguous,
    Unknown,
    Expired,
    OtherApi,
    Inactive,
    PathDisallowed,
    VersionDisallowed,
    StoreDown,
}

impl Refusal {
    pub fn response(self) -> Response<ResponseBody> {
        let (status, challenge, message) = match self {
            // RFC 6750 §3.1: no error code when the request carried no credentials at all.
            Refusal::Missing => {
                (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"gatehouse\""), "Authorization field missing")
            }
            Refusal::Malformed => (
                StatusCode::BAD_REQUEST,
                Some("Bearer realm=\"gatehouse\", error=\"invalid_request\""),
                "Bearer token malformed",
            ),
            Refusal::Ambiguous => (
                StatusCode::BAD_REQUEST,
                Some("Bearer realm=\"gatehouse\", error=\"invalid_request\""),
                "Bearer token sent in more than one place",
            ),
            Refusal::Unknown => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
                "Key not authorised",
            ),
            Refusal::Expired => (
                StatusCode::UNAUTHORIZED,
                Some("Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"expired\""),
                "Key has expired, please renew",
            ),
            Refusal::OtherApi => (StatusCode::FORBIDDEN, None, "Access to this API has been disallowed"),
            Refusal::Inactive => (StatusCode::FORBIDDEN, None, "Key is inactive, please renew"),
            Refusal::PathDisallowed => {
                (StatusCode::FORBIDDEN, None, "Access to this resource has been disallowed")
            }
            Refusal::VersionDisallowed => {
                (StatusCode::FORBIDDEN, None, "Access to this API version has been disallowed")
            }
            Refusal::StoreDown => (StatusCode::SERVICE_UNAVAILABLE, None, "token store unavailable"),
        };
        let mut response = json_error(status, message);
        if let Some(challenge) = challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_challenges() {
        let r = Refusal::Unknown.response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("invalid_token"));
        assert_eq!(Refusal::OtherApi.response().status(), StatusCode::FORBIDDEN);
    }
}
