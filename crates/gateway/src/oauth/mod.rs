//! The authorization server's HTTP endpoints under each OAuth API's listen path:
//! `/oauth/authorize`, `/oauth/token`, `/oauth/introspect`, `/oauth/revoke`, Tyk's
//! `/oauth/revoke_all`, and the RFC 8414
//! metadata document (whose issuer name comes from [`issuer`], never from an arbitrary `Host`).
//! HTTP in and out here; the rules live in `gatehouse_oauth`.

mod authorize;
mod introspect;
pub mod issuer;
mod metadata;
mod token;

use bytes::Bytes;
use gatehouse_model::{Api, OAuthSettings};
use gatehouse_oauth::request::MAX_BODY_BYTES;
use gatehouse_oauth::throttle::{Guard, Throttled};
use gatehouse_oauth::{OAuthError, TokenRequest};
use gatehouse_store::AnyTokenStore;
use http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

pub use metadata::{METADATA_PREFIX, metadata_document};

use crate::conn::BodyReadTimeout;
use crate::forwarded::{Hop, TrustedProxies};
use crate::live::RuntimeConfig;
use crate::notify::Notifier;
use crate::response::ResponseBody;

/// What the authorization server's endpoints use of their gateway, and nothing more: the token
/// store, the token webhook, and the trusted proxies that say who a client is (client
/// authentication is throttled per source address). Borrowed for one request; built by
/// `Gateway::phases` from its own fields.
#[derive(Clone, Copy)]
pub struct AuthServer<'g> {
    pub tokens: &'g AnyTokenStore,
    pub notifier: &'g Notifier,
    pub trusted_proxies: &'g TrustedProxies,
}

/// What a client-authenticated form endpoint (token, introspection, revocation) serves one
/// request with: client authentication is throttled through `guard`, keyed by the caller's
/// address.
struct FormCall<'a> {
    server: AuthServer<'a>,
    config: &'a RuntimeConfig,
    api: &'a Api,
    guard: Guard,
}

/// An endpoint of the authorization server, by the path under the listen path (a trailing
/// slash is accepted, as the seed's curl examples use one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Authorize,
    Token,
    Introspect,
    Revoke,
    /// Tyk's: every token of the authenticated client on this API.
    RevokeAll,
}

impl Endpoint {
    pub fn from_path(rest: &str) -> Option<Self> {
        match rest.strip_suffix('/').unwrap_or(rest) {
            "/oauth/authorize" => Some(Endpoint::Authorize),
            "/oauth/token" => Some(Endpoint::Token),
            "/oauth/introspect" => Some(Endpoint::Introspect),
            "/oauth/revoke" => Some(Endpoint::Revoke),
            "/oauth/revoke_all" => Some(Endpoint::RevokeAll),
            _ => None,
        }
    }

    /// The `route` label of its requests.
    pub fn route_kind(self) -> gatehouse_telemetry::metrics::gateway::RouteKind {
        use gatehouse_telemetry::metrics::gateway::RouteKind;
        match self {
            Endpoint::Authorize => RouteKind::Authorize,
            Endpoint::Token => RouteKind::Token,
            Endpoint::Introspect => RouteKind::Introspect,
            // One label for both revocations: the metric's routes are a fixed, small set.
            Endpoint::Revoke | Endpoint::RevokeAll => RouteKind::Revoke,
        }
    }
}

/// Serves one request to an authorization-server endpoint of `api`.
/// `api` must come from `config`: one request sees one version of the configuration.
/// `hop` is the connection it came on: client authentication is throttled per source address.
pub async fn handle(
    gateway: AuthServer<'_>,
    config: &RuntimeConfig,
    api: &Api,
    endpoint: Endpoint,
    req: Request<Incoming>,
    hop: &Hop,
) -> Response<ResponseBody> {
    if declared_body_len(&req).is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        let mut response = BodyError::TooLarge.response();
        protect(response.headers_mut());
        return response;
    }
    let form_call = || FormCall {
        server: gateway,
        config,
        api,
        guard: Guard::new(Some(gateway.trusted_proxies.client_ip(hop, req.headers()))),
    };
    let mut response = match endpoint {
        // Checking an authorization request is CPU alone once its body is in: a deadline on the
        // whole is the deadline on its body.
        Endpoint::Authorize => {
            let deadline = BodyReadTimeout::of(&req);
            tokio::time::timeout(deadline, authorize::handle(config, api, req))
                .await
                .unwrap_or_else(|_| BodyError::TimedOut(deadline).response())
        }
        Endpoint::Token => token::handle(&form_call(), req).await,
        Endpoint::Introspect | Endpoint::Revoke | Endpoint::RevokeAll => {
            let call = form_call();
            match read_form_request(req).await {
                Ok(request) => match endpoint {
                    Endpoint::Introspect => introspect::introspect(&call, &request).await,
                    Endpoint::Revoke => introspect::revoke(&call, &request).await,
                    _ => introspect::revoke_all(&call, &request).await,
                },
                Err(response) => response,
            }
        }
    };
    protect(response.headers_mut());
    response
}

