//! RFC 6749 §4.1.3 with RFC 7636: redeeming an authorization code.

// Store methods used: redeem_code; revoke_family (spend_once); mint_family's.
use gatehouse_model::storage::{ClientTokenIndex, GrantStore, SessionStore};

use gatehouse_model::GrantType;

use super::{FamilySeed, GrantContext, Issued, SingleUse, TokenIssuer, invalid_grant};
use crate::error::store_unavailable;
use crate::grant_request::AuthorizationCodeRequest;
use crate::token::{kind, random_id};
use crate::{OAuthError, pkce};

const CODE: SingleUse = SingleUse {
    missing: "authorization code is invalid or expired",
    replayed: "authorization code was already used; the tokens issued for it are revoked",
    replay_log: "authorization code replayed; its tokens are revoked",
};

impl<S: SessionStore + GrantStore + ClientTokenIndex> TokenIssuer<'_, S> {
    /// A code is redeemed once, by the client it was issued to, with the redirect URI and PKCE
    /// verifier it was bound to. A replayed code revokes what the first redemption issued
    /// (§4.1.2).
    pub(super) async fn authorization_code(
        &self,
        cx: &GrantContext<'_>,
        grant: AuthorizationCodeRequest,
    ) -> Result<Issued, OAuthError> {
        let GrantContext { api, settings, client, .. } = *cx;
        let family_id = random_id();
        let key = self.hasher.key(kind::CODE, grant.code.expose());
        let window = super::replay_window(settings);
        let taken = self.store.redeem_code(&key, &family_id, window).await.map_err(store_unavailable)?;
        let record = self.spend_once(cx, taken, &CODE).await?;
        if record.client_id != client.client_id || record.api_id != api.api_id {
            return Err(invalid_grant("authorization code was issued to another client"));
        }
        match grant.redirect_uri.as_deref() {
            Some(uri) if uri != record.redirect_uri => {
                return Err(invalid_grant("redirect_uri differs from the one the code was issued for"));
            }
            None if record.redirect_uri_in_request => {
                return Err(invalid_grant("redirect_uri is required: the authorization request had one"));
            }
            _ => {}
        }
        match (&record.code_challenge, grant.code_verifier.as_ref().map(|v| v.expose())) {
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
        let response = self.mint_family(cx, seed).await?;
        let mut issued = Issued::plain(response, GrantType::AuthorizationCode, client);
        issued.auth_code = Some(grant.code.into_inner());
        Ok(issued)
    }
}
