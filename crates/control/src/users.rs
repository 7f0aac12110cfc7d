//! Resource owners of the password grant.

use std::collections::BTreeMap;

use gatehouse_model::{Change, ResourceOwner, SecretHash, ValidationError, api::check_id};

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
        let _writer = self.write.lock().await;
        if new.username.is_empty() {
            return Err(ValidationError::new("username", "is required").into());
        }
        check_id("username", &new.username)?;
        if self.current.read().await.state.users.contains_key(&new.username) {
            return Err(ControlError::Conflict(format!("user {:?} already exists", new.username)));
        }
        let password_hash = match hash_chosen_secret(new.password, "password").await? {
            SecretHash::Argon2(phc) => phc,
            SecretHash::Sha256(_) => unreachable!("chosen secrets are hashed with Argon2id"),
        };
        let user = ResourceOwner {
            username: new.username,
            password_hash,
            policy_id: new.policy_id,
            meta_data: new.meta_data,
        };
        self.commit(Change::UserPut(user.clone())).await?;
        Ok(user)
    }

    pub async fn get_user(&self, username: &str) -> Result<ResourceOwner, ControlError> {
        self.current.read().await.state.users.get(username).cloned().ok_or_else(|| user_not_found(username))
    }

    pub async fn list_users(&self) -> Vec<ResourceOwner> {
        self.current.read().await.state.users.values().cloned().collect()
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), ControlError> {
        let _writer = self.write.lock().await;
        if !self.current.read().await.state.users.contains_key(username) {
            return Err(user_not_found(username));
        }
        self.commit(Change::UserDeleted { username: username.to_owned() }).await
    }
}

fn user_not_found(username: &str) -> ControlError {
    ControlError::NotFound(format!("user {username:?} not found"))
}
