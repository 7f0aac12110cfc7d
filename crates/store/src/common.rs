//! Small helpers shared by the implementations.

use gatehouse_model::storage::{ClientRef, ClientTokenEntry, StoreError, TokenKey};
use gatehouse_model::{ConfigState, FamilyMembers};
use rand::TryRngCore;
use rand::rngs::OsRng;

pub(crate) mod limits;

/// Latest expiry a client's token index records, in unix seconds (9999-12-31T23:59:59Z); later
/// ones are capped to it. Far beyond any token's life, and exact as a Redis score (a double).
pub(crate) const MAX_EXPIRES_AT: u64 = 253_402_300_799;

/// Lower-case hex, as used for the store id and in Redis keys.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The [`TokenKey`] whose [`hex`] is `s`; `None` unless `s` is exactly 64 lower-case hex digits.
///
/// Keys named in stored records go through this before they are used to build a storage key,
/// so a damaged or forged record cannot point a deletion at an arbitrary key.
pub(crate) fn parse_token_key(s: &str) -> Option<TokenKey> {
    // `hex` also takes upper case, which no record is written in: refuse it first.
    if !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut key = TokenKey::default();
    hex::decode_to_slice(s, &mut key).ok()?;
    Some(key)
}

/// The access and refresh token keys a family record names.
pub(crate) fn member_keys(
    family_id: &str,
    members: &FamilyMembers,
) -> Result<(TokenKey, Option<TokenKey>), StoreError> {
    let parse = |field: &str, value: &str| {
        parse_token_key(value).ok_or_else(|| {
            StoreError::Corrupt(format!("family {family_id}: {field} is not 64 lower-case hex digits"))
        })
    };
    let access = parse("access_key", &members.access_key)?;
    let refresh = members.refresh_key.as_deref().map(|k| parse("refresh_key", k)).transpose()?;
    Ok((access, refresh))
}

/// Checks that a client's ids can name its token index. The control plane only accepts
/// `[A-Za-z0-9-_.~]`; whatever reaches the store, an id holding a hash-tag brace or the `:` that
/// separates the two ids never goes into a key, where it could name another client's index.
pub(crate) fn check_client(client: &ClientRef<'_>) -> Result<(), StoreError> {
    for (field, id) in [("api_id", client.api_id), ("client_id", client.client_id)] {
        if id.contains(['{', '}', ':']) {
            return Err(StoreError::Corrupt(format!("invalid id for {field}: {id:?}")));
        }
    }
    Ok(())
}

/// Checks that an index entry can be stored and read back: a family needs a non-empty id.
pub(crate) fn check_entry(entry: &ClientTokenEntry) -> Result<(), StoreError> {
    match entry {
        ClientTokenEntry::Family(id) if id.is_empty() => {
            Err(StoreError::Corrupt("invalid id for family: empty".into()))
        }
        _ => Ok(()),
    }
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
    fn token_key_hex_round_trips() {
        let key: TokenKey = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        assert_eq!(parse_token_key(&hex(&key)), Some(key));
    }

    #[test]
    fn token_key_hex_is_strict() {
        let good = "0123456789abcdef".repeat(4);
        assert!(parse_token_key(&good).is_some());
        assert_eq!(parse_token_key(&good.to_uppercase()), None);
        assert_eq!(parse_token_key(&good[..63]), None);
        assert_eq!(parse_token_key(&format!("{good}0")), None);
        assert_eq!(parse_token_key(&format!("{}}}", &good[..63])), None);
        assert_eq!(parse_token_key(&format!("{}g", &good[..63])), None);
        // Multi-byte characters must not slip through a length check done in bytes.
        assert_eq!(parse_token_key(&format!("é{}", &good[..62])), None);
        assert_eq!(parse_token_key(""), None);
    }

    #[test]
    fn member_keys_reject_bad_hex() {
        let good = "ab".repeat(32);
        let members = |access: &str, refresh: Option<&str>| FamilyMembers {
            access_key: access.to_owned(),
            refresh_key: refresh.map(str::to_owned),
        };
        assert_eq!(member_keys("f", &members(&good, None)).unwrap(), ([0xab; 32], None));
        assert_eq!(member_keys("f", &members(&good, Some(&good))).unwrap(), ([0xab; 32], Some([0xab; 32])));
        assert!(matches!(member_keys("f", &members("*", None)), Err(StoreError::Corrupt(_))));
        assert!(matches!(member_keys("f", &members(&good, Some("*"))), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn client_ids_that_could_break_a_key_are_rejected() {
        let client = |api_id, client_id| ClientRef { api_id, client_id };
        assert!(check_client(&client("orders", "app-1_x.y~z")).is_ok());
        for bad in ["a{b", "a}b", "a:b", "{", "}", ":"] {
            assert!(
                matches!(check_client(&client(bad, "c")), Err(StoreError::Corrupt(m)) if m.contains("api_id"))
            );
            assert!(
                matches!(check_client(&client("a", bad)), Err(StoreError::Corrupt(m)) if m.contains("client_id"))
            );
        }
    }

    #[test]
    fn index_entries_must_be_readable_back() {
        assert!(check_entry(&ClientTokenEntry::Access([0; 32])).is_ok());
        assert!(check_entry(&ClientTokenEntry::Family("f".into())).is_ok());
        assert!(matches!(check_entry(&ClientTokenEntry::Family(String::new())), Err(StoreError::Corrupt(_))));
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
