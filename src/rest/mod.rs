//! REST/JSON transcoding of the admin RPCs, driven by the `google.api.http` annotations.
//!
//! `build.rs` turns the annotations into `ROUTES` and a generated `call` that decodes the
//! request message, invokes the same service implementation gRPC uses, and encodes the answer:
//! there is no second, hand-kept route table. This module matches paths, merges path, query and
//! body into one JSON request, and maps gRPC statuses to HTTP codes with the Tyk Dashboard's
//! error body `{"Status":"Error","Message":…,"Meta":null}`, or on the Tyk Gateway API's paths
//! with that API's envelope (`tyk.rs`).

mod dashboard;
mod json;
mod matcher;
pub mod openapi;
mod tyk;

use bytes::Bytes;
use gatehouse_telemetry::{metrics, trace};
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpConnectInfo;

use crate::admin::AdminServices;
use crate::admin::auth::SecretCheck;
use crate::dashboard_edge::DashboardEdge;
pub use json::{RestError, whole_numbers_as_integers};
use json::{decode_input, encode_output, into_request};
use matcher::Match;
use tyk::Dialect;

/// Largest admin request body: an API definition is a few KiB; a Tyk OAS document rarely 1 MiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Where the request message's fields come from.
#[derive(Debug, Clone, Copy)]
pub enum BodySpec {
    /// No body: fields come from the path and the query string.
    None,
    /// `body: "*"`: the JSON body is the request message.
    Whole,
    /// `body: "field"`: the JSON body is that field of the request message.
    Field(&'static str),
}

/// One REST binding of an RPC.
#[derive(Debug)]
pub struct RouteSpec {
    pub verb: &'static str,
    pub template: &'static str,
    pub body: BodySpec,
    /// `response_body`: answer with this field of the response message only.
    pub response_body: Option<&'static str>,
    /// `response_body` names a `google.protobuf.Value` (an answer whose shape depends on the
    /// request): its whole numbers are written as integers.
    pub response_body_is_value: bool,
    /// The response message's name (`AdminStatus`, …).
    pub output_type: &'static str,
    /// The request's top-level bool fields, whose query values are read as booleans.
    pub bool_fields: &'static [&'static str],
    /// The request's top-level fields (proto and JSON names): on a GET, query parameters naming
    /// none of them are ignored.
    pub fields: &'static [&'static str],
    pub rpc: Rpc,
    /// The gRPC method, `/package.Service/Method`, for logs and traces.
    pub rpc_name: &'static str,
}

#[allow(clippy::all)]
mod generated {
    use super::*;
    use crate::pb;
    include!(concat!(env!("OUT_DIR"), "/rest_routes.rs"));
}
pub use generated::{ROUTES, Rpc, call};

/// Serves one admin REST request.
pub async fn handle(
    services: &AdminServices,
    admin: &SecretCheck,
    dashboard: &DashboardEdge,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // The document describes routes, not state: it needs no secret.
    if req.method() == http::Method::GET && req.uri().path() == openapi::PATH {
        metrics::control::admin_request("rest", "openapi", metrics::control::http_code_name(200));
        return json_response(StatusCode::OK, Bytes::from_static(openapi::DOCUMENT.as_bytes()));
    }
    let mut matched = None;
    let dialect = Dialect::of(req.uri().path());
    let response = match transcode(services, admin, dashboard, dialect, req, &mut matched).await {
        Ok(json) => json_response(StatusCode::OK, json),
        Err(e) => e.into_response(dialect),
    };
    // Unauthenticated or unrouted calls name no RPC: their path is the caller's text.
    let rpc = matched.map_or("unknown", |route| route.rpc_name.trim_start_matches('/'));
    metrics::control::admin_request(
        "rest",
        rpc,
        metrics::control::http_code_name(response.status().as_u16()),
    );
    response
}

async fn transcode(
    services: &AdminServices,
    admin: &SecretCheck,
    dashboard: &DashboardEdge,
    dialect: Dialect,
    req: Request<Incoming>,
    matched: &mut Option<&'static RouteSpec>,
) -> Result<Bytes, RestError> {
    let deadline = gatehouse_gateway::conn::BodyReadTimeout::of(&req);
    let (parts, body) = req.into_parts();
    let metadata = MetadataMap::from_headers(parts.headers.clone());
    // An OAuth client pointed at the admin port would otherwise read "admin secret required".
    if is_oauth_endpoint(parts.uri.path()) {
        return Err(RestError::new(
            StatusCode::NOT_FOUND,
            "this is the control plane's admin port: OAuth endpoints (/<listen-path>/oauth/…) are served by the gateway's port",
        ));
    }
    // Authenticate before routing, so unauthenticated callers learn nothing about the routes.
    let peer = parts.extensions.get::<TcpConnectInfo>().and_then(|info| info.remote_addr).map(|a| a.ip());
    // The dashboard's pages present a session cookie instead of the secret; a caller that
    // sends the secret is checked on it alone, as before the dashboard existed.
    let sends_secret = parts.headers.contains_key(http::header::AUTHORIZATION)
        || parts.headers.contains_key(crate::admin::auth::TYK_HEADER);
    match dashboard.authenticate_rest(&parts.method, &parts.headers) {
        Some(by_cookie) if !sends_secret && dialect == Dialect::Dashboard => by_cookie?,
        _ => admin.check(&metadata, peer).map_err(|e| dialect.refused(e.into()))?,
    }
    // Routing first, so a request for an unknown route is refused without reading its body.
    let route = route_of(parts.method.as_str(), parts.uri.path())?.0;
    *matched = Some(route);
    trace::record_rest_route(&tracing::Span::current(), route.verb, route.template, route.rpc_name);
    let bytes = match route.body {
        BodySpec::None => Bytes::new(),
        BodySpec::Whole | BodySpec::Field(_) => read_body(body, deadline).await?,
    };
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let (route, input) =
        decode_request(parts.method.as_str(), parts.uri.path(), parts.uri.query(), content_type, &bytes)?;
    tracing::debug!(rpc = route.rpc_name, "admin REST call");
    let deleted_key = dialect.deleted_key(route, &input);
    let mut output = call(services, route.rpc, input, metadata).await?;
    if let Some(field) = route.response_body {
        output = output.get_mut(field).map(serde_json::Value::take).unwrap_or(serde_json::Value::Null);
        if route.response_body_is_value {
            json::whole_numbers_as_integers(&mut output);
        }
    }
    let output = dialect.answer(route, deleted_key, output);
    Ok(Bytes::from(output.to_string()))
}

