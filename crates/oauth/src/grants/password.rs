//! RFC 6749 §4.3: the resource owner password credentials grant, for legacy clients only
//! (RFC 9700 §2.4): the API must allow it.

// Store methods used: FailureStore through the guard's verify_argon2; mint_family's.
use gatehouse_model::storage::{ClientTokenIndex, FailureStore, GrantStore, SessionStore};

use gatehouse_model::GrantType;

use super::{FamilySeed, GrantContext, Issued, TokenIssuer, invalid_grant};
use crate::OAuthError;
use crate::grant_request::PasswordRequest;
use crate::throttle::Subject;
use crate::token::random_id;

impl<S: SessionStore + GrantStore + ClientTokenIndex + FailureStore> TokenIssuer<'_, S> {
    pub(super) async fn password(
        &self,
        cx: &GrantContext<'_>,
        grant: PasswordRequest,
    ) -> Result<Issued, OAuthError> {
        let GrantContext { api, client, .. } = *cx;
        let user = self.state.users.get(&grant.username);
        // Through the same bounded, gated pool as client secrets (the lockout was checked with
        // the client's). Unknown users are verified against a dummy hash so timing does not
        // reveal which usernames exist.
        let subject = Subject::User { api_id: &api.api_id, username: &grant.username };
        let phc = user.map(|u| u.password_hash.as_str());
        let verified = self.guard.verify_argon2(self.store, subject, grant.password.expose(), phc).await?;
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
            refresh_scope: grant.scope.clone(),
            scope: grant.scope,
            username: Some(user.username.clone()),
        };
        let response = self.mint_family(cx, seed).await?;
        Ok(Issued::plain(response, GrantType::Password, client))
    }
}
