//! `POST /<listen-path>/oauth/token`.

use gatehouse_model::Api;
use gatehouse_oauth::{Issued, TokenIssuer, now_unix};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{error_response, oauth_json, read_form_request};
use crate::live::RuntimeConfig;
use crate::notify::{NotificationType, TokenNotification};
use crate::proxy::ResponseBody;
use crate::server::Gateway;

pub async fn handle(
    gateway: &Gateway,
    config: &RuntimeConfig,
    api: &Api,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let settings = api.oauth.as_ref();
    let request = match read_form_request(req).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let issuer = TokenIssuer { store: &gateway.tokens, hasher: &config.hasher, state: &config.state };
    match issuer.token(api, &request, now_unix()).await {
        Ok(issued) => {
            notify(gateway, api, &issued);
            match serde_json::to_string(&issued.response) {
                Ok(json) => oauth_json(StatusCode::OK, json),
                Err(e) => error_response(
                    settings,
                    &gatehouse_oauth::OAuthError::new(gatehouse_oauth::ErrorCode::ServerError, e.to_string()),
                ),
            }
        }
        Err(error) => error_response(settings, &error),
    }
}

/// Tyk's token notification: for the code and password grants (`new`) and refreshes
/// (`refresh`), never client_credentials. Queued; the response does not wait for it.
fn notify(gateway: &Gateway, api: &Api, issued: &Issued) {
    let Some(target) = api.oauth.as_ref().and_then(|s| s.notifications.as_ref()) else { return };
    let notification_type = match issued.grant {
        gatehouse_model::GrantType::ClientCredentials => return,
        gatehouse_model::GrantType::RefreshToken => NotificationType::Refresh,
        _ => NotificationType::New,
    };
    gateway.notifier.send(
        &target.url,
        &target.shared_secret,
        TokenNotification {
            auth_code: issued.auth_code.clone().unwrap_or_default(),
            new_oauth_token: issued.response.access_token.clone(),
            refresh_token: issued.response.refresh_token.clone().unwrap_or_default(),
            old_refresh_token: issued.old_refresh_token.clone().unwrap_or_default(),
            notification_type,
        },
    );
}
