//! The token endpoint (RFC 6749 §3.2): from a parsed request to stored tokens and the response.
//! Here: the dispatch from a [`GrantRequest`] to its grant, and what the grants share (minting
//! a token family, spending a single-use code or refresh token); each grant's own rules in its
//! file.

mod authorization_code;
mod client_credentials;
mod password;
mod refresh_token;

// Store methods used here: put_session, put_refresh, set_family, index_client_token
// (mint_family); revoke_family (spend_once); FailureStore's through `authenticate` (token).
use gatehouse_model::storage::{
    ClientRef, ClientTokenEntry, ClientTokenIndex, FailureStore, GrantStore, SessionStore,
};
use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_model::{
    Api, Client, ConfigState, FamilyMembers, GrantType, OAuthSettings, RefreshGrant, Session, Taken,
};
use serde::Serialize;

use crate::client_auth::authenticate;
use crate::error::store_unavailable;
use crate::grant_request::GrantRequest;
use crate::throttle::Guard;
use crate::token::{self, key_to_hex, kind};
use crate::{ErrorCode, OAuthError, TokenHasher, TokenRequest};

/// The successful token response (RFC 6749 §5.1), as Tyk shapes it.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds, as an integer: clients such as the Rust `oauth2` crate reject anything else.
    pub expires_in: u64,
    /// Lower case, as Tyk sends it; RFC 6749 §5.1 makes the value case-insensitive.
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Tokens issued, with what a token notification needs to say about them.
#[derive(Debug)]
pub struct Issued {
    pub response: TokenResponse,
    pub grant: GrantType,
    pub client_id: String,
    /// The code redeemed (authorization_code grant).
    pub auth_code: Option<String>,
    /// The refresh token spent (refresh_token grant).
    pub old_refresh_token: Option<String>,
}

impl Issued {
    fn plain(response: TokenResponse, grant: GrantType, client: &Client) -> Self {
        Self {
            response,
            grant,
            client_id: client.client_id.clone(),
            auth_code: None,
            old_refresh_token: None,
        }
    }
}

/// Issues tokens for the APIs of one configuration into a token store.
pub struct TokenIssuer<'a, S> {
    pub store: &'a S,
    pub hasher: &'a TokenHasher,
    pub state: &'a ConfigState,
    /// The caller's source and the protection against guessing; after a refusal, whether it
    /// was throttled.
    pub guard: &'a Guard,
}

/// What a grant issues for: the API, its OAuth settings, the authenticated client, and the
/// time of the request.
struct GrantContext<'a> {
    api: &'a Api,
    settings: &'a OAuthSettings,
    client: &'a Client,
    now: u64,
}

impl<S: SessionStore + GrantStore + ClientTokenIndex + FailureStore> TokenIssuer<'_, S> {
    /// Answers a token request for `api`. The refusals come in a fixed order: the grant type,
    /// client authentication, whether the API and client may use the grant, the scope syntax
    /// and the grant's required parameters ([`GrantRequest::parse`]), then the grant's rules.
    pub async fn token(&self, api: &Api, request: &TokenRequest, now: u64) -> Result<Issued, OAuthError> {
        let settings = api
            .oauth
            .as_ref()
            .ok_or_else(|| OAuthError::invalid_request("this API is not an OAuth 2.0 API"))?;
        let grant_type = request.grant_type()?;
        let client = authenticate(self.store, self.guard, self.state, api, request).await?;
        admit(settings, client, grant_type)?;
        let cx = GrantContext { api, settings, client, now };
        match GrantRequest::parse(grant_type, request)? {
            GrantRequest::AuthorizationCode(grant) => self.authorization_code(&cx, grant).await,
            GrantRequest::ClientCredentials(grant) => self.client_credentials(&cx, grant).await,
            GrantRequest::Password(grant) => self.password(&cx, grant).await,
            GrantRequest::RefreshToken(grant) => self.refresh_token(&cx, grant).await,
        }
    }
}

/// Whether the API allows `grant`, and `client` may use it: RFC 6749 §4.4 and RFC 9700 §2.4
/// let only confidential clients act on their own behalf or handle user passwords.
fn admit(settings: &OAuthSettings, client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if !settings.allows(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this API does not allow the {} grant", grant.as_str()),
        ));
    }
    if client.is_public() && matches!(grant, GrantType::ClientCredentials | GrantType::Password) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("public clients may not use the {} grant", grant.as_str()),
        ));
    }
    Ok(())
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// What a new token family carries.
struct FamilySeed {
    origin: GrantType,
    family_id: String,
    policy_id: String,
    meta_data: BTreeMap<String, String>,
    /// Scope of the access token (and of the response).
    scope: Option<String>,
    /// Scope of the refresh token: the original grant's, even when a refresh narrowed the
    /// access token's (RFC 6749 §6).
    refresh_scope: Option<String>,
    username: Option<String>,
}

