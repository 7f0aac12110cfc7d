//! OAuth client apps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A client app registered with one API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub api_id: String,
    pub client_name: String,
    /// Where the authorization endpoint may send the user back; an authorization request
    /// matches one exactly (RFC 9700 §4.1.3). Several: requests must name one.
    #[serde(flatten)]
    pub redirect_uris: RedirectUris,
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

/// A client's registered redirect URIs, in the order they were registered.
///
/// Persisted (in `state.json` and the change log) as `redirect_uri`, the first or `""`, plus
/// `redirect_uris`, the whole list, only when there are several: records written before
/// clients had several read as they always did, a client with one is written exactly as before,
/// and a release that knows only `redirect_uri` reads a client with several as having the first
/// alone (it refuses the others; it never accepts a URI that was not registered). Adding an
/// optional field is not a format version bump (`crates/store/src/format.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectUris(pub Vec<String>);

impl RedirectUris {
    pub fn one(uri: impl Into<String>) -> Self {
        Self(vec![uri.into()])
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The first registered URI, or `""`: what Tyk's single `redirect_uri` shows.
    pub fn first(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }
}

#[derive(Serialize, Deserialize)]
struct RedirectUrisRecord {
    #[serde(default)]
    redirect_uri: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    redirect_uris: Vec<String>,
}

impl Serialize for RedirectUris {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let several = if self.0.len() > 1 { self.0.clone() } else { Vec::new() };
        RedirectUrisRecord { redirect_uri: self.first().to_owned(), redirect_uris: several }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RedirectUris {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let record = RedirectUrisRecord::deserialize(d)?;
        Ok(match (record.redirect_uris.is_empty(), record.redirect_uri.is_empty()) {
            (false, _) => Self(record.redirect_uris),
            (true, false) => Self::one(record.redirect_uri),
            (true, true) => Self::default(),
        })
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

    fn client(uris: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            api_id: "a".into(),
            client_name: String::new(),
            redirect_uris: RedirectUris(uris.iter().map(|u| (*u).to_owned()).collect()),
            policy_id: String::new(),
            meta_data: BTreeMap::new(),
            description: String::new(),
            secret_hash: None,
        }
    }

    #[test]
    fn one_redirect_uri_is_written_as_before_several_beside_it() {
        let one = serde_json::to_value(client(&["https://a/cb"])).unwrap();
        assert_eq!(one["redirect_uri"], "https://a/cb");
        assert!(one.get("redirect_uris").is_none(), "{one}");
        let none = serde_json::to_value(client(&[])).unwrap();
        assert_eq!((&none["redirect_uri"], none.get("redirect_uris")), (&serde_json::json!(""), None));
        let two = serde_json::to_value(client(&["https://a/cb", "https://b/cb"])).unwrap();
        assert_eq!(two["redirect_uri"], "https://a/cb", "what a release without the list reads");
        assert_eq!(two["redirect_uris"], serde_json::json!(["https://a/cb", "https://b/cb"]));
        for c in [client(&[]), client(&["https://a/cb"]), client(&["https://a/cb", "https://b/cb"])] {
            let back: Client = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    fn secret_hash_serde_round_trip() {
        let h = SecretHash::Sha256([7u8; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), h);
    }
}
