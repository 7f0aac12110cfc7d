//! `GET|POST /<listen-path>/oauth/authorize`: checks the request and sends the user agent to the
//! identity server's login page with `307 Temporary Redirect`, as Tyk does (identity servers
//! built for Tyk expect a re-posted body). Bad requests get an error here, never a redirect to
//! a URI that was not verified.

use gatehouse_model::Api;
use gatehouse_oauth::authorize::{self, AuthorizationParams};
use gatehouse_oauth::request::MAX_BODY_BYTES;
use gatehouse_oauth::{OAuthError, TokenRequest};
use gatehouse_telemetry::trace;
use http::header::{CACHE_CONTROL, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::{Instrument as _, Span};

use super::{error_response, is_form, read_limited};
use crate::live::RuntimeConfig;
use crate::proxy::ResponseBody;

pub async fn handle(config: &RuntimeConfig, api: &Api, req: Request<Incoming>) -> Response<ResponseBody> {
    let span = trace::authorize(&api.api_id);
    let response = check(config, api, req, &span).instrument(span.clone()).await;
    let outcome = if response.status() == StatusCode::TEMPORARY_REDIRECT { "redirected" } else { "refused" };
    trace::record_outcome(&span, outcome);
    response
}

async fn check(
    config: &RuntimeConfig,
    api: &Api,
    req: Request<Incoming>,
    span: &Span,
) -> Response<ResponseBody> {
    let settings = api.oauth.as_ref();
    let raw = match read_params(req).await {
        Ok(raw) => raw,
        Err(e) => return error_response(settings, &e),
    };
    let params = AuthorizationParams {
        response_type: raw.param("response_type"),
        client_id: raw.param("client_id"),
        redirect_uri: raw.param("redirect_uri"),
        state: raw.param("state"),
        scope: raw.param("scope"),
        code_challenge: raw.param("code_challenge"),
        code_challenge_method: raw.param("code_challenge_method"),
        client_secret: raw.param("client_secret"),
    };
    let checked =
        authorize::validate(api, params, |id| config.state.client(&api.api_id, id)).and_then(|request| {
            // Validated: the id names a registered client.
            trace::record_client(span, &request.client.client_id);
            authorize::login_redirect(api, &request, params)
        });
    match checked {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(location) => {
                let mut response = Response::new(ResponseBody::Right(Default::default()));
                *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                response.headers_mut().insert(LOCATION, location);
                response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(_) => error_response(
                settings,
                &OAuthError::invalid_request("auth_login_redirect is not a valid URL"),
            ),
        },
        Err(e) => error_response(settings, &e),
    }
}

/// Parameters from the query (GET) or the form body (POST), strictly: each at most once.
async fn read_params(req: Request<Incoming>) -> Result<TokenRequest, OAuthError> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or("").to_owned();
        return TokenRequest::parse(query.as_bytes(), None);
    }
    if req.method() != Method::POST {
        return Err(OAuthError::invalid_request("the authorization endpoint accepts GET and POST"));
    }
    if !is_form(req.headers()) {
        return Err(OAuthError::invalid_request("content-type must be application/x-www-form-urlencoded"));
    }
    let body = read_limited(req.into_body()).await?;
    if body.len() > MAX_BODY_BYTES {
        return Err(OAuthError::invalid_request("request body too large"));
    }
    TokenRequest::parse(&body, None)
}