/// Headers every response of the authorization server carries, errors and redirects included:
/// never cached (RFC 6749 §5.1; an authorize redirect carries the request's parameters), never
/// sniffed as anything but what it says, never framed (RFC 6749 §10.13 clickjacking; Tyk's
/// tests check `X-Frame-Options` and `X-Content-Type-Options` on these endpoints).
pub fn protect(headers: &mut http::HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A client-authenticated form POST (token, introspection, revocation), parsed strictly.
/// RFC 6749 §3.2: POST only, form-encoded, since anything else puts credentials in URLs.
async fn read_form_request(req: Request<Incoming>) -> Result<TokenRequest, Response<ResponseBody>> {
    if req.method() != Method::POST {
        let mut response = oauth_json(
            StatusCode::METHOD_NOT_ALLOWED,
            OAuthError::invalid_request("this endpoint accepts POST only").to_json(),
        );
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return Err(response);
    }
    let to_response = |e: OAuthError| error_response(None, &e);
    if !is_form(req.headers()) {
        return Err(to_response(OAuthError::invalid_request(
            "content-type must be application/x-www-form-urlencoded",
        )));
    }
    let authorization = match req.headers().get(AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| to_response(OAuthError::invalid_client(true)))?.to_owned()),
        None => None,
    };
    let deadline = BodyReadTimeout::of(&req);
    let body = tokio::time::timeout(deadline, collect_limited(req.into_body()))
        .await
        .unwrap_or(Err(BodyError::TimedOut(deadline)))
        .map_err(BodyError::response)?;
    TokenRequest::parse(&body, authorization.as_deref()).map_err(to_response)
}

fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The body, up to [`MAX_BODY_BYTES`]; without a deadline of its own (callers set one).
async fn collect_limited(body: Incoming) -> Result<Bytes, BodyError> {
    Limited::new(body, MAX_BODY_BYTES).collect().await.map(|c| c.to_bytes()).map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// The body size the request announces (Content-Length), if any.
fn declared_body_len<B: http_body::Body>(req: &Request<B>) -> Option<u64> {
    req.body().size_hint().exact().filter(|_| req.headers().contains_key(http::header::CONTENT_LENGTH))
}

/// Why a form body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    /// Over [`MAX_BODY_BYTES`]: 413, and the connection closes.
    TooLarge,
    /// Not all there within the deadline: 408, and the connection closes (its unread rest
    /// would be taken for the next request).
    TimedOut(std::time::Duration),
    /// The client broke off or sent malformed framing: 400.
    Unreadable,
}

impl BodyError {
    fn description(self) -> String {
        match self {
            BodyError::TooLarge => format!("request body larger than {MAX_BODY_BYTES} bytes"),
            BodyError::TimedOut(deadline) => {
                format!("request body not received within {} s", deadline.as_secs_f64())
            }
            BodyError::Unreadable => "request body could not be read".to_owned(),
        }
    }

    /// An RFC 6749 JSON error with the HTTP status that says what happened.
    fn response(self) -> Response<ResponseBody> {
        let status = match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable => StatusCode::BAD_REQUEST,
        };
        let mut response = oauth_json(status, OAuthError::invalid_request(self.description()).to_json());
        match self {
            // The unread rest of the body is still on the wire: the connection cannot carry
            // another request, and a client not told so reuses it and meets a broken pipe.
            BodyError::TooLarge | BodyError::TimedOut(_) => {
                response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            }
            BodyError::Unreadable => {}
        }
        if let BodyError::TimedOut(_) = self {
            gatehouse_telemetry::metrics::connections::timed_out("gateway", "body");
        }
        response
    }
}

/// An RFC 6749 §5.2 error, with the API's Tyk-compatible status when it asks for one.
fn error_response(settings: Option<&OAuthSettings>, error: &OAuthError) -> Response<ResponseBody> {
    let rfc_status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let status = match settings.and_then(|s| s.error_status) {
        // Our own failures keep their 5xx: a client must not take them for its mistake.
        Some(code) if rfc_status.is_client_error() => StatusCode::from_u16(code).unwrap_or(rfc_status),
        _ => rfc_status,
    };
    let mut response = oauth_json(status, error.to_json());
    if error.basic_challenge {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gatehouse\""));
    }
    response
}

/// A refusal from a client-authenticated endpoint: `429` with `Retry-After` when the guard
/// throttled the request (a lockout, or a gate kept busy by others), else as
/// [`error_response`]. The API's Tyk-compatible error status does not apply to a 429: a client
/// must be able to tell "slow down" from "wrong".
fn refusal_response(
    settings: Option<&OAuthSettings>,
    guard: &Guard,
    error: &OAuthError,
) -> Response<ResponseBody> {
    let retry_after = match guard.throttled() {
        None => return error_response(settings, error),
        Some(Throttled::Locked(left)) => left.as_secs() + u64::from(left.subsec_nanos() > 0),
        Some(Throttled::Busy) => 1,
    };
    let mut response = oauth_json(StatusCode::TOO_MANY_REQUESTS, error.to_json());
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
    response
}

/// RFC 6749 §5.1: responses carrying tokens must not be cached.
fn oauth_json(status: StatusCode, json: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Right(Full::new(Bytes::from(json))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_a_trailing_slash() {
        assert_eq!(Endpoint::from_path("/oauth/token/"), Some(Endpoint::Token));
        assert_eq!(Endpoint::from_path("/oauth/authorize"), Some(Endpoint::Authorize));
        assert_eq!(Endpoint::from_path("/oauth/tokens"), None);
        assert_eq!(Endpoint::from_path("/oauth/revoke_all"), Some(Endpoint::RevokeAll));
        assert_eq!(Endpoint::from_path("/oauth/token//"), None);
    }
}