/// How a grant's refusals name the single-use thing it spends (a code, a refresh token).
struct SingleUse {
    /// `invalid_grant` when it is unknown or expired.
    missing: &'static str,
    /// `invalid_grant` when it was spent before.
    replayed: &'static str,
    /// Logged when it was spent before.
    replay_log: &'static str,
}

impl<S: SessionStore + GrantStore + ClientTokenIndex> TokenIssuer<'_, S> {
    /// The record of a code or refresh token just taken from the store. Spending one twice is
    /// a theft or a replay: the family the first use started is revoked (RFC 6749 §4.1.2,
    /// RFC 9700 §4.14.2).
    async fn spend_once<T>(
        &self,
        cx: &GrantContext<'_>,
        taken: Taken<T>,
        what: &SingleUse,
    ) -> Result<T, OAuthError> {
        match taken {
            Taken::Fresh(record) => Ok(record),
            Taken::Missing => Err(invalid_grant(what.missing)),
            Taken::Replayed { family_id } => {
                self.revoke_family(cx, &family_id).await?;
                tracing::warn!(api_id = %cx.api.api_id, client_id = %cx.client.client_id, "{}", what.replay_log);
                Err(invalid_grant(what.replayed))
            }
        }
    }

    async fn revoke_family(&self, cx: &GrantContext<'_>, family_id: &str) -> Result<(), OAuthError> {
        self.store.revoke_family(family_id, replay_window(cx.settings)).await.map_err(store_unavailable)
    }

    /// Mints an access token (and a refresh token when the API issues them) for a family and
    /// records the family's live members.
    async fn mint_family(
        &self,
        cx: &GrantContext<'_>,
        seed: FamilySeed,
    ) -> Result<TokenResponse, OAuthError> {
        let GrantContext { api, settings, client, now } = *cx;
        let access_ttl = settings.access_token_ttl();
        let access_token = token::mint();
        let access_key = self.hasher.key(kind::ACCESS_TOKEN, &access_token);
        let session = Session {
            api_id: api.api_id.clone(),
            client_id: client.client_id.clone(),
            policy_id: seed.policy_id.clone(),
            grant: seed.origin,
            meta_data: seed.meta_data.clone(),
            issued_at: now,
            expires_at: now + access_ttl,
            family_id: Some(seed.family_id.clone()),
            scope: seed.scope.clone(),
            username: seed.username.clone(),
        };
        let mut members = FamilyMembers { access_key: key_to_hex(&access_key), refresh_key: None };
        let mut family_ttl = access_ttl;
        let mut refresh = None;
        let refresh_token = if settings.issues_refresh_tokens() {
            let refresh_ttl = settings.refresh_token_ttl();
            let refresh_token = token::mint();
            let refresh_key = self.hasher.key(kind::REFRESH_TOKEN, &refresh_token);
            let grant = RefreshGrant {
                api_id: api.api_id.clone(),
                client_id: client.client_id.clone(),
                family_id: seed.family_id.clone(),
                origin: seed.origin,
                policy_id: seed.policy_id,
                meta_data: seed.meta_data,
                scope: seed.refresh_scope,
                username: seed.username,
                access_key: key_to_hex(&access_key),
                issued_at: now,
                expires_at: now + refresh_ttl,
            };
            refresh = Some((refresh_key, grant, Duration::from_secs(refresh_ttl)));
            members.refresh_key = Some(key_to_hex(&refresh_key));
            family_ttl = family_ttl.max(refresh_ttl);
            Some(refresh_token)
        } else {
            None
        };
        // Indexed by family: a refresh moves the entry instead of adding one, and revoking the
        // family revokes whichever pair is live then.
        let owner = ClientRef { api_id: &api.api_id, client_id: &client.client_id };
        let family_entry = ClientTokenEntry::Family(seed.family_id.clone());
        let put_refresh = async {
            match &refresh {
                Some((key, grant, ttl)) => self.store.put_refresh(key, grant, *ttl).await,
                None => Ok(()),
            }
        };
        // All four writes at once (one round trip on a pipelining store): the tokens are handed
        // out only when every write succeeded, so no order among them protects anything.
        tokio::try_join!(
            self.store.put_session(&access_key, &session, session.storage_ttl(now)),
            put_refresh,
            // One second more: the access token is live through its last second.
            self.store.set_family(&seed.family_id, &members, Duration::from_secs(family_ttl + 1)),
            self.store.index_client_token(&owner, &family_entry, now + family_ttl),
        )
        .map_err(store_unavailable)?;
        tracing::info!(
            api_id = %api.api_id,
            client_id = %client.client_id,
            grant = seed.origin.as_str(),
            refresh = refresh_token.is_some(),
            "access token issued"
        );
        Ok(TokenResponse {
            access_token,
            expires_in: access_ttl,
            token_type: "bearer",
            refresh_token,
            scope: seed.scope,
        })
    }
}

/// How long spent codes and refresh tokens are remembered, to recognise a replay: as long as
/// anything issued from them can live.
fn replay_window(settings: &OAuthSettings) -> Duration {
    Duration::from_secs(settings.refresh_token_ttl().max(settings.access_token_ttl()))
}
