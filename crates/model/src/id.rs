//! The rule every identifier meets (API, policy, client, user and version ids).
//!
//! Its own file because the types that carry ids (`api`, `versioning`, `policy`) all check them,
//! and `api` also holds a `Versioning`: kept in `api.rs`, the rule made the two import each other.

use crate::ValidationError;

/// Identifiers travel in URL paths and storage keys: keep them to a safe alphabet.
pub fn check_id(field: &str, id: &str) -> Result<(), ValidationError> {
    if id.len() > 128 {
        return Err(ValidationError::new(field, "must be at most 128 characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)) {
        return Err(ValidationError::new(field, "may contain only letters, digits and - _ . ~"));
    }
    Ok(())
}
