//! RFC 6749 §4.4: the client_credentials grant.

// Store methods used: put_session, index_client_token.
use gatehouse_model::storage::{ClientRef, ClientTokenEntry, ClientTokenIndex, SessionStore};

use gatehouse_model::{GrantType, Session};

use super::{GrantContext, Issued, TokenIssuer, TokenResponse};
use crate::OAuthError;
use crate::error::store_unavailable;
use crate::grant_request::ClientCredentialsRequest;
use crate::token::{self, kind};

impl<S: SessionStore + ClientTokenIndex> TokenIssuer<'_, S> {
    /// An access token for the client itself, never with a refresh token (§4.4.3). The scope
    /// asked for is granted as asked (no policy narrows scopes) and echoed, as Tyk does.
    pub(super) async fn client_credentials(
        &self,
        cx: &GrantContext<'_>,
        grant: ClientCredentialsRequest,
    ) -> Result<Issued, OAuthError> {
        let GrantContext { api, settings, client, now } = *cx;
        let ttl = settings.access_token_ttl();
        let session = Session {
            api_id: api.api_id.clone(),
            client_id: client.client_id.clone(),
            policy_id: client.policy_id.clone(),
            grant: GrantType::ClientCredentials,
            meta_data: client.meta_data.clone(),
            issued_at: now,
            expires_at: now + ttl,
            family_id: None,
            scope: grant.scope.clone(),
            username: None,
        };
        let access_token = token::mint();
        let key = self.hasher.key(kind::ACCESS_TOKEN, &access_token);
        let owner = ClientRef { api_id: &api.api_id, client_id: &client.client_id };
        // Both writes at once (one round trip on a pipelining store): the token is handed out
        // only when both succeeded, so neither order protects anything the other would not.
        let entry = ClientTokenEntry::Access(key);
        tokio::try_join!(
            self.store.put_session(&key, &session, session.storage_ttl(now)),
            self.store.index_client_token(&owner, &entry, session.expires_at),
        )
        .map_err(store_unavailable)?;
        tracing::info!(api_id = %api.api_id, client_id = %client.client_id, grant = "client_credentials", "access token issued");
        let response = TokenResponse {
            access_token,
            expires_in: ttl,
            token_type: "bearer",
            refresh_token: None,
            scope: grant.scope,
        };
        Ok(Issued::plain(response, GrantType::ClientCredentials, client))
    }
}
