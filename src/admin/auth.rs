//! Shared-secret authentication of admin callers and gateway nodes.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// Shortest admin or node secret accepted at start-up: short shared secrets get guessed.
pub const MIN_SECRET_LEN: usize = 32;

/// Checks one shared secret, from `authorization: <secret>` (as the Tyk Dashboard takes it) or
/// `authorization: Bearer <secret>`.
#[derive(Clone)]
pub struct SecretCheck {
    secret: Arc<[u8]>,
    what: &'static str,
}

impl SecretCheck {
    pub fn new(secret: &str, what: &'static str) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!("the {what} secret must be at least {MIN_SECRET_LEN} characters"));
        }
        Ok(Self { secret: secret.as_bytes().into(), what })
    }

    pub fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let presented =
            metadata.get("authorization").and_then(|v| v.to_str().ok()).map(|v| match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                _ => v.trim(),
            });
        match presented {
            // `ct_eq` on slices of different lengths returns false at once; the length of the
            // secret is not what protects it, its entropy is.
            Some(p) if bool::from(p.as_bytes().ct_eq(&self.secret)) => Ok(()),
            Some(_) => Err(Status::unauthenticated(format!("wrong {} secret", self.what))),
            None => Err(Status::unauthenticated(format!(
                "missing {} secret in the authorization header",
                self.what
            ))),
        }
    }

    /// A tonic interceptor running [`SecretCheck::check`].
    pub fn interceptor(&self) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let check = self.clone();
        move |req: Request<()>| {
            check.check(req.metadata())?;
            Ok(req)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn accepts_raw_and_bearer_forms_only_with_the_right_secret() {
        let secret = "s".repeat(40);
        let check = SecretCheck::new(&secret, "admin").unwrap();
        assert!(check.check(&meta(&secret)).is_ok());
        assert!(check.check(&meta(&format!("Bearer {secret}"))).is_ok());
        assert!(check.check(&meta(&"t".repeat(40))).is_err());
        assert!(check.check(&meta(&secret[..39])).is_err());
        assert!(check.check(&MetadataMap::new()).is_err());
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(SecretCheck::new("short", "admin").is_err());
        assert!(SecretCheck::new("", "admin").is_err());
    }
}
