//! Opaque tokens and their storage keys.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore as _;
use sha2::Sha256;

use gatehouse_model::storage::TokenKey;

/// Random bytes in every token, code and generated secret: 256 bits, twice RFC 6749 §10.10's
/// floor, so guessing stays out of reach even with many live tokens.
pub const TOKEN_BYTES: usize = 32;

/// A fresh token: 256 bits from the OS CSPRNG, base64url without padding (43 characters of the
/// unreserved URL alphabet, so it needs no escaping in forms, headers or URLs).
pub fn mint() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    // The OS RNG failing means the machine cannot produce secrets at all; there is no safe
    // fallback, so stop rather than hand out guessable tokens.
    #[allow(clippy::expect_used, reason = "no safe token exists without the OS RNG")]
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Turns tokens into storage keys with HMAC-SHA-256 under the cluster's token key, so that a
/// dump of Redis yields nothing that can be presented as a token.
#[derive(Clone)]
pub struct TokenHasher {
    mac: Hmac<Sha256>,
}

impl TokenHasher {
    pub fn new(key: &[u8; 32]) -> Self {
        // HMAC accepts keys of any length; a 32-byte key cannot fail.
        #[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        Self { mac }
    }

    /// The storage key of `token`. Domain-separated by `kind` so an access token can never be
    /// looked up as a code or refresh token.
    pub fn key(&self, kind: &str, token: &str) -> TokenKey {
        let mut mac = self.mac.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Storage-key domains, so a token of one kind can never be looked up as another.
pub mod kind {
    pub const ACCESS_TOKEN: &str = "at";
    pub const REFRESH_TOKEN: &str = "rt";
    pub const CODE: &str = "code";
}

/// A storage key as the lower-case hex kept in grant and family records.
pub fn key_to_hex(key: &TokenKey) -> String {
    hex::encode(key)
}

/// The inverse of [`key_to_hex`]; `None` for anything but 64 hex digits (either case).
pub fn key_from_hex(digits: &str) -> Option<TokenKey> {
    let mut key = TokenKey::default();
    hex::decode_to_slice(digits, &mut key).ok()?;
    Some(key)
}

/// A fresh random identifier (128 bits from the thread's CSPRNG, 32 lower-case hex digits) for
/// token families, APIs, clients and policies, as Tyk's ids look: unique, not a secret.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHasher(<key>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_are_256_bit_unreserved_and_unique() {
        let tokens: HashSet<String> = (0..1000).map(|_| mint()).collect();
        assert_eq!(tokens.len(), 1000);
        for t in &tokens {
            assert_eq!(t.len(), 43);
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap().len(), 32);
        }
    }

    #[test]
    fn hex_round_trip() {
        let key = TokenHasher::new(&[5; 32]).key(kind::CODE, "c");
        assert_eq!(key_from_hex(&key_to_hex(&key)), Some(key));
        assert_eq!(key_from_hex("zz"), None);
        assert_eq!(key_from_hex(&key_to_hex(&key).to_uppercase()), Some(key));
        assert_eq!(key_from_hex(&format!("+{}", &key_to_hex(&key)[1..])), None);
        assert_eq!(key_from_hex(&key_to_hex(&key)[..62]), None);
    }

    #[test]
    fn random_ids_are_128_bit_lower_case_hex_and_unique() {
        let ids: HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter().all(|id| id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        );
    }

    #[test]
    fn keys_depend_on_key_kind_and_token() {
        let a = TokenHasher::new(&[1; 32]);
        let b = TokenHasher::new(&[2; 32]);
        assert_eq!(a.key("at", "t"), a.key("at", "t"));
        assert_ne!(a.key("at", "t"), b.key("at", "t"));
        assert_ne!(a.key("at", "t"), a.key("rt", "t"));
        assert_ne!(a.key("at", "t"), a.key("at", "u"));
    }
}
