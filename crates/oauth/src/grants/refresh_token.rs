//! RFC 6749 §6 with RFC 9700 §4.14.2 rotation: a refresh token is spent once; the new pair
//! replaces the old one; spending it again revokes the whole family.

// Store methods used: get_refresh, use_refresh, delete_session, family_revoked;
// revoke_family (spend_once, and directly); mint_family's.
use gatehouse_model::storage::{ClientTokenIndex, GrantStore, SessionStore};

use gatehouse_model::GrantType;

use super::{FamilySeed, GrantContext, Issued, SingleUse, TokenIssuer, invalid_grant};
use crate::error::store_unavailable;
use crate::grant_request::RefreshTokenRequest;
use crate::token::{key_from_hex, kind};
use crate::{OAuthError, scope};

const REFRESH_TOKEN: SingleUse = SingleUse {
    missing: "refresh token is invalid or expired",
    replayed: "refresh token was already used; its token family is revoked",
    replay_log: "refresh token reused; its token family is revoked",
};

impl<S: SessionStore + GrantStore + ClientTokenIndex> TokenIssuer<'_, S> {
    pub(super) async fn refresh_token(
        &self,
        cx: &GrantContext<'_>,
        grant: RefreshTokenRequest,
    ) -> Result<Issued, OAuthError> {
        let GrantContext { api, settings, client, .. } = *cx;
        let key = self.hasher.key(kind::REFRESH_TOKEN, grant.refresh_token.expose());
        // Refusals that are the client's mistake come before spending the token: RFC 6749 §6
        // lets the server drop a refresh token only once it has issued the next one.
        if let Some(peek) = self.store.get_refresh(&key).await.map_err(store_unavailable)? {
            scope::narrowed(grant.scope.as_deref(), peek.scope.as_deref())?;
        }
        let window = super::replay_window(settings);
        let taken = self.store.use_refresh(&key, window).await.map_err(store_unavailable)?;
        let stored = self.spend_once(cx, taken, &REFRESH_TOKEN).await?;
        if stored.client_id != client.client_id || stored.api_id != api.api_id {
            // Someone else holds this client's refresh token: treat it as stolen.
            self.revoke_family(cx, &stored.family_id).await?;
            return Err(invalid_grant("refresh token was issued to another client"));
        }
        let scope = scope::narrowed(grant.scope.as_deref(), stored.scope.as_deref())?;
        // The access token issued with the spent refresh token dies with it, as in Tyk.
        if let Some(old_access) = key_from_hex(&stored.access_key) {
            self.store.delete_session(&old_access).await.map_err(store_unavailable)?;
        }
        let family_id = stored.family_id.clone();
        let seed = FamilySeed {
            origin: stored.origin,
            family_id: stored.family_id,
            policy_id: stored.policy_id,
            meta_data: stored.meta_data,
            scope,
            refresh_scope: stored.scope,
            username: stored.username,
        };
        let response = self.mint_family(cx, seed).await?;
        // A revocation that raced with this refresh may have missed the pair just written.
        if self.store.family_revoked(&family_id).await.map_err(store_unavailable)? {
            self.revoke_family(cx, &family_id).await?;
            return Err(invalid_grant("the token family was revoked"));
        }
        let mut issued = Issued::plain(response, GrantType::RefreshToken, client);
        issued.old_refresh_token = Some(grant.refresh_token.into_inner());
        Ok(issued)
    }
}
