//! Checks that an object names another that exists, run inside a commit against the state it
//! commits to.
//!
//! Not in `policies.rs`: the client operations (`registry.rs`) and the user operations check
//! policy ids, and `policies.rs` builds on `registry.rs` (it adds to [`ControlPlane`]), so
//! there the check made the two import each other.
//!
//! [`ControlPlane`]: crate::ControlPlane

use gatehouse_model::{ConfigState, ValidationError};

use crate::ControlError;
use crate::registry::api_not_found;

/// A client is registered only on an API that exists and runs an OAuth authorization server, as
/// Tyk refuses (400) a client for an API without `use_oauth2`: on any other API the client could
/// never get a token, and its secret would be a credential that authenticates nothing.
/// `FailedPrecondition` (REST 400): the request is well formed, the API is in the wrong state.
pub(crate) fn check_oauth_api(state: &ConfigState, api_id: &str) -> Result<(), ControlError> {
    match state.apis.get(api_id) {
        None => Err(api_not_found(api_id)),
        Some(api) if api.oauth.is_none() => Err(ControlError::Precondition(format!(
            "API {api_id:?} does not use OAuth 2.0: clients can be registered only on an API with an \
             authorization server (oauth settings, Tyk's use_oauth2)"
        ))),
        Some(_) => Ok(()),
    }
}

/// A policy id given for a client or user must name an existing policy.
pub(crate) fn check_policy_exists(state: &ConfigState, policy_id: &str) -> Result<(), ControlError> {
    if policy_id.is_empty() || state.policies.contains_key(policy_id) {
        Ok(())
    } else {
        Err(ValidationError::new("policy_id", format!("policy {policy_id:?} not found")).into())
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::GrantType;
    use gatehouse_model::test_util::{ApiBuilder, oauth_settings};
    use gatehouse_store::{AnyStateStore, MemoryStateStore};

    use super::*;
    use crate::ControlPlane;
    use crate::registry::{ClientFields, NewClient};

    fn new_client(api_id: &str) -> NewClient {
        NewClient {
            fields: ClientFields { api_id: api_id.into(), client_id: "app".into(), ..Default::default() },
            secret: None,
            public: false,
        }
    }

    #[tokio::test]
    async fn clients_are_registered_only_on_oauth_apis() {
        let cp = ControlPlane::open(AnyStateStore::Memory(MemoryStateStore::new()), None).await.unwrap();
        cp.create_api(ApiBuilder::new("keyless").build()).await.unwrap();
        cp.create_api(ApiBuilder::new("tokens").token_auth(true).build()).await.unwrap();
        cp.create_api(
            ApiBuilder::new("oauth").oauth(oauth_settings(&[GrantType::ClientCredentials])).build(),
        )
        .await
        .unwrap();
        for api_id in ["keyless", "tokens"] {
            match cp.create_client(new_client(api_id)).await {
                Err(ControlError::Precondition(m)) => assert!(m.contains("does not use OAuth"), "{m}"),
                other => panic!("{api_id}: expected a refusal, got {other:?}"),
            }
        }
        assert!(matches!(cp.create_client(new_client("absent")).await, Err(ControlError::NotFound(_))));
        cp.create_client(new_client("oauth")).await.unwrap();
    }
}
