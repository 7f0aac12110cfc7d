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

/// A policy id given for a client or user must name an existing policy.
pub(crate) fn check_policy_exists(state: &ConfigState, policy_id: &str) -> Result<(), ControlError> {
    if policy_id.is_empty() || state.policies.contains_key(policy_id) {
        Ok(())
    } else {
        Err(ValidationError::new("policy_id", format!("policy {policy_id:?} not found")).into())
    }
}
