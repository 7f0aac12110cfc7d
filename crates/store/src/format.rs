//! Versions of the records the stores persist, and how those formats evolve.
//!
//! Persisted records outlive the release that wrote them: every running Redis and data dir
//! holds records of the release before, two releases of gateways share one Redis during a
//! rolling upgrade, and a control plane may restart onto a `state.json` an older or newer
//! release wrote. So each persisted JSON format carries a version, and a reader either reads
//! a record correctly or refuses it; it never guesses.
//!
//! # Formats
//! Each is the serde form of a root type and of every type reachable from it (a change to
//! `Api`'s serde form is a change of both `state` and `change`):
//!
//! | format                 | root type           | where                                             |
//! |------------------------|---------------------|---------------------------------------------------|
//! | [`STATE`]              | `ConfigState`       | `state.json` (pretty-printed), `gh:{gh-cp}:state` |
//! | [`CHANGE`]             | `Change`            | the `change` field of each `gh:{gh-cp}:log` entry |
//! | [`SESSION`]            | `Session`           | `gh:at:{…}`                                       |
//! | [`AUTHORIZATION_CODE`] | `AuthorizationCode` | `gh:code:{…}` until spent                         |
//! | [`REFRESH_GRANT`]      | `RefreshGrant`      | `gh:rt:{…}` until spent                           |
//! | [`FAMILY`]             | `FamilyMembers`     | `gh:fam:{…}`                                      |
//!
//! # Encoding
//! The record's own JSON object with a `"v"` field written first: `{"v":1,"api_id":…}`. A
//! field beside the record's own rather than an envelope (`{"v":1,"data":…}`), because:
//! - releases from before versions ignore the unknown field, and version 1 is exactly version
//!   0 plus `v`, so they read version 1 records: rolling upgrades to and rollbacks from this
//!   release keep working;
//! - Lua scripts that read fields of a stored record (the spend script's `cjson.decode` of a
//!   grant, in `redis_token/grants.rs`) find them where they always were;
//! - Redis keys and values stay what they were, but for the field.
//!
//! So no root type may have a top-level field named `v`.
//!
//! # Reading and writing
//! - A record without `v` is version 0, written before versions existed: read as today.
//! - A record of a version up to [`Format::reads_up_to`] is read.
//! - A record of a later version is refused: [`StoreError::Corrupt`](gatehouse_model::storage::StoreError::Corrupt)
//!   "… written by a newer Gatehouse (format v2); this build reads up to v1". The spend
//!   script leaves such a grant untouched rather than spending it, so the release that can
//!   read it still can.
//! - Writing always writes [`Format::writes`].
//!
//! # When a version goes up
//! A format's version goes up when its JSON changes in a way a reader of the previous version
//! would misread or refuse: a field renamed, removed, re-typed, or given a new meaning, or a
//! new required field. Adding a field with a serde default (an `Option`, or
//! `#[serde(default)]`) needs no new version: older readers ignore it, newer ones default it.
//!
//! A new version ships in two releases, since releases side by side read each other's writes:
//! 1. The first learns to read the new version (raise `reads_up_to`, and give `decode` an
//!    arm per version: an older shape decodes into a private type mirroring it and converts),
//!    and still writes the old one.
//! 2. The next writes the new version (raise `writes`), once no release that cannot read it
//!    is left running.
//!
//! Each version's records stay readable for as long as a release that wrote them may have
//! left any behind: `tests/fixtures/<format>/v<N>.json` holds one record of every version
//! ever written, committed once and never rewritten, and `tests/format_compat.rs` reads each
//! through the stores.
//!
//! # Records without a version field
//! Counters (analytics hashes, rate-limit and quota keys, failure counts), spent markers
//! (`spent:<family id>`) and client-index members (`at:<hex>`, `fam:<id>`) are not serde
//! forms but a handful of named fields, prefixes and number formats, and releases side by side
//! write into one key at once, so a version field could not name the format of what a key
//! holds. Their names are their version: a reader does not interpret a field, prefix or value
//! it does not know (analytics skips it; markers, members and limit keys are refused), and a
//! changed meaning takes a new field name, prefix or key name, never an old one.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use gatehouse_model::{AuthorizationCode, Change, ConfigState, FamilyMembers, RefreshGrant, Session};

