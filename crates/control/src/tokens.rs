//! Token operations of the control plane: authorization codes for identity servers, and
//! revocation by admins. Both need the token store the gateways share.

use gatehouse_model::ValidationError;
use gatehouse_oauth::authorize::{self, AuthorizationParams, IssuedCode, SessionOverride};
use gatehouse_oauth::introspect::{self, Revocation};
use gatehouse_oauth::{OAuthError, TokenHasher, now_unix};
use gatehouse_store::AnyTokenStore;

use crate::{ControlError, ControlPlane};

impl ControlPlane {
    fn token_store(&self) -> Result<&AnyTokenStore, ControlError> {
        self.tokens.as_ref().ok_or_else(|| {
            ControlError::Unavailable(
                "this control plane runs without --redis, so it cannot reach token state".into(),
            )
        })
    }

    /// The identity server's call (Tyk's `authorize-client`): checks the client and its exact
    /// redirect URI, then mints a code any gateway can redeem.
    pub async fn authorize_client(
        &self,
        api_id: &str,
        params: AuthorizationParams<'_>,
        overrides: SessionOverride,
    ) -> Result<IssuedCode, ControlError> {
        let tokens = self.token_store()?;
        let (api, client, hasher) = {
            let current = self.current.read().await;
            let state = &current.state;
            let api = state
                .apis
                .get(api_id)
                .cloned()
                .ok_or_else(|| ControlError::NotFound(format!("API {api_id:?} not found")))?;
            let client = params
                .client_id
                .and_then(|id| state.client(api_id, id))
                .cloned()
                .ok_or_else(|| ControlError::NotFound("client not found for this API".into()))?;
            (api, client, TokenHasher::new(&state.token_key))
        };
        let request = authorize::validate(&api, params, |_| Some(&client)).map_err(oauth_to_invalid)?;
        authorize::issue_code(tokens, &hasher, &api, &request, overrides, now_unix())
            .await
            .map_err(oauth_to_invalid)
    }

    /// Revokes one token of `client_id` (an access token, or a refresh token with its family).
    pub async fn revoke_token(
        &self,
        client_id: &str,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Revocation, ControlError> {
        let tokens = self.token_store()?;
        let (hasher, known_client) = {
            let current = self.current.read().await;
            let known = current.state.all_clients().any(|c| c.client_id == client_id);
            (TokenHasher::new(&current.state.token_key), known)
        };
        if !known_client {
            return Err(ControlError::NotFound(format!("client {client_id:?} not found")));
        }
        // Families are remembered as revoked for as long as the longest default token life.
        let window = std::time::Duration::from_secs(gatehouse_model::api::DEFAULT_REFRESH_TOKEN_TTL_SECS);
        introspect::revoke(tokens, &hasher, Some(client_id), token, hint, window)
            .await
            .map_err(oauth_to_invalid)
    }
}

fn oauth_to_invalid(e: OAuthError) -> ControlError {
    match e.error {
        gatehouse_oauth::ErrorCode::TemporarilyUnavailable => ControlError::Unavailable(e.error_description),
        _ => ControlError::Invalid(ValidationError::new(
            serde_json::to_value(e.error)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            e.error_description,
        )),
    }
}
