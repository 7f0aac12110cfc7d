//! Security policies.

use gatehouse_model::{Change, ConfigState, Policy, ValidationError};

use crate::{ControlError, ControlPlane};
use gatehouse_oauth::token::random_id;

impl ControlPlane {
    /// Registers a policy; its id is generated when empty.
    pub async fn create_policy(&self, mut policy: Policy) -> Result<Policy, ControlError> {
        if policy.id.is_empty() {
            policy.id = random_id();
        }
        let policy = policy.validate()?;
        self.mutate(|state| {
            if state.policies.contains_key(&policy.id) {
                return Err(ControlError::Conflict(format!(
                    "a policy with id {:?} already exists",
                    policy.id
                )));
            }
            check_name_free(state, &policy)?;
            Ok((Change::PolicyPut(policy.clone()), ()))
        })
        .await?;
        Ok(policy)
    }

    pub async fn get_policy(&self, id: &str) -> Result<Policy, ControlError> {
        self.current.read().await.state.policies.get(id).cloned().ok_or_else(|| policy_not_found(id))
    }

    pub async fn list_policies(&self) -> Vec<Policy> {
        self.current.read().await.state.policies.values().cloned().collect()
    }

    /// Replaces a policy. Live tokens see the change at once: gateways read the policy at
    /// request time.
    pub async fn update_policy(&self, id: &str, mut policy: Policy) -> Result<Policy, ControlError> {
        if !policy.id.is_empty() && policy.id != id {
            return Err(ValidationError::new(
                "policy.id",
                format!("{:?} differs from the id in the path {id:?}", policy.id),
            )
            .into());
        }
        policy.id = id.to_owned();
        let policy = policy.validate()?;
        self.mutate(|state| {
            if !state.policies.contains_key(id) {
                return Err(policy_not_found(id));
            }
            check_name_free(state, &policy)?;
            Ok((Change::PolicyPut(policy.clone()), ()))
        })
        .await?;
        Ok(policy)
    }

    /// Deletes a policy nobody uses. Refusing (rather than cascading) keeps a typo from
    /// silently stripping every client of its limits.
    pub async fn delete_policy(&self, id: &str) -> Result<(), ControlError> {
        self.mutate(|state| {
            if !state.policies.contains_key(id) {
                return Err(policy_not_found(id));
            }
            let clients: Vec<String> =
                state.all_clients().filter(|c| c.policy_id == id).map(|c| c.client_id.clone()).collect();
            let users: Vec<String> =
                state.users.values().filter(|u| u.policy_id == id).map(|u| u.username.clone()).collect();
            if !clients.is_empty() || !users.is_empty() {
                return Err(ControlError::Conflict(format!(
                    "policy {id:?} is still used by clients {clients:?} and users {users:?}; reassign them first"
                )));
            }
            Ok((Change::PolicyDeleted { id: id.to_owned() }, ()))
        })
        .await
    }
}

/// Policy names are unique, as in the Dashboard.
fn check_name_free(state: &ConfigState, policy: &Policy) -> Result<(), ControlError> {
    match state.policies.values().find(|p| p.id != policy.id && p.name == policy.name) {
        Some(other) => Err(ControlError::Conflict(format!(
            "the policy name {:?} is already used by policy {:?}",
            policy.name, other.id
        ))),
        None => Ok(()),
    }
}

fn policy_not_found(id: &str) -> ControlError {
    ControlError::NotFound(format!("policy {id:?} not found"))
}
