//! The web dashboard on the control plane's port: its pages under `/dashboard/`, sign-in and
//! sign-out at `/dashboard/session`, and the session cookie the REST API accepts from them.
//!
//! The pages call the same REST API scripts do; there is no second admin API. What the browser
//! holds instead of the admin secret is a signed session cookie (`HttpOnly`, `SameSite=Strict`,
//! `Secure` over TLS, expiring; `gatehouse_dashboard::session`) and, in page memory only, the
//! CSRF token every write must carry in `X-CSRF-Token`. Every page is served with a
//! `Content-Security-Policy` that allows only the dashboard's own scripts and styles: no inline
//! script, no other origin.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gatehouse_dashboard::session::{COOKIE, Session, Sessions};
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, COOKIE as COOKIE_HEADER, ETAG, IF_NONE_MATCH, LOCATION, SET_COOKIE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpConnectInfo;

use crate::admin::auth::SecretCheck;
use crate::rest::RestError;
use gatehouse_control::ControlPlane;

/// Where the dashboard lives.
pub const PREFIX: &str = "/dashboard";
/// The header writes carry the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Default `--dashboard-session-ttl`: a working day.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
                   object-src 'none'";
/// A sign-in body is one secret: anything longer is not one.
const MAX_SIGN_IN_BYTES: usize = 4096;
/// A "Try it" request: ids, a secret or a token, a path.
const MAX_TRY_BYTES: usize = 16 * 1024;

/// The dashboard's part of the control plane's listener.
pub struct DashboardEdge {
    pub sessions: Sessions,
    /// The gateway's URL when this process knows it (`gatehouse dev`), for the pages' examples.
    pub gateway_url: Option<String>,
    /// The listener speaks TLS: cookies get `Secure`.
    pub secure_cookies: bool,
}

impl DashboardEdge {
    pub fn new(admin: &SecretCheck, lifetime: Duration, gateway_url: Option<String>, tls: bool) -> Self {
        let sessions = Sessions::new(admin.derive_key("gatehouse dashboard sessions v1"), lifetime);
        Self { sessions, gateway_url, secure_cookies: tls }
    }

