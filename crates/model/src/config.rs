//! The control-plane state at one revision, and the changes that move it forward.
//!
//! The control plane and every gateway apply the same [`Change`]s with [`ConfigState::apply`],
//! so a gateway's view after revision R is exactly the control plane's state at R.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Api, Client, Policy, ResourceOwner};

/// Identifies one client app: client ids are scoped to their API, as in Tyk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientKey {
    pub api_id: String,
    pub client_id: String,
}

/// One change to the state. Deleting an API deletes its clients with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    ApiPut(Api),
    ApiDeleted { api_id: String },
    ClientPut(Client),
    ClientDeleted(ClientKey),
    UserPut(ResourceOwner),
    UserDeleted { username: String },
    PolicyPut(Policy),
    PolicyDeleted { id: String },
}

/// All configuration at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigState {
    /// Random id of the store this state lives in. Revisions compare only within one store id:
    /// a gateway that followed another store (or a wiped one) must take a fresh snapshot.
    pub store_id: String,
    pub revision: u64,
    /// Key of the HMAC that turns tokens into storage keys, shared by all nodes.
    #[serde(with = "crate::hex32")]
    pub token_key: [u8; 32],
    pub apis: BTreeMap<String, Api>,
    /// Keyed by API id, then client id.
    pub clients: BTreeMap<String, BTreeMap<String, Client>>,
    /// Resource owners for the password grant, by username.
    #[serde(default)]
    pub users: BTreeMap<String, ResourceOwner>,
    /// Security policies, by id.
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
}

impl ConfigState {
    pub fn new(store_id: String, token_key: [u8; 32]) -> Self {
        Self {
            store_id,
            revision: 0,
            token_key,
            apis: BTreeMap::new(),
            clients: BTreeMap::new(),
            users: BTreeMap::new(),
            policies: BTreeMap::new(),
        }
    }

    /// Applies `change` as revision `revision`.
    pub fn apply(&mut self, revision: u64, change: &Change) {
        match change {
            Change::ApiPut(api) => {
                self.apis.insert(api.api_id.clone(), api.clone());
            }
            Change::ApiDeleted { api_id } => {
                self.apis.remove(api_id);
                self.clients.remove(api_id);
            }
            Change::ClientPut(client) => {
                self.clients
                    .entry(client.api_id.clone())
                    .or_default()
                    .insert(client.client_id.clone(), client.clone());
            }
            Change::ClientDeleted(key) => {
                if let Some(clients) = self.clients.get_mut(&key.api_id) {
                    clients.remove(&key.client_id);
                    if clients.is_empty() {
                        self.clients.remove(&key.api_id);
                    }
                }
            }
            Change::UserPut(user) => {
                self.users.insert(user.username.clone(), user.clone());
            }
            Change::UserDeleted { username } => {
                self.users.remove(username);
            }
            Change::PolicyPut(policy) => {
                self.policies.insert(policy.id.clone(), policy.clone());
            }
            Change::PolicyDeleted { id } => {
                self.policies.remove(id);
            }
        }
        self.revision = revision;
    }

    pub fn client(&self, api_id: &str, client_id: &str) -> Option<&Client> {
        self.clients.get(api_id)?.get(client_id)
    }

    pub fn all_clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values().flat_map(|m| m.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretHash;
    use crate::test_util::ApiBuilder;

    fn client(api: &str, id: &str) -> Client {
        Client {
            client_id: id.into(),
            api_id: api.into(),
            client_name: String::new(),
            redirect_uris: Default::default(),
            policy_id: String::new(),
            meta_data: Default::default(),
            description: String::new(),
            secret_hash: Some(SecretHash::Sha256([0; 32])),
        }
    }

    fn api(id: &str) -> Api {
        ApiBuilder::new(id).build()
    }

    #[test]
    fn deleting_an_api_deletes_its_clients() {
        let mut s = ConfigState::new("s".into(), [1; 32]);
        s.apply(1, &Change::ApiPut(api("a")));
        s.apply(2, &Change::ClientPut(client("a", "c")));
        assert!(s.client("a", "c").is_some());
        s.apply(3, &Change::ApiDeleted { api_id: "a".into() });
        assert!(s.client("a", "c").is_none());
        assert_eq!(s.revision, 3);
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut s = ConfigState::new("s".into(), [9; 32]);
        s.apply(1, &Change::ApiPut(api("a")));
        s.apply(2, &Change::ClientPut(client("a", "c")));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ConfigState>(&json).unwrap(), s);
    }
}
