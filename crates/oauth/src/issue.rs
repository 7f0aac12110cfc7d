//! The token endpoint's grants: from a parsed request to stored tokens and the response.
//! Dispatch, client authentication and minting live here; each grant's own rules in
//! [`crate::grants`].

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_model::SecretHash;
use gatehouse_model::storage::{ClientRef, ClientTokenEntry, FailureStore, TokenStore};
use gatehouse_model::{
    Api, Client, ConfigState, FamilyMembers, GrantType, OAuthSettings, RefreshGrant, Session,
};
use serde::Serialize;

use crate::error::store_unavailable;
use crate::throttle::{Guard, Subject};
use crate::token::{self, key_to_hex, kind};
use crate::{ErrorCode, OAuthError, TokenHasher, TokenRequest, secret};

/// Storage-key domain of access tokens (see [`TokenHasher::key`]).
pub const ACCESS_TOKEN_KIND: &str = kind::ACCESS_TOKEN;

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
    pub(crate) fn plain(response: TokenResponse, grant: GrantType, client: &Client) -> Self {
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

/// What a new token family carries.
pub(crate) struct FamilySeed {
    pub origin: GrantType,
    pub family_id: String,
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
    /// Scope of the access token (and of the response).
    pub scope: Option<String>,
    /// Scope of the refresh token: the original grant's, even when a refresh narrowed the
    /// access token's (RFC 6749 §6).
    pub refresh_scope: Option<String>,
    pub username: Option<String>,
}

impl<S: TokenStore + FailureStore> TokenIssuer<'_, S> {
    /// Answers a token request for `api`.
    pub async fn token(&self, api: &Api, request: &TokenRequest, now: u64) -> Result<Issued, OAuthError> {
        let settings = api
            .oauth
            .as_ref()
            .ok_or_else(|| OAuthError::invalid_request("this API is not an OAuth 2.0 API"))?;
        let grant: GrantType = request
            .require("grant_type")?
            .parse()
            .map_err(|()| OAuthError::new(ErrorCode::UnsupportedGrantType, "unknown grant_type"))?;
        let client = authenticate(self.store, self.guard, self.state, api, request).await?;
        if !settings.allows(grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this API does not allow the {} grant", grant.as_str()),
            ));
        }
        // RFC 6749 §4.4 and RFC 9700 §2.4: only confidential clients act on their own behalf
        // or handle user passwords.
        if client.is_public() && matches!(grant, GrantType::ClientCredentials | GrantType::Password) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("public clients may not use the {} grant", grant.as_str()),
            ));
        }
        crate::scope::check(request.param("scope"))?;
        match grant {
            GrantType::ClientCredentials => {
                let scope = request.param("scope").map(str::to_owned);
                let response = self.client_credentials(api, settings, client, scope, now).await?;
                Ok(Issued::plain(response, grant, client))
            }
            GrantType::Password => {
                let response = self.password(api, settings, client, request, now).await?;
                Ok(Issued::plain(response, grant, client))
            }
            GrantType::AuthorizationCode => {
                self.authorization_code(api, settings, client, request, now).await
            }
            GrantType::RefreshToken => self.refresh(api, settings, client, request, now).await,
        }
    }

    /// RFC 6749 §4.4: an access token for the client itself, never with a refresh token. The
    /// scope asked for is granted as asked (no policy narrows scopes) and echoed, as Tyk does.
    async fn client_credentials(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        scope: Option<String>,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
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
            scope: scope.clone(),
            username: None,
        };
        let access_token = token::mint();
        let key = self.hasher.key(kind::ACCESS_TOKEN, &access_token);
        let owner = ClientRef { api_id: &api.api_id, client_id: &client.client_id };
        // Both writes at once (one round trip on a pipelining store): the token is handed out
        // only when both succeeded, so neither order protects anything the other would not.
        let entry = ClientTokenEntry::Access(key);
        tokio::try_join!(
            self.store.put_session(&key, &session, Duration::from_secs(ttl)),
            self.store.index_client_token(&owner, &entry, session.expires_at),
        )
        .map_err(store_unavailable)?;
        tracing::info!(api_id = %api.api_id, client_id = %client.client_id, grant = "client_credentials", "access token issued");
        Ok(TokenResponse { access_token, expires_in: ttl, token_type: "bearer", refresh_token: None, scope })
    }

    /// Mints an access token (and a refresh token when the API issues them) for a family and
    /// records the family's live members.
    pub(crate) async fn mint_family(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        seed: FamilySeed,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
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
            self.store.put_session(&access_key, &session, Duration::from_secs(access_ttl)),
            put_refresh,
            self.store.set_family(&seed.family_id, &members, Duration::from_secs(family_ttl)),
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

    /// How long spent codes and refresh tokens are remembered, to recognise a replay: as long
    /// as anything issued from them can live.
    pub(crate) fn replay_window(settings: &OAuthSettings) -> Duration {
        Duration::from_secs(settings.refresh_token_ttl().max(settings.access_token_ttl()))
    }
}

/// RFC 6749 §2.3.1 / §3.2.1: a confidential client proves its secret; a public client
/// only names itself (its proof is PKCE). Guarded against guessing ([`crate::throttle`]): a
/// locked-out client, address or (password grant) username is refused before any secret is
/// checked, and a failure is counted. Unknown client ids pay what a chosen secret costs, in the
/// same bounded pool, so timing does not tell them from clients whose secrets are guessable.
pub async fn authenticate<'s, S: FailureStore>(
    store: &S,
    guard: &Guard,
    state: &'s ConfigState,
    api: &Api,
    request: &TokenRequest,
) -> Result<&'s Client, OAuthError> {
    let Some(credentials) = &request.credentials else {
        return Err(OAuthError::invalid_client(false));
    };
    let subject = Subject::Client { api_id: &api.api_id, client_id: &credentials.client_id };
    // The password grant's username is checked here too, so a locked-out username costs no
    // client verification either.
    let user = request
        .param("username")
        .filter(|_| request.param("grant_type") == Some(GrantType::Password.as_str()))
        .map(|username| Subject::User { api_id: &api.api_id, username });
    guard.check(store, &[Some(subject), user].into_iter().flatten().collect::<Vec<_>>()).await?;
    let client = state.client(&api.api_id, &credentials.client_id);
    // (verified, failure already counted)
    let (verified, counted) = match (client, credentials.client_secret.as_deref()) {
        (Some(client), None) if client.is_public() => return Ok(client),
        (Some(client), Some(presented)) => match &client.secret_hash {
            Some(SecretHash::Argon2(phc)) if secret::remembered(presented, phc) => (true, false),
            Some(SecretHash::Argon2(phc)) => {
                let ok = guard.verify_argon2(store, subject, presented, Some(phc)).await?;
                if ok {
                    secret::remember(presented, phc);
                }
                (ok, true)
            }
            Some(hash) => (secret::verify(presented, hash), false),
            None => (false, false),
        },
        (Some(_), None) => (false, false),
        (None, presented) => {
            (guard.verify_argon2(store, subject, presented.unwrap_or(""), None).await?, true)
        }
    };
    match client {
        Some(client) if verified => Ok(client),
        _ => {
            if !counted {
                guard.failed(store, subject).await;
            }
            Err(OAuthError::invalid_client(credentials.via_basic))
        }
    }
}
