//! `POST /<listen-path>/oauth/token`.

use gatehouse_model::clock::unix_seconds;
use gatehouse_model::{Api, GrantType};
use gatehouse_oauth::{Issued, TokenIssuer};
use gatehouse_telemetry::trace;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tracing::{Instrument as _, Span};

use super::{AuthServer, FormCall, error_response, oauth_json, read_form_request, refusal_response};
use crate::log_budget::LogBudget;
use crate::notify::{NotificationType, TokenNotification};
use crate::response::ResponseBody;

pub async fn handle(call: &FormCall<'_>, req: Request<Incoming>) -> Response<ResponseBody> {
    let span = trace::token_grant(&call.api.api_id);
    grant(call, req, &span).instrument(span.clone()).await
}

async fn grant(call: &FormCall<'_>, req: Request<Incoming>, span: &Span) -> Response<ResponseBody> {
    let FormCall { server, config, api, guard } = call;
    let settings = api.oauth.as_ref();
    let request = match read_form_request(req).await {
        Ok(request) => request,
        Err(response) => {
            trace::record_outcome(span, "invalid_request");
            return response;
        }
    };
    // Only names from the fixed vocabulary reach the span: the parameter is the caller's text.
    let grant_type = request.grant_type().map_or("unsupported", GrantType::as_str);
    trace::record_grant_type(span, grant_type);
    let issuer = TokenIssuer { store: server.tokens, hasher: &config.hasher, state: &config.state, guard };
    let result = issuer.token(api, &request, unix_seconds()).await;
    match &result {
        Ok(issued) => {
            trace::record_client(span, &issued.client_id);
            trace::record_outcome(span, "issued");
            if let Some(metrics) = config.api_metrics(&api.api_id) {
                metrics.token_issued(issued.grant.as_str());
            }
        }
        Err(error) => {
            // A claimed client id is recorded only when it names a registered client, so
            // whatever a caller typed there (a secret by mistake) never reaches a collector.
            let registered = request
                .credentials
                .as_ref()
                .map(|credentials| credentials.client_id.as_str())
                .filter(|client_id| config.state.client(&api.api_id, client_id).is_some());
            if let Some(client_id) = registered {
                trace::record_client(span, client_id);
            }
            trace::record_outcome(span, error.error.as_str());
            let throttled = guard.throttled().is_some();
            if (throttled || error.error == gatehouse_oauth::ErrorCode::InvalidClient)
                && let Some(left_out) = CLIENT_REFUSALS_LOGGED.take(unix_seconds())
            {
                tracing::info!(
                    api_id = %api.api_id,
                    client_id = registered.unwrap_or("-"),
                    address = %guard.source().map_or_else(|| "-".to_owned(), |ip| ip.to_canonical().to_string()),
                    throttled,
                    left_out,
                    "client authentication refused"
                );
            }
        }
    }
    match result {
        Ok(issued) => {
            notify(*server, api, &issued);
            match serde_json::to_string(&issued.response) {
                Ok(json) => oauth_json(StatusCode::OK, json),
                Err(e) => error_response(
                    settings,
                    &gatehouse_oauth::OAuthError::new(gatehouse_oauth::ErrorCode::ServerError, e.to_string()),
                ),
            }
        }
        Err(error) => refusal_response(settings, guard, &error),
    }
}

/// Refused client authentications logged per second at most: a guesser cannot flood the log.
static CLIENT_REFUSALS_LOGGED: LogBudget = LogBudget::new(10);

/// Tyk's token notification: for the code and password grants (`new`) and refreshes
/// (`refresh`), never client_credentials. Queued; the response does not wait for it.
fn notify(gateway: AuthServer<'_>, api: &Api, issued: &Issued) {
    let Some(target) = api.oauth.as_ref().and_then(|s| s.notifications.as_ref()) else { return };
    let notification_type = match issued.grant {
        GrantType::ClientCredentials => return,
        GrantType::RefreshToken => NotificationType::Refresh,
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