    /// How a REST request without the admin secret is authenticated by its cookie: `None` when
    /// it carries no session cookie (the secret check then answers as it always has), else
    /// whether the session is live and, for anything but a read, the CSRF token is its own.
    pub fn authenticate_rest(&self, method: &Method, headers: &HeaderMap) -> Option<Result<(), RestError>> {
        let cookie = session_cookie(headers)?;
        let Some(session) = self.sessions.verify(cookie, SystemTime::now()) else {
            return Some(Err(RestError::new(
                StatusCode::UNAUTHORIZED,
                "the dashboard session has ended: sign in again",
            )));
        };
        if matches!(*method, Method::GET | Method::HEAD)
            || csrf_of(headers).is_some_and(|t| session.csrf_matches(t))
        {
            Some(Ok(()))
        } else {
            Some(Err(RestError::new(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token for this session")))
        }
    }
}

/// Serves a request under [`PREFIX`].
pub async fn handle(
    edge: &DashboardEdge,
    admin: &SecretCheck,
    control: &ControlPlane,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == PREFIX {
        return redirect(&format!("{PREFIX}/"));
    }
    let rest = path.strip_prefix(PREFIX).and_then(|p| p.strip_prefix('/')).unwrap_or("");
    let response = if rest == "session" {
        match *req.method() {
            Method::GET => current_session(edge, req.headers()),
            Method::POST => sign_in(edge, admin, req).await,
            Method::DELETE => sign_out(edge, req.headers()),
            _ => error(RestError::method_not_allowed("GET, POST, DELETE".to_owned())),
        }
    } else if rest == "try" {
        match *req.method() {
            Method::POST => try_it(edge, control, req).await,
            _ => error(RestError::method_not_allowed("POST".to_owned())),
        }
    } else if matches!(*req.method(), Method::GET | Method::HEAD) {
        asset(rest, req.headers())
    } else {
        error(RestError::method_not_allowed("GET, HEAD".to_owned()))
    };
    with_page_headers(response)
}

fn asset(path: &str, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let Some(asset) = gatehouse_dashboard::assets::get(path) else {
        return error(RestError::new(StatusCode::NOT_FOUND, "no such dashboard file"));
    };
    let etag = HeaderValue::from_str(&asset.etag).ok();
    let fresh = etag.as_ref().is_some_and(|etag| {
        headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim() == etag)))
    });
    let mut response = if fresh {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Full::new(Bytes::from(asset.body.into_owned())));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    // Revalidated at every load (a 304 costs one round trip): after an upgrade the browser
    // never runs a stale script against a newer API.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(etag) = etag {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

/// The "Try it" panel's request (`crate::dashboard_try`): a write, so it needs the session and
/// its CSRF token like any other.
async fn try_it(
    edge: &DashboardEdge,
    control: &ControlPlane,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match edge.authenticate_rest(req.method(), req.headers()) {
        Some(Ok(())) => {}
        Some(Err(e)) => return error(e),
        None => return error(RestError::new(StatusCode::UNAUTHORIZED, "not signed in")),
    }
    let Some(gateway_url) = &edge.gateway_url else {
        return error(RestError::new(
            StatusCode::NOT_FOUND,
            "this control plane knows no gateway address to try requests on: start it with --gateway-url",
        ));
    };
    let body = match read_small_body(req, MAX_TRY_BYTES).await {
        Ok(body) => body,
        Err(e) => return error(e),
    };
    let attempt = match serde_json::from_slice(&body) {
        Ok(attempt) => attempt,
        Err(e) => {
            return error(RestError::new(StatusCode::BAD_REQUEST, format!("not a request to try: {e}")));
        }
    };
    match crate::dashboard_try::run(control, gateway_url, attempt).await {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(e) => error(e),
    }
}

/// A small request body, within the connection's body deadline.
async fn read_small_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, RestError> {
    let deadline = gatehouse_gateway::conn::BodyReadTimeout::of(&req);
    match tokio::time::timeout(deadline, Limited::new(req.into_body(), limit).collect()).await {
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(_)) => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read (at most {limit} bytes)"),
        )),
        Err(_) => Err(RestError::new(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time")),
    }
}

fn current_session(edge: &DashboardEdge, headers: &HeaderMap) -> Response<Full<Bytes>> {
    match session_cookie(headers).and_then(|c| edge.sessions.verify(c, SystemTime::now())) {
        Some(session) => session_answer(edge, &session),
        None => error(RestError::new(StatusCode::UNAUTHORIZED, "not signed in")),
    }
}

/// Checks the secret as every admin call does (the same per-address lockout after wrong
/// guesses), then issues a session.
async fn sign_in(edge: &DashboardEdge, admin: &SecretCheck, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let peer = req.extensions().get::<TcpConnectInfo>().and_then(|i| i.remote_addr).map(|a| a.ip());
    let body = match read_small_body(req, MAX_SIGN_IN_BYTES).await {
        Ok(body) => body,
        Err(e) => return error(e),
    };
    let secret = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(value) => match value.get("secret").and_then(|s| s.as_str()) {
            Some(secret) if !secret.is_empty() => secret.to_owned(),
            _ => {
                return error(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "field \"secret\": the admin secret is required",
                ));
            }
        },
        Err(e) => return error(RestError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}"))),
    };
    let mut metadata = MetadataMap::new();
    match secret.parse() {
        Ok(value) => {
            metadata.insert("authorization", value);
        }
        // Not a header value: cannot be the secret, and is counted as a wrong one below.
        Err(_) => {
            metadata.insert("authorization", tonic::metadata::MetadataValue::from_static("-"));
        }
    }
    if let Err(status) = admin.check(&metadata, peer) {
        let refused = RestError::from(status);
        // Say "wrong admin secret" on the page, not the header's name.
        let message = if refused.status == StatusCode::UNAUTHORIZED {
            "wrong admin secret".to_owned()
        } else {
            refused.message.clone()
        };
        return error(RestError { message, ..refused });
    }
    let issued = edge.sessions.issue(SystemTime::now());
    tracing::info!(peer = ?peer, "dashboard sign-in");
    let mut response = session_answer(edge, &issued.session);
    let cookie = cookie_header(edge, &issued.cookie_value, edge.sessions.lifetime().as_secs().max(1));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// Ends the session (its CSRF token proves the page asked) and clears the cookie.
