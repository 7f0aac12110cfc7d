//! `POST /<listen-path>/oauth/introspect` (RFC 7662) and `/oauth/revoke` (RFC 7009). Both need
//! client authentication, unlike Tyk's unauthenticated revoke.

use gatehouse_model::Api;
use gatehouse_model::clock::unix_seconds;
use gatehouse_oauth::client_auth::authenticate;
use gatehouse_oauth::introspect::{self, Revocation};
use gatehouse_oauth::throttle::Guard;
use gatehouse_oauth::{ErrorCode, OAuthError};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{AuthServer, error_response, oauth_json, read_form_request, refusal_response};
use crate::live::RuntimeConfig;
use crate::response::ResponseBody;

pub async fn introspect(
    gateway: AuthServer<'_>,
    config: &RuntimeConfig,
    api: &Api,
    req: Request<Incoming>,
    guard: &Guard,
) -> Response<ResponseBody> {
    let settings = api.oauth.as_ref();
    let request = match read_form_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let result = async {
        authenticate(gateway.tokens, guard, &config.state, api, &request).await?;
        let token = request.require("token")?;
        introspect::introspect(
            gateway.tokens,
            &config.hasher,
            api,
            token,
            request.param("token_type_hint"),
            unix_seconds(),
        )
        .await
    }
    .await;
    match result.and_then(|i| {
        serde_json::to_string(&i).map_err(|e| OAuthError::new(ErrorCode::ServerError, e.to_string()))
    }) {
        Ok(json) => oauth_json(StatusCode::OK, json),
        Err(e) => refusal_response(settings, guard, &e),
    }
}

pub async fn revoke(
    gateway: AuthServer<'_>,
    config: &RuntimeConfig,
    api: &Api,
    req: Request<Incoming>,
    guard: &Guard,
) -> Response<ResponseBody> {
    let settings = api.oauth.as_ref();
    let request = match read_form_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let result = async {
        let client = authenticate(gateway.tokens, guard, &config.state, api, &request).await?;
        let token = request.require("token")?;
        let window = settings.map(|s| s.refresh_token_ttl().max(s.access_token_ttl())).unwrap_or(0);
        introspect::revoke(
            gateway.tokens,
            &config.hasher,
            introspect::Owner { api_id: Some(&api.api_id), client_id: &client.client_id },
            token,
            request.param("token_type_hint"),
            std::time::Duration::from_secs(window),
        )
        .await
    }
    .await;
    match result {
        // RFC 7009 §2.2: 200 whether or not the token was known.
        Ok(Revocation::AccessToken | Revocation::RefreshFamily | Revocation::Unknown) => {
            oauth_json(StatusCode::OK, "{}".into())
        }
        Ok(Revocation::OtherClient) => error_response(
            settings,
            &OAuthError::new(ErrorCode::UnauthorizedClient, "the token was not issued to this client"),
        ),
        Err(e) => refusal_response(settings, guard, &e),
    }
}
