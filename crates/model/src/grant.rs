//! Single-use grants kept in the token store between two requests: authorization codes (from
//! the identity server's `authorize-client` call to the client's token request) and refresh
//! tokens (from one token response to the next refresh).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::GrantType;

/// An authorization code, bound to everything RFC 6749 §4.1.3 and RFC 7636 check at redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub api_id: String,
    pub client_id: String,
    /// Exactly as registered and as the authorization request sent it.
    pub redirect_uri: String,
    /// The authorization request named `redirect_uri`, so the token request must name the
    /// same one (RFC 6749 §4.1.3). Absent in records written before it existed.
    #[serde(default)]
    pub redirect_uri_in_request: bool,
    /// RFC 7636 S256 challenge (base64url of SHA-256 of the verifier); `None` without PKCE.
    pub code_challenge: Option<String>,
    pub scope: Option<String>,
    /// Policy for the tokens (the client's, or the identity server's override).
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
    /// Unix seconds.
    pub issued_at: u64,
}

/// A refresh token's grant: what a refresh re-issues, and what it must invalidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub api_id: String,
    pub client_id: String,
    /// All tokens descending from one authorization share a family; reuse of a spent refresh
    /// token revokes the whole family (RFC 9700 §4.14.2).
    pub family_id: String,
    /// The grant that started the family (authorization_code or password).
    pub origin: GrantType,
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
    pub scope: Option<String>,
    /// Resource owner, for the password grant.
    pub username: Option<String>,
    /// Storage key (hex) of the access token issued together with this refresh token: a refresh
    /// invalidates it, as Tyk does.
    pub access_key: String,
    /// Unix seconds.
    pub issued_at: u64,
    pub expires_at: u64,
}

/// The live tokens of a family: after each refresh only the newest pair is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyMembers {
    /// Storage keys in hex.
    pub access_key: String,
    pub refresh_key: Option<String>,
}

/// The outcome of spending a single-use grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken<T> {
    /// Unknown or expired.
    Missing,
    /// First use: here it is, and it is now spent.
    Fresh(T),
    /// Spent before: the family it started (or belongs to) must be revoked.
    Replayed { family_id: String },
}
