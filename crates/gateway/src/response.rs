//! The responses the gateway makes itself, and the body type every response shares. Every step
//! of the pipeline answers through here, so this file imports nothing of the crate.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

/// Body of every gateway response: the upstream's streamed body, or a small body the gateway made
/// itself (errors, token responses). An enum rather than a boxed body: no allocation per request
/// for the common case.
pub type ResponseBody = Either<Incoming, Full<Bytes>>;

/// A JSON error response made by the gateway: body `{"error": message}`, content-type
/// application/json (Tyk's error template shape).
pub fn json_error(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec());
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// 413, closing the connection: the rest of the body is still on the wire, so the connection
/// cannot carry another request, and a client that is not told so reuses it and meets a
/// broken pipe on its next request (hyper closes it only after the response is written).
pub(crate) fn body_too_large() -> Response<ResponseBody> {
    let mut response = json_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
