//! `POST /<listen-path>/oauth/introspect` (RFC 7662), `/oauth/revoke` (RFC 7009) and Tyk's
//! `/oauth/revoke_all`. All need client authentication, unlike Tyk's unauthenticated revoke.

use gatehouse_model::OAuthSettings;
use gatehouse_model::clock::unix_seconds;
use gatehouse_oauth::client_auth::authenticate;
use gatehouse_oauth::introspect::{self, Revocation};
use gatehouse_oauth::{ErrorCode, OAuthError, TokenRequest};
use http::{Response, StatusCode};

use super::{FormCall, error_response, oauth_json, refusal_response};
use crate::response::ResponseBody;

pub async fn introspect(call: &FormCall<'_>, request: &TokenRequest) -> Response<ResponseBody> {
    let FormCall { server, config, api, guard } = call;
    let result = async {
        authenticate(server.tokens, guard, &config.state, api, request).await?;
        let token = request.require("token")?;
        introspect::introspect(
            server.tokens,
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
        Err(e) => refusal_response(api.oauth.as_ref(), guard, &e),
    }
}

/// How long a family revoked here is remembered: as long as its tokens could live.
fn family_window(settings: Option<&OAuthSettings>) -> std::time::Duration {
    std::time::Duration::from_secs(
        settings.map(|s| s.refresh_token_ttl().max(s.access_token_ttl())).unwrap_or(0),
    )
}

pub async fn revoke(call: &FormCall<'_>, request: &TokenRequest) -> Response<ResponseBody> {
    let FormCall { server, config, api, guard } = call;
    let settings = api.oauth.as_ref();
    let result = async {
        let client = authenticate(server.tokens, guard, &config.state, api, request).await?;
        let token = request.require("token")?;
        introspect::revoke(
            server.tokens,
            &config.hasher,
            introspect::Owner { api_id: Some(&api.api_id), client_id: &client.client_id },
            token,
            request.param("token_type_hint"),
            family_window(settings),
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

/// Tyk's `POST <listen-path>/oauth/revoke_all` (`client_id` and `client_secret` in the form, or
/// Basic): every token of the client on this API. Client authentication is the other
/// endpoints' (same throttle, same RFC 6749 errors); success is Tyk's answer, which scripts
/// written for it check.
pub async fn revoke_all(call: &FormCall<'_>, request: &TokenRequest) -> Response<ResponseBody> {
    let FormCall { server, config, api, guard } = call;
    let settings = api.oauth.as_ref();
    let result = async {
        let client = authenticate(server.tokens, guard, &config.state, api, request).await?;
        introspect::revoke_all(server.tokens, client, family_window(settings)).await
    }
    .await;
    match result {
        Ok(count) => {
            tracing::info!(api_id = %api.api_id, count, "client revoked all its tokens");
            oauth_json(StatusCode::OK, r#"{"status":"ok","message":"tokens revoked successfully"}"#.into())
        }
        Err(e) => refusal_response(settings, guard, &e),
    }
}
