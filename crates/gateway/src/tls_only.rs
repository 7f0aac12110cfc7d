//! On a gateway that terminates TLS, endpoints that carry credentials (the OAuth endpoints,
//! protected APIs) refuse requests that arrived without it. They never redirect to https:
//! by then the client secret, password, code or token has crossed the network in clear, and a
//! redirect would only teach clients that sending it that way works (RFC 9700 §4.1;
//! oauth-security NFR-6). The refusal is logged as a warning so that the leak is noticed.

use gatehouse_model::Api;
use http::{Request, StatusCode};
use hyper::body::Incoming;

use crate::edge::EdgePolicy;
use crate::forwarded::Hop;
use crate::oauth::Endpoint;
use crate::response::{ResponseBody, json_error};

pub fn refuse(
    edge: &EdgePolicy,
    hop: &Hop,
    req: &Request<Incoming>,
    api: &Api,
    rest: &str,
) -> http::Response<ResponseBody> {
    let client = edge.trusted_proxies.client_ip(hop, req.headers());
    // The path only: on OAuth endpoints the query can hold codes and tokens.
    tracing::warn!(
        %client,
        api = %api.api_id,
        path = %req.uri().path(),
        "credential endpoint reached over plain HTTP: refused (its credentials must be considered exposed)"
    );
    if api.oauth.is_some() && Endpoint::from_path(rest).is_some() {
        // RFC 6749 §5.2's shape, so OAuth client libraries show the reason.
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": "this endpoint is served over HTTPS only; credentials sent over plain HTTP must be considered exposed",
        });
        let mut response = json_error(StatusCode::BAD_REQUEST, "");
        *response.body_mut() =
            http_body_util::Either::Right(http_body_util::Full::new(body.to_string().into()));
        crate::oauth::protect(response.headers_mut());
        return response;
    }
    json_error(StatusCode::FORBIDDEN, "this API is served over HTTPS only")
}