/// One persisted JSON format and the versions this build handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// What error messages call a record of this format; its fixtures' directory under
    /// `tests/fixtures/`, spaces as `-`.
    pub name: &'static str,
    /// The version every record of this format is written in.
    pub writes: u64,
    /// The newest version this build reads; a record of a later one is refused.
    pub reads_up_to: u64,
}

pub const STATE: Format = Format { name: "state", writes: 1, reads_up_to: 1 };
pub const CHANGE: Format = Format { name: "change", writes: 1, reads_up_to: 1 };
pub const SESSION: Format = Format { name: "session", writes: 1, reads_up_to: 1 };
pub const AUTHORIZATION_CODE: Format = Format { name: "authorization code", writes: 1, reads_up_to: 1 };
pub const REFRESH_GRANT: Format = Format { name: "refresh grant", writes: 1, reads_up_to: 1 };
pub const FAMILY: Format = Format { name: "family record", writes: 1, reads_up_to: 1 };

/// Every persisted JSON format.
pub const ALL: [Format; 6] = [STATE, CHANGE, SESSION, AUTHORIZATION_CODE, REFRESH_GRANT, FAMILY];

/// A root type of a persisted format.
pub(crate) trait Persisted: Serialize + DeserializeOwned {
    const FORMAT: Format;
}

/// Which format each persisted type is written in.
macro_rules! persisted {
    ($($ty:ty => $format:expr),* $(,)?) => {
        $(impl Persisted for $ty {
            const FORMAT: Format = $format;
        })*
    };
}

persisted! {
    ConfigState => STATE,
    Change => CHANGE,
    Session => SESSION,
    AuthorizationCode => AUTHORIZATION_CODE,
    RefreshGrant => REFRESH_GRANT,
    FamilyMembers => FAMILY,
}

/// Why a stored record was not read. Callers add where it was stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormatError {
    #[error(
        "{format} written by a newer Gatehouse (format v{version}); this build reads up to v{reads_up_to}"
    )]
    Newer { format: &'static str, version: u64, reads_up_to: u64 },
    #[error("{format} has format version {found}, which is not a version number")]
    BadVersion { format: &'static str, found: String },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A record as written: its version, then its own fields.
#[derive(Serialize)]
struct Versioned<'a, T> {
    v: u64,
    #[serde(flatten)]
    record: &'a T,
}

/// Only the version of a record; every other field is skipped unread.
#[derive(Deserialize)]
struct VersionOnly {
    v: Option<serde_json::Value>,
}

/// `record` in its format's current version, as compact JSON.
pub(crate) fn encode<T: Persisted>(record: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Versioned { v: T::FORMAT.writes, record })
}

/// `record` in its format's current version, as indented JSON (for files people may read).
pub(crate) fn encode_pretty<T: Persisted>(record: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&Versioned { v: T::FORMAT.writes, record })
}

/// The version of a stored record: 0 for one without a version field.
pub(crate) fn version_of(format: &Format, bytes: &[u8]) -> Result<u64, FormatError> {
    // Sessions are decoded on every authenticated request the session cache does not answer:
    // a record as `encode` writes it is read from its prefix, not by a second pass over it.
    if let Some(version) = leading_version(bytes) {
        return Ok(version);
    }
    match serde_json::from_slice::<VersionOnly>(bytes) {
        Ok(VersionOnly { v: None }) => Ok(0),
        Ok(VersionOnly { v: Some(v) }) => {
            v.as_u64().ok_or_else(|| FormatError::BadVersion { format: format.name, found: v.to_string() })
        }
        // Not a JSON object at all: decoding it as the record says what is wrong with it.
        Err(_) => Ok(0),
    }
}

