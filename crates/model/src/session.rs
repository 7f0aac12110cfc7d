//! Sessions: what a live access token grants.

use std::collections::BTreeMap;
use std::time::Duration;

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
    /// Unix seconds: the last second in which the token is live (it expires when it ends, so a
    /// token issued at any instant of second `t` with lifetime `n` lives at least `n` seconds).
    /// The store keeps the entry [`EXPIRED_KEPT_SECS`] longer (see [`Session::storage_ttl`]).
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

/// How long a session is kept after its token expired, so that a request with it is told
/// "Key has expired, please renew" (Tyk's answer, and what a client needs to know to refresh)
/// rather than "Key not authorised". An hour covers clients that come back after a pause; the
/// memory it costs is bounded by an hour's worth of issued tokens.
pub const EXPIRED_KEPT_SECS: u64 = 3600;

impl Session {
    /// Whether the token has expired at `now_unix`. Seconds are whole and `now_unix` rounds
    /// down, so the token stays live through all of second `expires_at`: counting it expired
    /// there would cut up to a second off the lifetime `expires_in` announced.
    pub fn is_expired(&self, now_unix: u64) -> bool {
        now_unix > self.expires_at
    }

    /// How long the store keeps a session written at `now_unix`: through its last live second,
    /// then [`EXPIRED_KEPT_SECS`] as an expired marker.
    pub fn storage_ttl(&self, now_unix: u64) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(now_unix).saturating_add(1 + EXPIRED_KEPT_SECS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::SessionBuilder;

    #[test]
    fn a_token_lives_through_its_last_second_and_is_kept_an_hour_more() {
        let session = SessionBuilder::new().issued_at(100).expires_at(160).build();
        assert!(!session.is_expired(100));
        assert!(!session.is_expired(160), "issued late in second 100, it would have lived < 60 s");
        assert!(session.is_expired(161));
        assert_eq!(session.storage_ttl(100), Duration::from_secs(61 + EXPIRED_KEPT_SECS));
        assert_eq!(session.storage_ttl(200), Duration::from_secs(1 + EXPIRED_KEPT_SECS));
    }
}
