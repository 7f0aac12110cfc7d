//! `POST /<listen-path>/oauth/token`: HTTP around [`gatehouse_oauth::TokenIssuer`].

use bytes::Bytes;
use gatehouse_model::Api;
use gatehouse_oauth::request::MAX_BODY_BYTES;
use gatehouse_oauth::{OAuthError, TokenIssuer, TokenRequest, now_unix};
use gatehouse_store::AnyTokenStore;
use http::header::{ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

use crate::live::RuntimeConfig;
use crate::proxy::ResponseBody;

/// Whether `rest` (the path under the listen path) is the token endpoint; a trailing slash is
/// accepted, as the seed's curl examples use one.
pub fn is_token_path(rest: &str) -> bool {
    matches!(rest, "/oauth/token" | "/oauth/token/")
}

pub async fn handle(
    config: &RuntimeConfig,
    tokens: &AnyTokenStore,
    api: &Api,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    // RFC 6749 §3.2: POST only; a GET would put credentials in URLs and logs.
    if req.method() != Method::POST {
        let mut response =
            error_response(&OAuthError::invalid_request("the token endpoint accepts POST only"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match issue(config, tokens, api, req).await {
        Ok(body) => oauth_response(StatusCode::OK, body),
        Err(error) => error_response(&error),
    }
}

async fn issue(
    config: &RuntimeConfig,
    tokens: &AnyTokenStore,
    api: &Api,
    req: Request<Incoming>,
) -> Result<String, OAuthError> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::invalid_request("content-type must be application/x-www-form-urlencoded"));
    }
    let authorization = match req.headers().get(AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| OAuthError::invalid_client(true))?.to_owned()),
        None => None,
    };
    let body = read_limited(req.into_body()).await?;
    let request = TokenRequest::parse(&body, authorization.as_deref())?;
    let issuer = TokenIssuer { store: tokens, hasher: &config.hasher };
    let response = issuer
        .token(api, |client_id| config.state.client(&api.api_id, client_id), &request, now_unix())
        .await?;
    serde_json::to_string(&response)
        .map_err(|e| OAuthError::new(gatehouse_oauth::ErrorCode::ServerError, e.to_string()))
}

async fn read_limited(body: Incoming) -> Result<Bytes, OAuthError> {
    Limited::new(body, MAX_BODY_BYTES).collect().await.map(|collected| collected.to_bytes()).map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            OAuthError::invalid_request(format!("request body larger than {MAX_BODY_BYTES} bytes"))
        } else {
            OAuthError::invalid_request("request body could not be read")
        }
    })
}

fn error_response(error: &OAuthError) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = oauth_response(status, error.to_json());
    if error.basic_challenge {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"gatehouse\""));
    }
    response
}

/// RFC 6749 §5.1: token responses must not be cached.
fn oauth_response(status: StatusCode, json: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Right(Full::new(Bytes::from(json))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
