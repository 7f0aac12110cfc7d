//! The guard that keeps a protected API from becoming public by accident.
//!
//! An update that replaces an API requiring a token with a keyless one is refused unless the
//! caller asked for a keyless API. Gatehouse's own API JSON without `oauth` and `token_auth`
//! asks explicitly, as does a Tyk definition saying so (`authentication.enabled: false`,
//! `use_keyless: true`); a Tyk document whose authentication is simply missing, as an older
//! export that left it out, does not, and neither does anything else unless the caller opts
//! in (`allow_keyless`).

use gatehouse_model::Api;

use crate::ControlError;

/// Whether the caller asked for a keyless API, should the update produce one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeylessIntent {
    /// The definition, or the caller, says the API is keyless on purpose.
    Explicit,
    /// Nothing says so: a keyless result may be an accident (a lost authentication block).
    Unstated,
}

/// Refuses replacing `old`, which requires a token, by `new`, which does not, unless `intent`
/// says that is what the caller means.
pub(crate) fn check_not_made_keyless(
    old: &Api,
    new: &Api,
    intent: KeylessIntent,
) -> Result<(), ControlError> {
    if !old.requires_token() || new.requires_token() || intent == KeylessIntent::Explicit {
        return Ok(());
    }
    Err(ControlError::Precondition(format!(
        "API {:?} requires a token ({}), and this definition would make it keyless: every request \
         would reach its upstream without one. The definition does not say it is keyless (its \
         authentication is missing, not disabled), so the update is refused; keep the API \
         protected by sending its authentication (export it again to get a complete definition), \
         or make it public on purpose with allow_keyless=true (or a Tyk OAS definition with \
         x-tyk-api-gateway.server.authentication.enabled: false)",
        old.api_id,
        auth_kind(old)
    )))
}

/// How an API authenticates requests, as an admin knows the settings.
fn auth_kind(api: &Api) -> &'static str {
    match (api.oauth.is_some(), api.token_auth) {
        (true, true) => "oauth and token_auth",
        (true, false) => "oauth",
        (false, _) => "token_auth",
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::GrantType;
    use gatehouse_model::test_util::{ApiBuilder, oauth_settings};
    use gatehouse_store::{AnyStateStore, MemoryStateStore};

    use super::*;
    use crate::ControlPlane;

    fn api(token_auth: bool, oauth: bool) -> Api {
        let api = ApiBuilder::new("orders").name("Orders").token_auth(token_auth);
        if oauth { api.oauth(oauth_settings(&[GrantType::ClientCredentials])).build() } else { api.build() }
    }

    #[tokio::test]
    async fn a_protected_api_becomes_keyless_only_when_asked() {
        let cp = ControlPlane::open(AnyStateStore::Memory(MemoryStateStore::new()), None).await.unwrap();
        for (token_auth, oauth) in [(true, false), (false, true), (true, true)] {
            let protected = api(token_auth, oauth);
            cp.create_api(protected.clone()).await.unwrap();
            let keyless = api(false, false);
            match cp.update_api("orders", keyless.clone(), KeylessIntent::Unstated).await {
                Err(ControlError::Precondition(m)) => {
                    assert!(m.contains("would make it keyless") && m.contains("allow_keyless=true"), "{m}");
                    assert!(m.contains(auth_kind(&protected)), "{m}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
            assert_eq!(cp.get_api("orders").await.unwrap(), protected, "the refused update changed nothing");
            // Another protected definition needs no opt-in, nor does a keyless API staying keyless.
            cp.update_api("orders", api(true, false), KeylessIntent::Unstated).await.unwrap();
            cp.update_api("orders", keyless.clone(), KeylessIntent::Explicit).await.unwrap();
            cp.update_api("orders", keyless, KeylessIntent::Unstated).await.unwrap();
            cp.delete_api("orders").await.unwrap();
        }
    }
}
