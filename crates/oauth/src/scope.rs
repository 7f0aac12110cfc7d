//! RFC 6749 §3.3 scope syntax: `scope = scope-token *( SP scope-token )`,
//! `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
//!
//! Gatehouse carries scopes (stores them with the tokens, reports them in introspection) and
//! no policy narrows them, so every well-formed scope a client asks for is granted as asked;
//! only a refresh is held to the scope of the grant it refreshes ([`narrowed`], §6).

use crate::{ErrorCode, OAuthError};

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// Whether `scope` is a well-formed scope value: tokens of printable ASCII without `"` and
/// `\`, each separated from the next by exactly one space.
pub fn is_well_formed(scope: &str) -> bool {
    scope.split(' ').all(|token| !token.is_empty() && token.chars().all(is_scope_char))
}

/// `invalid_scope` for a malformed `scope`; an absent one is fine.
pub fn check(scope: Option<&str>) -> Result<(), OAuthError> {
    match scope {
        Some(scope) if !is_well_formed(scope) => Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "scope must be space-separated tokens of printable ASCII other than quote and backslash",
        )),
        _ => Ok(()),
    }
}

/// The scope a refresh is granted (RFC 6749 §6): the original grant's when it asks for none, what
/// it asks for when every scope-token of it is in the original, `invalid_scope` otherwise.
pub fn narrowed(asked: Option<&str>, original: Option<&str>) -> Result<Option<String>, OAuthError> {
    match (asked, original) {
        (None, original) => Ok(original.map(str::to_owned)),
        (Some(asked), Some(original)) if is_subset(asked, original) => Ok(Some(asked.to_owned())),
        (Some(_), _) => Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant")),
    }
}

fn is_subset(asked: &str, original: &str) -> bool {
    asked.split(' ').filter(|s| !s.is_empty()).all(|s| original.split(' ').any(|o| o == s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc_6749_scopes() {
        for ok in ["read", "read write", "a:b/c.d-e_f~!#$%&'()*+,;<=>?@[]^`{|}", "urn:x:y openid"] {
            assert!(check(Some(ok)).is_ok(), "{ok}");
        }
        assert!(check(None).is_ok());
    }

    #[test]
    fn refuses_malformed_scopes_as_invalid_scope() {
        for bad in
            ["", " read", "read ", "read  write", "a\"b", "a\\b", "a\tb", "a\nb", "a\u{0}b", "é", "a\u{7f}"]
        {
            assert_eq!(check(Some(bad)).unwrap_err().error, ErrorCode::InvalidScope, "{bad:?}");
        }
    }

    #[test]
    fn a_refresh_keeps_or_narrows_the_original_scope_and_never_widens_it() {
        assert_eq!(narrowed(None, Some("read write")), Ok(Some("read write".to_owned())));
        assert_eq!(narrowed(None, None), Ok(None));
        assert_eq!(narrowed(Some("write"), Some("read write")), Ok(Some("write".to_owned())));
        assert_eq!(narrowed(Some("write read"), Some("read write")), Ok(Some("write read".to_owned())));
        for (asked, original) in [("admin", Some("read write")), ("read admin", Some("read")), ("read", None)]
        {
            let e = narrowed(Some(asked), original).unwrap_err();
            assert_eq!(e.error, ErrorCode::InvalidScope, "{asked:?} of {original:?}");
            assert_eq!(e.error_description, "scope exceeds the original grant");
        }
    }
}
