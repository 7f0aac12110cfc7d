//! Resource owners of the password grant.

use std::collections::BTreeMap;

use gatehouse_model::{Change, ResourceOwner, SecretHash, ValidationError, id::check_id};

use crate::registry::hash_chosen_secret;
use crate::{ControlError, ControlPlane};

/// A resource owner to register.
#[derive(Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
}

impl ControlPlane {
    pub async fn create_user(&self, new: NewUser) -> Result<ResourceOwner, ControlError> {
        if new.username.is_empty() {
            return Err(ValidationError::new("username", "is required").into());
        }
        check_id("username", &new.username)?;
        let SecretHash::Argon2(password_hash) = hash_chosen_secret(new.password, "password").await? else {
            return Err(ValidationError::new("password", "could not be hashed with Argon2id").into());
        };
        let user = ResourceOwner {
            username: new.username,
            password_hash,
            policy_id: new.policy_id,
            meta_data: new.meta_data,
        };
        self.mutate(|state| {
            if state.users.contains_key(&user.username) {
                return Err(ControlError::Conflict(format!("user {:?} already exists", user.username)));
            }
            crate::references::check_policy_exists(state, &user.policy_id)?;
            Ok((Change::UserPut(user.clone()), ()))
        })
        .await?;
        Ok(user)
    }

    pub async fn get_user(&self, username: &str) -> Result<ResourceOwner, ControlError> {
        self.current.read().await.state.users.get(username).cloned().ok_or_else(|| user_not_found(username))
    }

    pub async fn list_users(&self) -> Vec<ResourceOwner> {
        self.current.read().await.state.users.values().cloned().collect()
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), ControlError> {
        self.mutate(|state| {
            if !state.users.contains_key(username) {
                return Err(user_not_found(username));
            }
            Ok((Change::UserDeleted { username: username.to_owned() }, ()))
        })
        .await
    }
}

fn user_not_found(username: &str) -> ControlError {
    ControlError::NotFound(format!("user {username:?} not found"))
}
