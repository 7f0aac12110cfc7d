//! Dashboard sessions: the admin secret, presented once at sign-in, exchanged for a signed
//! session cookie and a CSRF token.
//!
//! A session is `v1.<expiry>.<id>.<mac>`: a random 128-bit id and its expiry (Unix seconds),
//! signed with HMAC-SHA256 under a key derived from the admin secret. So:
//! - nothing is stored per session: every control-plane replica (they share the admin secret)
//!   accepts a session any of them issued, and a restart signs nobody out;
//! - changing the admin secret ends every session at once;
//! - the cookie carries no secret and no admin right beyond its expiry.
//!
//! The CSRF token is the MAC of the session id under the same key: the page keeps it in memory
//! and sends it with every write, which a cross-site form or script cannot read or forge.
//! Signing out adds the id to a revoked list in this process until its expiry; a copy of the
//! cookie presented to another replica stays valid until then (at most the session lifetime).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name.
pub const COOKIE: &str = "gatehouse_session";

/// Revoked ids kept at most; past it, sign-out still clears the browser's cookie but the id is
/// not remembered (the list is bounded whatever callers do).
const MAX_REVOKED: usize = 100_000;

/// A session the cookie proved.
#[derive(Debug, Clone)]
pub struct Session {
    id: [u8; 16],
    pub expires_at: SystemTime,
    /// What writes must present in `X-CSRF-Token`.
    pub csrf_token: String,
}

impl Session {
    /// Whether `presented` is this session's CSRF token, in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf_token.as_bytes()))
    }
}

/// A new session: the cookie's value, and the session it proves.
pub struct Issued {
    pub cookie_value: String,
    pub session: Session,
}

pub struct Sessions {
    key: [u8; 32],
    lifetime: Duration,
    /// Signed-out ids, by expiry in Unix seconds.
    revoked: Mutex<HashMap<[u8; 16], u64>>,
}

impl Sessions {
    /// `key` is derived from the admin secret by its holder (`SecretCheck::derive_key`), so the
    /// secret itself never reaches this crate.
    pub fn new(key: [u8; 32], lifetime: Duration) -> Self {
        Self { key, lifetime, revoked: Mutex::new(HashMap::new()) }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new session from `now`.
    pub fn issue(&self, now: SystemTime) -> Issued {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let expires = unix(now).saturating_add(self.lifetime.as_secs().max(1));
        let id_text = URL_SAFE_NO_PAD.encode(id);
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&["session", "v1", &expires.to_string(), &id_text]));
        Issued {
            cookie_value: format!("v1.{expires}.{id_text}.{mac}"),
            session: self.session(id, &id_text, expires),
        }
    }

    /// The session `cookie_value` proves at `now`: signed by this key, not expired, not
    /// signed out.
    pub fn verify(&self, cookie_value: &str, now: SystemTime) -> Option<Session> {
        let mut parts = cookie_value.split('.');
        let (Some("v1"), Some(expires_text), Some(id_text), Some(mac_text), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let presented_mac = URL_SAFE_NO_PAD.decode(mac_text).ok()?;
        // `verify_slice` compares in constant time.
        self.hmac(&["session", "v1", expires_text, id_text]).verify_slice(&presented_mac).ok()?;
        let expires: u64 = expires_text.parse().ok()?;
        if expires <= unix(now) {
            return None;
        }
        let id: [u8; 16] = URL_SAFE_NO_PAD.decode(id_text).ok()?.try_into().ok()?;
        if self.revoked.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&id) {
            return None;
        }
        Some(self.session(id, id_text, expires))
    }

    /// Signs `session` out in this process until it would have expired.
    pub fn revoke(&self, session: &Session, now: SystemTime) {
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        let now = unix(now);
        if revoked.len() >= MAX_REVOKED {
            revoked.retain(|_, expires| *expires > now);
        }
        if revoked.len() < MAX_REVOKED {
            revoked.insert(session.id, unix(session.expires_at));
        }
    }

    fn session(&self, id: [u8; 16], id_text: &str, expires: u64) -> Session {
        Session {
            id,
            expires_at: UNIX_EPOCH + Duration::from_secs(expires),
            csrf_token: URL_SAFE_NO_PAD.encode(self.mac(&["csrf", id_text])),
        }
    }

    /// HMAC over the fields, each followed by a separator no field contains.
    fn hmac(&self, fields: &[&str]) -> HmacSha256 {
        #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for field in fields {
            mac.update(field.as_bytes());
            mac.update(b"|");
        }
        mac
    }

    fn mac(&self, fields: &[&str]) -> [u8; 32] {
        self.hmac(fields).finalize().into_bytes().into()
    }
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new([7; 32], Duration::from_secs(60))
    }

    #[test]
    fn an_issued_session_verifies_until_it_expires() {
        let sessions = sessions();
        let now = SystemTime::now();
        let issued = sessions.issue(now);
        let session = sessions.verify(&issued.cookie_value, now).expect("valid");
        assert_eq!(session.csrf_token, issued.session.csrf_token);
        assert!(session.csrf_matches(&issued.session.csrf_token));
        assert!(!session.csrf_matches("forged"));
        assert!(sessions.verify(&issued.cookie_value, now + Duration::from_secs(59)).is_some());
        assert!(sessions.verify(&issued.cookie_value, now + Duration::from_secs(61)).is_none());
    }

    #[test]
    fn tampered_or_foreign_cookies_are_refused() {
        let sessions = sessions();
        let now = SystemTime::now();
        let cookie = sessions.issue(now).cookie_value;
        let parts: Vec<&str> = cookie.split('.').collect();
        // A later expiry with the old signature.
        let extended = format!("v1.{}.{}.{}", parts[1].parse::<u64>().unwrap() + 3600, parts[2], parts[3]);
        assert!(sessions.verify(&extended, now).is_none());
        // Another admin secret's key.
        assert!(Sessions::new([8; 32], Duration::from_secs(60)).verify(&cookie, now).is_none());
        for junk in ["", "v1", "v1.1.2.3.4", "v2.1.a.b", &cookie.replace("v1.", "v0.")] {
            assert!(sessions.verify(junk, now).is_none(), "{junk}");
        }
    }

    #[test]
    fn a_signed_out_session_stays_out_and_others_are_unaffected() {
        let sessions = sessions();
        let now = SystemTime::now();
        let first = sessions.issue(now);
        let second = sessions.issue(now);
        assert_ne!(first.cookie_value, second.cookie_value);
        assert_ne!(first.session.csrf_token, second.session.csrf_token);
        sessions.revoke(&first.session, now);
        assert!(sessions.verify(&first.cookie_value, now).is_none());
        assert!(sessions.verify(&second.cookie_value, now).is_some());
    }
}
