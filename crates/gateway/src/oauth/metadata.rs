//! RFC 8414 authorization server metadata, one document per OAuth API, at
//! `/.well-known/oauth-authorization-server/<listen path>` (§3.1: the issuer's path is
//! appended to the well-known prefix).

use bytes::Bytes;
use gatehouse_model::{Api, GrantType};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use http_body_util::Full;

use super::issuer::IssuerPolicy;
use crate::response::ResponseBody;

pub const METADATA_PREFIX: &str = "/.well-known/oauth-authorization-server";

/// The metadata of `api`, with URLs under the issuer base that `policy` gives: the configured
/// public URL, or the request's host (`Host`, or an HTTP/2 `:authority`) when it is an allowed
/// one (with the https scheme when `secure`, i.e. the request came over TLS to us or to a
/// trusted proxy). Any other host is answered `421 Misdirected Request` (RFC 9110 §15.5.20):
/// this gateway does not speak for it.
pub fn metadata_document(
    api: &Api,
    policy: &IssuerPolicy,
    headers: &HeaderMap,
    uri: &Uri,
    secure: bool,
) -> Option<Response<ResponseBody>> {
    let settings = api.oauth.as_ref()?;
    let Some(base) = policy.base(headers, uri, secure) else {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": "this gateway does not publish authorization server metadata for this host",
        });
        let mut response = Response::new(ResponseBody::Right(Full::new(Bytes::from(body.to_string()))));
        *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Some(response);
    };
    let issuer = format!("{base}{}", api.listen_path.trim_end_matches('/'));
    let mut grants: Vec<&str> = settings.allowed_grant_types.iter().map(|g| g.as_str()).collect();
    grants.sort_unstable();
    let mut document = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": settings.allowed_authorize_types,
    });
    if settings.allows(GrantType::AuthorizationCode) {
        document["authorization_endpoint"] = format!("{issuer}/oauth/authorize").into();
    }
    let mut response = Response::new(ResponseBody::Right(Full::new(Bytes::from(document.to_string()))));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Some(response)
}
