//! Shared-secret authentication of admin callers and gateway nodes, throttled per source
//! address (`throttle.rs`): after too many wrong secrets from one address, its calls are
//! refused before the secret is looked at, with RESOURCE_EXHAUSTED (REST: 429, Retry-After).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::throttle::AddressThrottle;

/// Shortest admin or node secret accepted at start-up: short shared secrets get guessed.
pub const MIN_SECRET_LEN: usize = 32;

/// The Tyk Gateway API's admin header (`x-tyk-authorization: <secret>`), which scripts written
/// for open-source Tyk send instead of `authorization`.
pub const TYK_HEADER: &str = "x-tyk-authorization";

/// Checks one shared secret, from `authorization: <secret>` (as the Tyk Dashboard takes it) or
/// `authorization: Bearer <secret>`, and, where enabled, `x-tyk-authorization: <secret>`.
#[derive(Clone)]
pub struct SecretCheck {
    secret: Arc<[u8]>,
    what: &'static str,
    throttle: Arc<AddressThrottle>,
    tyk_header: bool,
}

impl SecretCheck {
    pub fn new(secret: &str, what: &'static str) -> anyhow::Result<Self> {
        if secret.len() < MIN_SECRET_LEN {
            anyhow::bail!("the {what} secret must be at least {MIN_SECRET_LEN} characters");
        }
        let throttle = Arc::new(AddressThrottle::new(gatehouse_oauth::throttle::policy()));
        Ok(Self { secret: secret.as_bytes().into(), what, throttle, tyk_header: false })
    }

    /// A key for `label`'s use derived from the secret (HMAC-SHA256 keyed by the secret), so
    /// the secret itself stays here. Changing the secret changes every derived key.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        use hmac::Mac as _;
        #[allow(clippy::expect_used)] // HMAC takes a key of any length: this cannot fail.
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Also takes the secret from `x-tyk-authorization` (the admin secret, for the Tyk Gateway
    /// API's scripts; the node secret has no Tyk counterpart).
    pub fn with_tyk_header(self) -> Self {
        Self { tyk_header: true, ..self }
    }

    /// Checks the secret a caller from `peer` presented (`None`: the peer is unknown, and
    /// nothing is counted).
    pub fn check(&self, metadata: &MetadataMap, peer: Option<IpAddr>) -> Result<(), Status> {
        let now = Instant::now();
        if let Some(left) = peer.and_then(|ip| self.throttle.lockout(ip, now)) {
            return Err(locked_out(self.what, left));
        }
        let authorization =
            metadata.get("authorization").and_then(|v| v.to_str().ok()).map(|v| match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                _ => v.trim(),
            });
        let tyk = if self.tyk_header {
            metadata.get(TYK_HEADER).and_then(|v| v.to_str().ok()).map(str::trim)
        } else {
            None
        };
        // Every header presented must hold the secret: with one right and one wrong, which
        // one the caller meant is a guess, and a guess must not let a wrong secret through.
        let presented: Vec<&str> = authorization.into_iter().chain(tyk).collect();
        if presented.is_empty() {
            return Err(Status::unauthenticated(format!(
                "missing {} secret in the authorization header",
                self.what
            )));
        }
        // `ct_eq` on slices of different lengths returns false at once; the length of the
        // secret is not what protects it, its entropy is.
        if presented.iter().all(|p| bool::from(p.as_bytes().ct_eq(&self.secret))) {
            return Ok(());
        }
        // This call gets its own answer; a lockout it starts applies from the next one, as on
        // the gateways' token endpoint.
        if let Some(ip) = peer {
            self.throttle.failed(ip, now);
        }
        Err(Status::unauthenticated(format!("wrong {} secret", self.what)))
    }

    /// A tonic interceptor running [`SecretCheck::check`].
    pub fn interceptor(&self) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let check = self.clone();
        move |req: Request<()>| {
            check.check(req.metadata(), req.remote_addr().map(|a| a.ip()))?;
            Ok(req)
        }
    }
}

