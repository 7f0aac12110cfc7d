//! Sessions: what a live access token grants.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::GrantType;

/// The state behind one access token, stored under a keyed hash of the token (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub api_id: String,
    pub client_id: String,
    pub policy_id: String,
    pub grant: GrantType,
    pub meta_data: BTreeMap<String, String>,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds; the store also expires the entry then.
    pub expires_at: u64,
    /// Token family (code and password grants, which can be refreshed); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Resource owner, for the password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Session {
    pub fn is_expired(&self, now_unix: u64) -> bool {
        now_unix >= self.expires_at
    }
}
