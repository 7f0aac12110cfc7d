//! Token operations of the control plane: authorization codes for identity servers, and
//! revocation by admins. Both need the token store the gateways share.

use gatehouse_model::ValidationError;
use gatehouse_model::clock::unix_seconds;
use gatehouse_model::storage::{ClientRef, ClientTokenEntry, ClientTokenIndex, GrantStore, SessionStore};
use gatehouse_oauth::authorize::{self, AuthorizationParams, IssuedCode, SessionOverride};
use gatehouse_oauth::introspect::{self, Revocation};
use gatehouse_oauth::secret;
use gatehouse_oauth::{OAuthError, TokenHasher};
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
    /// redirect URI, and that a policy its `key_rules` name exists (as creating a client
    /// checks), then mints a code any gateway can redeem.
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
            // Tokens naming a missing policy would be refused at every request: refuse the
            // code now, while the identity server can still tell its user why.
            if let Some(policy_id) = &overrides.policy_id
                && (policy_id.is_empty() || !state.policies.contains_key(policy_id))
            {
                return Err(
                    ValidationError::new("key_rules", format!("policy {policy_id:?} not found")).into()
                );
            }
            (api, client, TokenHasher::new(&state.token_key))
        };
        let request = authorize::validate(&api, params, |_| Some(&client)).map_err(oauth_to_invalid)?;
        authorize::issue_code(tokens, &hasher, &api, &request, overrides, unix_seconds())
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
        let (hasher, api_ids) = {
            let current = self.current.read().await;
            let apis: Vec<String> = current
                .state
                .all_clients()
                .filter(|c| c.client_id == client_id)
                .map(|c| c.api_id.clone())
                .collect();
            (TokenHasher::new(&current.state.token_key), apis)
        };
        if api_ids.is_empty() {
            return Err(ControlError::NotFound(format!("client {client_id:?} not found")));
        }
        let window = family_window();
        if let Some(entry) = listed_entry(token) {
            return revoke_listed(tokens, &api_ids, client_id, entry, window).await;
        }
        let owner = introspect::Owner { api_id: None, client_id };
        introspect::revoke(tokens, &hasher, owner, token, hint, window).await.map_err(oauth_to_invalid)
    }
}

impl ControlPlane {
    /// The Tyk Gateway API's refresh-token invalidation: revokes `refresh_token`'s family when
    /// `api_id` issued it. Another API's refresh token, like an unknown one, is no such token
    /// here (Tyk keeps each API's tokens apart, and answers 200 for unknown ones).
    pub async fn invalidate_refresh_token(
        &self,
        api_id: &str,
        refresh_token: &str,
    ) -> Result<Revocation, ControlError> {
        let tokens = self.token_store()?;
        let hasher = {
            let current = self.current.read().await;
            if !current.state.apis.contains_key(api_id) {
                return Err(ControlError::NotFound(format!("API {api_id:?} not found")));
            }
            TokenHasher::new(&current.state.token_key)
        };
        let key = hasher.key(gatehouse_oauth::token::kind::REFRESH_TOKEN, refresh_token);
        let Some(grant) = tokens.get_refresh(&key).await? else { return Ok(Revocation::Unknown) };
        if grant.api_id != api_id {
            return Ok(Revocation::Unknown);
        }
        let owner = introspect::Owner { api_id: Some(api_id), client_id: &grant.client_id };
        introspect::revoke(tokens, &hasher, owner, refresh_token, Some("refresh_token"), family_window())
            .await
            .map_err(oauth_to_invalid)
    }
}

/// Page size of token listings.
pub const TOKEN_PAGE_SIZE: usize = 100;

/// Index entries read per store call when every token is listed.
const LIST_CHUNK: usize = 1000;

/// How long a family revoked by an admin is remembered: as long as the longest default token
/// life, so a refresh racing with the revocation cannot resurrect it.
fn family_window() -> std::time::Duration {
    std::time::Duration::from_secs(gatehouse_model::api::DEFAULT_REFRESH_TOKEN_TTL_SECS)
}

impl ControlPlane {
    /// Revokes every token of a client (on policy change, deletion, or an admin's revoke-all).
    /// Without token state configured there is nothing to revoke here.
    pub async fn revoke_client_tokens(&self, api_id: &str, client_id: &str) -> Result<usize, ControlError> {
        let Some(tokens) = &self.tokens else { return Ok(0) };
        let count = tokens.revoke_client_tokens(&ClientRef { api_id, client_id }, family_window()).await?;
        tracing::info!(%api_id, %client_id, count, "client tokens revoked");
        Ok(count)
    }