/// RESOURCE_EXHAUSTED, with the seconds to wait in a `retry-after` entry (the REST layer's
/// Retry-After header).
fn locked_out(what: &str, left: std::time::Duration) -> Status {
    let seconds = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
    let mut status = Status::resource_exhausted(format!(
        "too many wrong {what} secrets from this address; retry in {seconds} s"
    ));
    if let Ok(value) = seconds.to_string().parse() {
        status.metadata_mut().insert("retry-after", value);
    }
    status
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
        assert!(check.check(&meta(&secret), None).is_ok());
        assert!(check.check(&meta(&format!("Bearer {secret}")), None).is_ok());
        assert!(check.check(&meta(&"t".repeat(40)), None).is_err());
        assert!(check.check(&meta(&secret[..39]), None).is_err());
        assert!(check.check(&MetadataMap::new(), None).is_err());
    }

    #[test]
    fn wrong_secrets_lock_the_address_out_even_for_the_right_one() {
        let secret = "s".repeat(40);
        let check = SecretCheck::new(&secret, "admin").unwrap();
        let (guesser, other) = (Some(IpAddr::from([192, 0, 2, 1])), Some(IpAddr::from([192, 0, 2, 2])));
        let limit = gatehouse_oauth::throttle::DEFAULT_POLICY.limit;
        for _ in 0..limit {
            assert_eq!(
                check.check(&meta(&"t".repeat(40)), guesser).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
        let locked = check.check(&meta(&"t".repeat(40)), guesser).unwrap_err();
        assert_eq!(locked.code(), tonic::Code::ResourceExhausted);
        assert_eq!(locked.metadata().get("retry-after").unwrap(), "30");
        let refused = check.check(&meta(&secret), guesser).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("retry in"), "{}", refused.message());
        assert!(check.check(&meta(&secret), other).is_ok(), "other addresses are unaffected");
    }

    #[test]
    fn tyk_header_carries_the_admin_secret_where_enabled() {
        let secret = "s".repeat(40);
        let tyk = |value: &str| {
            let mut m = MetadataMap::new();
            m.insert(TYK_HEADER, value.parse().unwrap());
            m
        };
        let plain = SecretCheck::new(&secret, "node").unwrap();
        assert!(plain.check(&tyk(&secret), None).is_err(), "not taken unless enabled");
        let check = SecretCheck::new(&secret, "admin").unwrap().with_tyk_header();
        assert!(check.check(&tyk(&secret), None).is_ok());
        assert!(check.check(&tyk(&"t".repeat(40)), None).is_err());
        let mut both = tyk(&secret);
        both.insert("authorization", "t".repeat(40).parse().unwrap());
        assert!(check.check(&both, None).is_err(), "a wrong secret beside the right one is refused");
        both.insert("authorization", secret.parse().unwrap());
        assert!(check.check(&both, None).is_ok());
    }

    #[test]
    fn wrong_tyk_header_secrets_count_towards_the_lockout() {
        let secret = "s".repeat(40);
        let check = SecretCheck::new(&secret, "admin").unwrap().with_tyk_header();
        let guesser = Some(IpAddr::from([192, 0, 2, 3]));
        let mut wrong = MetadataMap::new();
        wrong.insert(TYK_HEADER, "t".repeat(40).parse().unwrap());
        for _ in 0..gatehouse_oauth::throttle::DEFAULT_POLICY.limit {
            assert_eq!(check.check(&wrong, guesser).unwrap_err().code(), tonic::Code::Unauthenticated);
        }
        let mut right = MetadataMap::new();
        right.insert(TYK_HEADER, secret.parse().unwrap());
        assert_eq!(check.check(&right, guesser).unwrap_err().code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(SecretCheck::new("short", "admin").is_err());
        assert!(SecretCheck::new("", "admin").is_err());
    }
}
