//! The bearer check of a proxied request (RFC 6750), answering with Tyk's messages so tooling
//! written for Tyk keeps recognising them.

use gatehouse_model::Session;
use gatehouse_model::storage::SessionStore;
use gatehouse_oauth::issue::ACCESS_TOKEN_KIND;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Response, StatusCode};

use crate::live::RuntimeConfig;
use crate::proxy::{ResponseBody, json_error};
use crate::session_cache::SessionCache;

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

/// The live session of `token`. Whether it may call this API is the policy's decision
/// ([`crate::policy::authorize`]).
///
/// A session found in `cache` spares the store a round trip; one found in the store is cached.
/// The expiry and client checks below run either way, so a deleted client's tokens die at once
/// whether their session was cached or not.
pub async fn check(
    config: &RuntimeConfig,
    tokens: &impl SessionStore,
    cache: &SessionCache,
    token: &str,
    now: u64,
) -> Result<Session, Refusal> {
    let key = config.hasher.key(ACCESS_TOKEN_KIND, token);
    let session = match cache.get(&key, now) {
        Some(session) => session,
        None => {
            let ticket = cache.ticket();
            match tokens.get_session(&key).await {
                Ok(Some(session)) => {
                    cache.insert(ticket, &key, &session);
                    session
                }
                // Unknown tokens are not remembered: one issued a moment later, possibly on
                // another gateway, must be accepted.
                Ok(None) => return Err(Refusal::Unknown),
                Err(e) => {
                    tracing::warn!(error = %e, "token store lookup failed");
                    return Err(Refusal::StoreDown);
                }
            }
        }
    };
    if session.is_expired(now) {
        return Err(Refusal::Expired);
    }
    // A deleted client's tokens die with it (Tyk's "OAuth client access was revoked").
    if config.state.client(&session.api_id, &session.client_id).is_none() {
        return Err(Refusal::Unknown);
    }
    Ok(session)
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