fn sign_out(edge: &DashboardEdge, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let session = session_cookie(headers).and_then(|c| edge.sessions.verify(c, SystemTime::now()));
    if let Some(session) = &session {
        if !csrf_of(headers).is_some_and(|t| session.csrf_matches(t)) {
            return error(RestError::new(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token for this session",
            ));
        }
        edge.sessions.revoke(session, SystemTime::now());
    }
    let mut response =
        json_response(StatusCode::OK, &json!({ "Status": "OK", "Message": "signed out", "Meta": null }));
    if let Ok(value) = HeaderValue::from_str(&cookie_header(edge, "", 0)) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

fn session_answer(edge: &DashboardEdge, session: &Session) -> Response<Full<Bytes>> {
    let expires_at = session.expires_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let expires_at = serde_json::to_value(pbjson_types::Timestamp {
        seconds: i64::try_from(expires_at.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    })
    .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({ "csrf_token": session.csrf_token, "expires_at": expires_at, "gateway_url": edge.gateway_url }),
    )
}

fn cookie_header(edge: &DashboardEdge, value: &str, max_age: u64) -> String {
    let secure = if edge.secure_cookies { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The session cookie's value, from any `Cookie` header.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn csrf_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Session answers carry the CSRF token: never kept by a cache.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(e: RestError) -> Response<Full<Bytes>> {
    let mut response =
        json_response(e.status, &json!({ "Status": "Error", "Message": e.message, "Meta": null }));
    if let Some(seconds) = e.retry_after {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    with_page_headers(response)
}

/// Headers every dashboard answer carries: the page may run only its own scripts, may not be
/// framed, and leaks no URL to other sites.
fn with_page_headers(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> DashboardEdge {
        let admin = SecretCheck::new(&"s".repeat(40), "admin").unwrap();
        DashboardEdge::new(&admin, Duration::from_secs(60), None, false)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_cookie_authenticates_reads_and_writes_need_the_csrf_token() {
        let edge = edge();
        let issued = edge.sessions.issue(SystemTime::now());
        let cookie = format!("theme=dark; {COOKIE}={}", issued.cookie_value);
        assert!(edge.authenticate_rest(&Method::GET, &headers(&[])).is_none());
        assert!(matches!(
            edge.authenticate_rest(&Method::GET, &headers(&[("cookie", &cookie)])),
            Some(Ok(()))
        ));
        let write = edge.authenticate_rest(&Method::POST, &headers(&[("cookie", &cookie)]));
        assert_eq!(write.unwrap().unwrap_err().status, StatusCode::FORBIDDEN);
        let forged =
            edge.authenticate_rest(&Method::POST, &headers(&[("cookie", &cookie), (CSRF_HEADER, "x")]));
        assert_eq!(forged.unwrap().unwrap_err().status, StatusCode::FORBIDDEN);
        let token = issued.session.csrf_token.as_str();
        let signed =
            edge.authenticate_rest(&Method::DELETE, &headers(&[("cookie", &cookie), (CSRF_HEADER, token)]));
        assert!(matches!(signed, Some(Ok(()))));
        let ended =
            edge.authenticate_rest(&Method::GET, &headers(&[("cookie", &format!("{COOKIE}=v1.1.a.b"))]));
        assert_eq!(ended.unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let mut edge = edge();
        let plain = cookie_header(&edge, "v", 60);
        assert_eq!(plain, format!("{COOKIE}=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"));
        edge.secure_cookies = true;
        assert!(cookie_header(&edge, "v", 60).ends_with("; Secure"));
    }

    #[test]
    fn pages_are_served_with_the_policy_and_revalidated_by_etag() {
        let page = with_page_headers(asset("", &HeaderMap::new()));
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        let etag = page.headers()[ETAG].to_str().unwrap().to_owned();
        let again = asset("", &headers(&[("if-none-match", &etag)]));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(asset("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
