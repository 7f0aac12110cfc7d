//! OAuth client apps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A client app registered with one API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub api_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
    pub description: String,
    /// `None` for a public client (RFC 6749 §2.1), which has no secret and must use PKCE.
    pub secret_hash: Option<SecretHash>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// A resource owner for the password grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceOwner {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Policy of the tokens issued to this user (overrides the client's when set).
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
}

impl std::fmt::Debug for ResourceOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceOwner").field("username", &self.username).finish_non_exhaustive()
    }
}

/// How a client secret is stored. The secret itself never is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretHash {
    /// SHA-256 of a 256-bit secret Gatehouse generated: a slow hash adds nothing against that
    /// much entropy and would hand attackers a CPU lever on the token endpoint.
    Sha256(#[serde(with = "crate::hex32")] [u8; 32]),
    /// Argon2id PHC string of a secret an admin chose (possibly guessable).
    Argon2(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_serde_round_trip() {
        let h = SecretHash::Sha256([7u8; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), h);
    }
}
