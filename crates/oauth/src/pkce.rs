//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` protects nothing against an
//! attacker who can read the authorization request, so it is refused (RFC 9700 §2.1.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::OAuthError;

/// Checks a `code_challenge` / `code_challenge_method` pair of an authorization request and
/// returns the challenge to bind to the code.
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<Option<String>, OAuthError> {
    match (challenge, method) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OAuthError::invalid_request("code_challenge_method without code_challenge")),
        (Some(_), None | Some("plain")) => {
            Err(OAuthError::invalid_request("code_challenge_method must be S256 (plain is not accepted)"))
        }
        (Some(c), Some("S256")) => {
            // base64url of a SHA-256 digest: exactly 43 characters.
            if c.len() != 43 || !c.bytes().all(is_base64url) {
                return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256 digest"));
            }
            Ok(Some(c.to_owned()))
        }
        // The method is the caller's text: named by what we support, never echoed.
        (Some(_), Some(_)) => {
            Err(OAuthError::invalid_request("unsupported code_challenge_method (only S256 is supported)"))
        }
    }
}

/// Whether `verifier` (RFC 7636 §4.1: 43–128 unreserved characters) hashes to `challenge`.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    // Evaluate the comparison even for malformed verifiers, so timing says nothing.
    let matches: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && matches
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example_verifies() {
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(!verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", CHALLENGE));
        assert!(!verify("short", CHALLENGE));
    }

    #[test]
    fn only_s256_challenges_are_accepted() {
        assert_eq!(check_challenge(Some(CHALLENGE), Some("S256")).unwrap().as_deref(), Some(CHALLENGE));
        assert!(check_challenge(Some(CHALLENGE), None).is_err());
        assert!(check_challenge(Some(CHALLENGE), Some("plain")).is_err());
        assert!(check_challenge(Some("abc"), Some("S256")).is_err());
        assert!(check_challenge(None, Some("S256")).is_err());
        assert_eq!(check_challenge(None, None).unwrap(), None);
    }
}
