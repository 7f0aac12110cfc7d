//! Small helpers shared by the implementations.

use std::time::Duration;

use gatehouse_model::ConfigState;
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::StoreError;

/// Longest TTL a store honours. Callers never ask for more than a token lifetime; the cap only
/// keeps absurd values from overflowing `Instant` arithmetic or Redis' expiry range.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Lower-case hex, as used for the store id and in Redis keys.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// An empty state at revision 0 with a fresh store id and token key.
///
/// Both come straight from the OS CSPRNG: the token key protects every stored token, and a
/// failing OS RNG must surface as an error rather than a panic inside a user-space generator.
pub(crate) fn fresh_state() -> Result<ConfigState, StoreError> {
    let mut id = [0u8; 16];
    let mut token_key = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut id)
        .and_then(|()| OsRng.try_fill_bytes(&mut token_key))
        .map_err(|e| StoreError::Unavailable(format!("OS random number generator failed: {e}")))?;
    Ok(ConfigState::new(hex(&id), token_key))
}

/// The revision after `current`; a state at `u64::MAX` can only come from a damaged file.
pub(crate) fn next_revision(current: u64) -> Result<u64, StoreError> {
    current
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("revision {current} cannot be incremented")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn fresh_states_differ() {
        let a = fresh_state().unwrap();
        let b = fresh_state().unwrap();
        assert_eq!(a.revision, 0);
        assert_eq!(a.store_id.len(), 32);
        assert_ne!(a.store_id, b.store_id);
        assert_ne!(a.token_key, b.token_key);
        assert_ne!(a.token_key, [0u8; 32]);
    }

    #[test]
    fn revision_overflow_is_an_error() {
        assert_eq!(next_revision(41).unwrap(), 42);
        assert!(matches!(next_revision(u64::MAX), Err(StoreError::Corrupt(_))));
    }
}