/// The version of a record that opens exactly as compact `encode` output does
/// (`{"v":<digits>,` or `{"v":<digits>}`); `None` for anything else, which the full parse reads.
fn leading_version(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(br#"{"v":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !matches!(rest.get(digits), Some(b',' | b'}')) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Reads a stored record of any version this build reads.
pub(crate) fn decode<T: Persisted>(bytes: &[u8]) -> Result<T, FormatError> {
    let format = T::FORMAT;
    let version = version_of(&format, bytes)?;
    if version > format.reads_up_to {
        return Err(FormatError::Newer { format: format.name, version, reads_up_to: format.reads_up_to });
    }
    // Versions 0 and 1 have one shape: 1 only added `v`, which the record's type ignores.
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> FamilyMembers {
        FamilyMembers { access_key: "ab".into(), refresh_key: None }
    }

    #[test]
    fn the_version_is_written_first() {
        let json = encode(&family()).unwrap();
        assert_eq!(json, br#"{"v":1,"access_key":"ab","refresh_key":null}"#);
        let pretty = String::from_utf8(encode_pretty(&family()).unwrap()).unwrap();
        assert!(pretty.starts_with("{\n  \"v\": 1,\n  \"access_key\""), "{pretty}");
    }

    #[test]
    fn a_tagged_enum_keeps_its_tag_beside_the_version() {
        let json = encode(&Change::ApiDeleted { api_id: "a".into() }).unwrap();
        assert_eq!(json, br#"{"v":1,"kind":"api_deleted","api_id":"a"}"#);
        assert_eq!(decode::<Change>(&json).unwrap(), Change::ApiDeleted { api_id: "a".into() });
    }

    #[test]
    fn the_prefix_shortcut_agrees_with_the_full_parse() {
        let cases: [&[u8]; 9] = [
            br#"{"v":1,"access_key":"ab"}"#,
            br#"{"v":7}"#,
            br#"{"v":0,"x":1}"#,
            br#"{"v": 1,"x":1}"#,
            br#"{"v":1.5,"x":1}"#,
            br#"{"v":99999999999999999999999,"x":1}"#,
            br#"{"access_key":"ab","v":3}"#,
            br#"{"access_key":"ab"}"#,
            b"[1]",
        ];
        for bytes in cases {
            let full = match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(VersionOnly { v: None }) | Err(_) => Some(0),
                Ok(VersionOnly { v: Some(v) }) => v.as_u64(),
            };
            let read = version_of(&FAMILY, bytes).ok();
            assert_eq!(read, full, "{}", String::from_utf8_lossy(bytes));
            if let Some(version) = leading_version(bytes) {
                assert_eq!(Some(version), full, "{}", String::from_utf8_lossy(bytes));
            }
        }
        assert_eq!(leading_version(&encode(&family()).unwrap()), Some(FAMILY.writes));
    }

    #[test]
    fn records_without_a_version_are_version_0() {
        let old = br#"{"access_key":"ab","refresh_key":null}"#;
        assert_eq!(version_of(&FAMILY, old).unwrap(), 0);
        assert_eq!(decode::<FamilyMembers>(old).unwrap(), family());
    }

    #[test]
    fn newer_versions_are_refused_by_name() {
        let newer = br#"{"v":2,"access_key":"ab","refresh_key":null}"#;
        let err = decode::<FamilyMembers>(newer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "family record written by a newer Gatehouse (format v2); this build reads up to v1"
        );
        // Refused before its fields are looked at: a newer shape is not guessed at.
        assert!(matches!(decode::<FamilyMembers>(br#"{"v":9,"renamed":1}"#), Err(FormatError::Newer { .. })));
    }

    #[test]
    fn a_version_that_is_not_a_whole_number_is_refused() {
        for bad in [r#"{"v":"1"}"#, r#"{"v":-1}"#, r#"{"v":1.5}"#, r#"{"v":{}}"#] {
            let result = decode::<FamilyMembers>(bad.as_bytes());
            assert!(matches!(result, Err(FormatError::BadVersion { .. })), "{bad}: {result:?}");
        }
    }

    #[test]
    fn what_is_not_an_object_is_reported_by_the_record_type() {
        for bad in ["", "{not json", "[1]", "42"] {
            assert!(matches!(decode::<FamilyMembers>(bad.as_bytes()), Err(FormatError::Json(_))), "{bad}");
        }
    }
}