/// A gateway's OAuth endpoint (`/<listen-path>/oauth/token` and its siblings), which no admin
/// route is: saying so gives away nothing about the admin routes.
fn is_oauth_endpoint(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let endpoint = ["/oauth/token", "/oauth/authorize", "/oauth/introspect", "/oauth/revoke"]
        .iter()
        .any(|endpoint| path.ends_with(endpoint));
    endpoint && !path.starts_with("/api/") && !path.starts_with("/tyk/")
}

/// A matched route and its path variables.
type Routed = (&'static RouteSpec, Vec<(&'static str, String)>);

fn route_of(method: &str, path: &str) -> Result<Routed, RestError> {
    match matcher::find(method, path) {
        Match::Found(route, params) => Ok((route, params)),
        Match::WrongMethod(allowed) => Err(RestError::method_not_allowed(allowed)),
        Match::NotFound => Err(RestError::new(StatusCode::NOT_FOUND, "no admin route for this path")),
    }
}

/// The transcoder's decoding half, without I/O: the route of `method` and `path`, and the
/// request message as JSON merged from the body (`content_type`, `body`), the `query` string
/// and the path variables. [`call`] decodes that JSON into the typed message. Public so the
/// fuzz target can reach every decoding step an admin request goes through.
pub fn decode_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(&'static RouteSpec, serde_json::Value), RestError> {
    let (route, path_params) = route_of(method, path)?;
    let body = match route.body {
        BodySpec::None => None,
        BodySpec::Whole | BodySpec::Field(_) => {
            Some(dashboard::reshape(route.rpc, parse_body(content_type, body)?))
        }
    };
    let query = json::Query { text: query, bool_fields: route.bool_fields, known: known_query(route) };
    let input = json::merge_input(route.body, body, path_params, query)?;
    Ok((route, input))
}

/// Which query parameters a route reads; `None`: all of them, unknown ones refused.
///
/// On a GET, a parameter that names no field of the request is ignored, as Tyk's Dashboard
/// ignores what it does not know (`GET /api/portal/policies?active=true&sort=name`): a read
/// changes nothing, so nothing a misspelt or unsupported parameter meant can be done wrongly;
/// at worst a filter Gatehouse lacks returns more than asked. On writes (POST, PUT, DELETE) an
/// unknown parameter stays a 400, since there it may carry intent that must not be dropped
/// silently (a misspelt `?allow_keyless=true` on an OAS import must be told, not read as no).
fn known_query(route: &RouteSpec) -> Option<&'static [&'static str]> {
    (route.verb == "GET").then_some(route.fields)
}

/// The whole body, within `deadline` (else 408) and [`MAX_BODY_BYTES`] (else 413).
async fn read_body(body: Incoming, deadline: std::time::Duration) -> Result<Bytes, RestError> {
    let collected = match tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Ok(collected) => collected,
        Err(_) => {
            metrics::connections::timed_out("control_plane", "body");
            return Err(RestError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {} s", deadline.as_secs_f64()),
            ));
        }
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(RestError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY_BYTES} bytes"),
        )),
        Err(_) => Err(RestError::new(StatusCode::BAD_REQUEST, "request body could not be read")),
    }
}

/// The body as JSON; form-encoded bodies (the seed's identity-server calls) become an object
/// of strings.
fn parse_body(content_type: Option<&str>, bytes: &[u8]) -> Result<serde_json::Value, RestError> {
    let mime = content_type.and_then(|v| v.split(';').next()).map(|v| v.trim().to_ascii_lowercase());
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match (first, mime.as_deref()) {
        (None, _) => Ok(serde_json::Value::Object(Default::default())),
        // `curl -d '{…}'` labels JSON as a form; no form field name starts with `{` or `[`,
        // so the body itself says which it is.
        (Some(b'{' | b'['), _) => serde_json::from_slice(bytes)
            .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}"))),
        (_, Some("application/x-www-form-urlencoded")) => json::form_to_json(bytes),
        _ => serde_json::from_slice(bytes)
            .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}"))),
    }
}

fn json_response(status: StatusCode, json: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(json));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

impl RestError {
    fn into_response(self, dialect: Dialect) -> Response<Full<Bytes>> {
        let body = dialect.error_body(&self.message);
        let mut response = json_response(self.status, Bytes::from(body.to_string()));
        if let Some(allowed) = self.allow
            && let Ok(v) = HeaderValue::from_str(&allowed)
        {
            response.headers_mut().insert(ALLOW, v);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        // Both are sent with the rest of the body still on the wire: the connection cannot
        // carry another request, and a client not told so reuses it into a broken pipe.
        if matches!(self.status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