    /// A page (from 1) of a client's live tokens, as (id, expiry) pairs, and the page count;
    /// page 0: every live token, as Tyk lists them without `?p=`. Those are read from the store
    /// a thousand at a time, so no single store reply grows with the client's token count
    /// (the answer still holds them all, as Tyk's does).
    pub async fn list_client_tokens(
        &self,
        api_id: &str,
        client_id: &str,
        page: usize,
    ) -> Result<(Vec<(String, u64)>, usize), ControlError> {
        let tokens = self.token_store()?;
        self.get_client(api_id, client_id).await?;
        let client = ClientRef { api_id, client_id };
        let now = unix_seconds();
        let (entries, total) = if page == 0 {
            let mut all = Vec::new();
            loop {
                // Offsets stay valid between chunks: a listing only drops entries at or after
                // the offset it reads from, and `now` is the same for every chunk.
                let (chunk, _) = tokens.list_client_tokens(&client, now, all.len(), LIST_CHUNK).await?;
                let last = chunk.len() < LIST_CHUNK;
                all.extend(chunk);
                if last {
                    break;
                }
            }
            let total = all.len();
            (all, total)
        } else {
            let offset = page.saturating_sub(1).saturating_mul(TOKEN_PAGE_SIZE);
            tokens.list_client_tokens(&client, now, offset, TOKEN_PAGE_SIZE).await?
        };
        let listed = entries
            .into_iter()
            .map(|(entry, expires)| {
                let id = match entry {
                    ClientTokenEntry::Access(key) => {
                        format!("at:{}", gatehouse_oauth::token::key_to_hex(&key))
                    }
                    ClientTokenEntry::Family(id) => format!("fam:{id}"),
                };
                (id, expires)
            })
            .collect();
        Ok((listed, total.div_ceil(TOKEN_PAGE_SIZE).max(1)))
    }

    /// Tyk's revoke-all: every token of `client_id`, on every API it is registered with, when
    /// `client_secret` is the client's. One answer for unknown client and wrong secret.
    pub async fn revoke_all_tokens(
        &self,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<usize, ControlError> {
        self.token_store()?;
        let clients: Vec<gatehouse_model::Client> = self
            .current
            .read()
            .await
            .state
            .all_clients()
            .filter(|c| c.client_id == client_id)
            .cloned()
            .collect();
        let mut authenticated = Vec::new();
        match client_secret {
            // Tyk's form: the secret picks the client (and a wrong one is refused).
            Some(client_secret) => {
                for client in &clients {
                    if let Some(hash) = &client.secret_hash
                        && secret::verify_async(client_secret, hash).await
                    {
                        authenticated.push(client);
                    }
                }
                if authenticated.is_empty() {
                    secret::verify_dummy(client_secret);
                    return Err(ControlError::Unauthenticated(
                        "unknown client or wrong client secret".into(),
                    ));
                }
            }
            // The admin's authority is enough: every client of that id.
            None if clients.is_empty() => {
                return Err(ControlError::NotFound(format!("client {client_id:?} not found")));
            }
            None => authenticated.extend(&clients),
        }
        let mut count = 0;
        for client in authenticated {
            count += self.revoke_client_tokens(&client.api_id, &client.client_id).await?;
        }
        Ok(count)
    }
}

/// A token as the client's listing names it (`at:<hex key>`, `fam:<family id>`), which admins
/// (and the dashboard) revoke by, since Gatehouse never knows a token's value after issuing it.
/// Issued tokens contain no `:`, so no token value is taken for an id.
fn listed_entry(token: &str) -> Option<ClientTokenEntry> {
    if let Some(hex) = token.strip_prefix("at:") {
        return gatehouse_oauth::token::key_from_hex(hex).map(ClientTokenEntry::Access);
    }
    token.strip_prefix("fam:").filter(|id| !id.is_empty()).map(|id| ClientTokenEntry::Family(id.to_owned()))
}

/// Revokes a listed token of `client_id` on one of `api_ids`. Taking the entry out of that
/// client's index is the ownership check: another client's id is not there, and is unknown.
async fn revoke_listed(
    tokens: &AnyTokenStore,
    api_ids: &[String],
    client_id: &str,
    entry: ClientTokenEntry,
    window: std::time::Duration,
) -> Result<Revocation, ControlError> {
    for api_id in api_ids {
        let client = ClientRef { api_id, client_id };
        if !tokens.unindex_client_token(&client, &entry).await? {
            continue;
        }
        return Ok(match &entry {
            ClientTokenEntry::Access(key) => {
                tokens.delete_session(key).await?;
                Revocation::AccessToken
            }
            ClientTokenEntry::Family(family_id) => {
                tokens.revoke_family(family_id, window).await?;
                Revocation::RefreshFamily
            }
        });
    }
    Ok(Revocation::Unknown)
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
