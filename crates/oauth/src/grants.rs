//! The rules of the authorization_code, password and refresh_token grants.

use gatehouse_model::storage::{FailureStore, TokenStore};
use gatehouse_model::{Api, Client, GrantType, OAuthSettings, Taken};

use crate::error::store_unavailable;
use crate::issue::{FamilySeed, Issued, TokenIssuer, TokenResponse};
use crate::throttle::Subject;
use crate::token::{key_from_hex, kind, random_id};
use crate::{ErrorCode, OAuthError, TokenRequest, pkce};

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

impl<S: TokenStore + FailureStore> TokenIssuer<'_, S> {
    /// RFC 6749 §4.1.3 with RFC 7636: a code is redeemed once, by the client it was issued to,
    /// with the redirect URI and PKCE verifier it was bound to. A replayed code revokes what
    /// the first redemption issued (§4.1.2).
    pub(crate) async fn authorization_code(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        request: &TokenRequest,
        now: u64,
    ) -> Result<Issued, OAuthError> {
        let code = request.require("code")?;
        let family_id = random_id();
        let key = self.hasher.key(kind::CODE, code);
        let window = Self::replay_window(settings);
        let record = match self
            .store
            .redeem_code(&key, &family_id, window)
            .await
            .map_err(store_unavailable)?
        {
            Taken::Fresh(record) => record,
            Taken::Missing => return Err(invalid_grant("authorization code is invalid or expired")),
            Taken::Replayed { family_id } => {
                self.store.revoke_family(&family_id, window).await.map_err(store_unavailable)?;
                tracing::warn!(api_id = %api.api_id, client_id = %client.client_id, "authorization code replayed; its tokens are revoked");
                return Err(invalid_grant(
                    "authorization code was already used; the tokens issued for it are revoked",
                ));
            }
        };
        if record.client_id != client.client_id || record.api_id != api.api_id {
            return Err(invalid_grant("authorization code was issued to another client"));
        }
        match request.param("redirect_uri") {
            Some(uri) if uri != record.redirect_uri => {
                return Err(invalid_grant("redirect_uri differs from the one the code was issued for"));
            }
            None if record.redirect_uri_in_request => {
                return Err(invalid_grant("redirect_uri is required: the authorization request had one"));
            }
            _ => {}
        }
        match (&record.code_challenge, request.param("code_verifier")) {
            (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return Err(invalid_grant("code_verifier does not match the code_challenge"));
            }
            (Some(_), None) => return Err(invalid_grant("code_verifier is required for this code")),
            // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            (None, Some(_)) => {
                return Err(invalid_grant("code_verifier sent for a code issued without PKCE"));
            }
            (None, None) => {}
        }
        let seed = FamilySeed {
            origin: GrantType::AuthorizationCode,
            family_id,
            policy_id: record.policy_id,
            meta_data: record.meta_data,
            refresh_scope: record.scope.clone(),
            scope: record.scope,
            username: None,
        };
        let response = self.mint_family(api, settings, client, seed, now).await?;
        let mut issued = Issued::plain(response, GrantType::AuthorizationCode, client);
        issued.auth_code = Some(code.to_owned());
        Ok(issued)
    }

    /// RFC 6749 §4.3, for legacy clients only (RFC 9700 §2.4): the API must allow it.
    pub(crate) async fn password(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        request: &TokenRequest,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let username = request.require("username")?;
        let password = request.require("password")?;
        let user = self.state.users.get(username);
        // Through the same bounded, gated pool as client secrets (the lockout was checked with
        // the client's). Unknown users are verified against a dummy hash so timing does not
        // reveal which usernames exist.
        let subject = Subject::User { api_id: &api.api_id, username };
        let phc = user.map(|u| u.password_hash.as_str());
        let verified = self.guard.verify_argon2(self.store, subject, password, phc).await?;
        let Some(user) = user.filter(|_| verified) else {
            tracing::info!(api_id = %api.api_id, client_id = %client.client_id, "password grant refused");
            return Err(invalid_grant("invalid resource owner credentials"));
        };
        let mut meta_data = client.meta_data.clone();
        meta_data.extend(user.meta_data.clone());
        let policy_id =
            if user.policy_id.is_empty() { client.policy_id.clone() } else { user.policy_id.clone() };
        let seed = FamilySeed {
            origin: GrantType::Password,
            family_id: random_id(),
            policy_id,
            meta_data,
            scope: request.param("scope").map(str::to_owned),
            refresh_scope: request.param("scope").map(str::to_owned),
            username: Some(user.username.clone()),
        };
        self.mint_family(api, settings, client, seed, now).await
    }

    /// RFC 6749 §6 with RFC 9700 §4.14.2 rotation: a refresh token is spent once; the new pair
    /// replaces the old one; spending it again revokes the whole family.
    pub(crate) async fn refresh(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        request: &TokenRequest,
        now: u64,
    ) -> Result<Issued, OAuthError> {
        let refresh_token = request.require("refresh_token")?;
        let key = self.hasher.key(kind::REFRESH_TOKEN, refresh_token);
        let window = Self::replay_window(settings);
        // Refusals that are the client's mistake come before spending the token: RFC 6749 §6
        // lets the server drop a refresh token only once it has issued the next one.
        if let Some(peek) = self.store.get_refresh(&key).await.map_err(store_unavailable)? {
            narrowed_scope(request.param("scope"), &peek.scope)?;
        }
        let grant = match self.store.use_refresh(&key, window).await.map_err(store_unavailable)? {
            Taken::Fresh(grant) => grant,
            Taken::Missing => return Err(invalid_grant("refresh token is invalid or expired")),
            Taken::Replayed { family_id } => {
                self.store.revoke_family(&family_id, window).await.map_err(store_unavailable)?;
                tracing::warn!(api_id = %api.api_id, client_id = %client.client_id, "refresh token reused; its token family is revoked");
                return Err(invalid_grant("refresh token was already used; its token family is revoked"));
            }
        };
        if grant.client_id != client.client_id || grant.api_id != api.api_id {
            // Someone else holds this client's refresh token: treat it as stolen.
            self.store.revoke_family(&grant.family_id, window).await.map_err(store_unavailable)?;
            return Err(invalid_grant("refresh token was issued to another client"));
        }
        let scope = match (request.param("scope"), &grant.scope) {
            (None, original) => original.clone(),
            (Some(asked), Some(original)) if is_subset(asked, original) => Some(asked.to_owned()),
            (Some(_), _) => {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant"));
            }
        };
        // The access token issued with the spent refresh token dies with it, as in Tyk.
        if let Some(old_access) = key_from_hex(&grant.access_key) {
            self.store.delete_session(&old_access).await.map_err(store_unavailable)?;
        }
        let family_id = grant.family_id.clone();
        let seed = FamilySeed {
            origin: grant.origin,
            family_id: grant.family_id,
            policy_id: grant.policy_id,
            meta_data: grant.meta_data,
            scope,
            refresh_scope: grant.scope,
            username: grant.username,
        };
        let response = self.mint_family(api, settings, client, seed, now).await?;
        // A revocation that raced with this refresh may have missed the pair just written.
        if self.store.family_revoked(&family_id).await.map_err(store_unavailable)? {
            self.store.revoke_family(&family_id, window).await.map_err(store_unavailable)?;
            return Err(invalid_grant("the token family was revoked"));
        }
        let mut issued = Issued::plain(response, GrantType::RefreshToken, client);
        issued.old_refresh_token = Some(refresh_token.to_owned());
        Ok(issued)
    }
}

/// The scope a refresh asks for: the original when absent, a subset of it otherwise.
fn narrowed_scope(asked: Option<&str>, original: &Option<String>) -> Result<Option<String>, OAuthError> {
    match (asked, original) {
        (None, original) => Ok(original.clone()),
        (Some(asked), Some(original)) if is_subset(asked, original) => Ok(Some(asked.to_owned())),
        (Some(_), _) => Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant")),
    }
}

/// Whether every space-separated scope in `asked` is in `original` (RFC 6749 §6).
fn is_subset(asked: &str, original: &str) -> bool {
    asked.split(' ').filter(|s| !s.is_empty()).all(|s| original.split(' ').any(|o| o == s))
}
