//! `GET|POST /<listen-path>/oauth/authorize`: checks the request and sends the user agent to the
//! identity server's login page with `307 Temporary Redirect`, as Tyk does (identity servers
//! built for Tyk expect a re-posted body). Bad requests get an error here, never a redirect to
//! a URI that was not verified.

use gatehouse_model::Api;
use gatehouse_oauth::authorize::{self, AuthorizationParams};
use gatehouse_oauth::{OAuthError, TokenRequest};
use gatehouse_telemetry::trace;
use http::header::{CACHE_CONTROL, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::{Instrument as _, Span};

use super::{collect_limited, error_response, is_form};
use crate::live::RuntimeConfig;
use crate::response::ResponseBody;

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
        Err(ParamsError::Invalid(e)) => return error_response(settings, &e),
        Err(ParamsError::Body(response)) => return response,
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

/// Why an authorization request's parameters could not be had.
enum ParamsError {
    /// A refusal of the request itself, with the API's Tyk-compatible status if it sets one.
    Invalid(OAuthError),
    /// The body could not be read (too large, broken off): answered as on the token endpoint,
    /// with the status that says so (413, 400).
    Body(Response<ResponseBody>),
}

/// Parameters from the query (GET) or the form body (POST), strictly: each at most once.
async fn read_params(req: Request<Incoming>) -> Result<TokenRequest, ParamsError> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or("").to_owned();
        return TokenRequest::parse(query.as_bytes(), None).map_err(ParamsError::Invalid);
    }
    if req.method() != Method::POST {
        return Err(ParamsError::Invalid(OAuthError::invalid_request(
            "the authorization endpoint accepts GET and POST",
        )));
    }
    if !is_form(req.headers()) {
        return Err(ParamsError::Invalid(OAuthError::invalid_request(
            "content-type must be application/x-www-form-urlencoded",
        )));
    }
    let body = collect_limited(req.into_body()).await.map_err(|e| ParamsError::Body(e.response()))?;
    TokenRequest::parse(&body, None).map_err(ParamsError::Invalid)
}
