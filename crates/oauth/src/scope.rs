//! RFC 6749 §3.3 scope syntax: `scope = scope-token *( SP scope-token )`,
//! `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
//!
//! Gatehouse carries scopes (stores them with the tokens, reports them in introspection) and
//! no policy narrows them, so every well-formed scope a client asks for is granted as asked.

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
}
