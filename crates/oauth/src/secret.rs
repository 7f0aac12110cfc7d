//! Client secrets: shown once, stored only as a hash, compared in constant time.

use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use gatehouse_model::SecretHash;
use rand::TryRngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret Gatehouse generates: as strong as a token.
pub fn generate() -> String {
    crate::token::mint()
}

/// Hash of a generated (256-bit) secret. A fast hash is right here: brute force is already
/// hopeless, and a slow one would let anyone burn CPU on the token endpoint.
pub fn hash_generated(secret: &str) -> SecretHash {
    SecretHash::Sha256(Sha256::digest(secret.as_bytes()).into())
}

/// Hash of a secret an admin chose (it may be guessable): Argon2id with OWASP's parameters
/// (19 MiB, t = 2, p = 1).
pub fn hash_chosen(secret: &str) -> Result<SecretHash, String> {
    let mut salt_bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt_bytes)
        .map_err(|e| format!("the operating system's random number generator failed: {e}"))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| format!("cannot encode salt: {e}"))?;
    let phc =
        argon2().hash_password(secret.as_bytes(), &salt).map_err(|e| format!("cannot hash secret: {e}"))?;
    Ok(SecretHash::Argon2(phc.to_string()))
}

fn argon2() -> Argon2<'static> {
    #[allow(clippy::expect_used, reason = "constant parameters, checked by the tests")]
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `presented` is the secret behind `stored`, in time independent of where they differ.
/// An Argon2id hash is verified here synchronously, in a fresh buffer, outside any bound: on
/// the request path, Argon2id goes through [`verify_async`] or [`crate::throttle::Guard`].
pub fn verify(presented: &str, stored: &SecretHash) -> bool {
    match stored {
        SecretHash::Sha256(expected) => {
            let actual: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
            actual.ct_eq(expected).into()
        }
        SecretHash::Argon2(phc) => crate::argon2_pool::verify_phc(presented.as_bytes(), phc, &mut Vec::new()),
    }
}

/// How long a successful Argon2id verification is remembered (OWASP-style bound on the CPU a
/// client with a chosen secret costs per token request).
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Upper bound on remembered verifications; the cache is cleared when full.
const VERIFIED_CAPACITY: usize = 10_000;

type Verified = std::sync::Mutex<std::collections::HashMap<[u8; 32], std::time::Instant>>;

fn verified() -> &'static Verified {
    static VERIFIED: std::sync::OnceLock<Verified> = std::sync::OnceLock::new();
    VERIFIED.get_or_init(Default::default)
}

/// Keyed by a digest of hash and presented secret: a changed secret misses the cache.
fn cache_key(presented: &str, phc: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(phc.as_bytes());
    digest.update([0]);
    digest.update(presented.as_bytes());
    digest.finalize().into()
}

/// Whether `presented` verified against `phc` within the last minute.
pub(crate) fn remembered(presented: &str, phc: &str) -> bool {
    let key = cache_key(presented, phc);
    verified().lock().is_ok_and(|m| m.get(&key).is_some_and(|until| *until > std::time::Instant::now()))
}

/// Remembers a successful verification for a minute.
pub(crate) fn remember(presented: &str, phc: &str) {
    if let Ok(mut m) = verified().lock() {
        if m.len() >= VERIFIED_CAPACITY {
            m.clear();
        }
        m.insert(cache_key(presented, phc), std::time::Instant::now() + VERIFIED_TTL);
    }
}

/// [`verify`] for callers already authenticated otherwise (the control plane's admin calls):
/// Argon2id runs in the process' bounded pool ([`crate::argon2_pool`]), without gates, and a
/// success is remembered for a minute. Client-facing endpoints use
/// [`crate::throttle::Guard`], which adds the gates and the failure counts.
pub async fn verify_async(presented: &str, stored: &SecretHash) -> bool {
    let SecretHash::Argon2(phc) = stored else {
        return verify(presented, stored);
    };
    if remembered(presented, phc) {
        return true;
    }
    let pool = crate::argon2_pool::global();
    let Ok(gate) = pool.enter(&[]).await else { return false };
    let ok = pool.verify(&gate, presented.as_bytes(), phc).await;
    if ok {
        remember(presented, phc);
    }
    ok
}

/// Spends the time a real verification of a generated secret takes, for unknown clients, so
/// timing does not tell which client ids exist.
pub fn verify_dummy(presented: &str) {
    let _ = verify(presented, &SecretHash::Sha256([0; 32]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_verify_against_their_hash_only() {
        let s = generate();
        let h = hash_generated(&s);
        assert!(verify(&s, &h));
        assert!(!verify(&generate(), &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn chosen_secrets_use_argon2id() {
        let h = hash_chosen("my-client-secret").unwrap();
        match &h {
            SecretHash::Argon2(phc) => assert!(phc.starts_with("$argon2id$"), "{phc}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(verify("my-client-secret", &h));
        assert!(!verify("my-client-secreT", &h));
    }

    #[test]
    fn a_corrupt_stored_hash_never_verifies() {
        assert!(!verify("x", &SecretHash::Argon2("not a phc string".into())));
    }
}
