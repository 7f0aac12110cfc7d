//! Protection of client authentication and the password grant against guessing (RFC 6749
//! §2.3.1, §4.3.2, §10.10).
//!
//! Failures are counted per *subject* in the shared [`FailureStore`], so every gateway sees the
//! same counts: the client (per API), the username (per API, password grant) and the source
//! address (the trusted-proxy-aware one). A request naming a locked-out subject is refused
//! before any secret is checked, so a locked-out guesser costs one store read. Nothing resets a
//! count but time (see `gatehouse_model::storage::FailureStore`).
//!
//! What counts: a wrong or missing client secret and an unknown client id count against the
//! client id named and the address; a wrong password or unknown username, against the username
//! and the address (not the client, whose own authentication succeeded).
//!
//! Argon2id runs through [`crate::argon2_pool`], gated per client, username and address, and
//! the lockout is checked again once the gates are passed: requests queued while a guesser was
//! being locked out do not get their guesses in after it.

use std::net::IpAddr;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use gatehouse_model::clock::unix_millis;
use gatehouse_model::storage::{FailurePolicy, FailureStore};
use sha2::{Digest as _, Sha256};

use crate::argon2_pool::{self, Argon2Pool};
use crate::error::store_unavailable;
use crate::{ErrorCode, OAuthError};

/// The defaults of the `--auth-failure-*` flags.
pub const DEFAULT_POLICY: FailurePolicy = FailurePolicy {
    limit: 10,
    window: Duration::from_secs(300),
    lockout: Duration::from_secs(30),
    max_lockout: Duration::from_secs(900),
};

static POLICY: OnceLock<FailurePolicy> = OnceLock::new();

/// Sets the process' policy before the first request; `false` when it was already set.
pub fn configure(policy: FailurePolicy) -> bool {
    POLICY.set(policy).is_ok()
}

/// The process' policy: as [`configure`]d, else [`DEFAULT_POLICY`].
pub fn policy() -> FailurePolicy {
    *POLICY.get_or_init(|| DEFAULT_POLICY)
}

/// What is guessed at, or guessing.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Client { api_id: &'a str, client_id: &'a str },
    User { api_id: &'a str, username: &'a str },
    Address(IpAddr),
}

impl Subject<'_> {
    /// The store's name for it: a digest, so usernames and addresses are not stored in clear
    /// and a caller's text of any length makes a short key. Fields are length-prefixed, so no
    /// two subjects share a name.
    pub fn store_key(&self) -> String {
        let mut digest = Sha256::new();
        let mut field = |value: &[u8]| {
            digest.update((value.len() as u64).to_be_bytes());
            digest.update(value);
        };
        match self {
            Subject::Client { api_id, client_id } => {
                field(b"client");
                field(api_id.as_bytes());
                field(client_id.as_bytes());
            }
            Subject::User { api_id, username } => {
                field(b"user");
                field(api_id.as_bytes());
                field(username.as_bytes());
            }
            Subject::Address(ip) => {
                field(b"addr");
                field(ip.to_canonical().to_string().as_bytes());
            }
        }
        crate::token::key_to_hex(&digest.finalize().into())[..32].to_owned()
    }

    /// The error a lockout of this subject answers with.
    fn locked_error(&self) -> OAuthError {
        let code = match self {
            Subject::User { .. } => ErrorCode::InvalidGrant,
            _ => ErrorCode::InvalidClient,
        };
        OAuthError::new(code, "too many failed authentication attempts; retry later")
    }
}

/// Why a request was refused without being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// A subject is locked out for this much longer.
    Locked(Duration),
    /// Another verification for the same client, username or address held the gate too long.
    Busy,
}

/// One request's view of the protection: its source address, the policy, the Argon2 pool, and
/// (after the call) whether it was throttled, for the HTTP layer to answer 429.
pub struct Guard {
    policy: FailurePolicy,
    address: Option<IpAddr>,
    pool: &'static Argon2Pool,
    throttled: Mutex<Option<Throttled>>,
}

impl Guard {
    /// With the process' policy and pool.
    pub fn new(address: Option<IpAddr>) -> Self {
        Self::with(policy(), address, argon2_pool::global())
    }

    pub fn with(policy: FailurePolicy, address: Option<IpAddr>, pool: &'static Argon2Pool) -> Self {
        Self { policy, address, pool, throttled: Mutex::new(None) }
    }

    /// The request's source address, when known.
    pub fn source(&self) -> Option<IpAddr> {
        self.address
    }

    /// Whether (and why) the request was refused without its credentials being checked.
    pub fn throttled(&self) -> Option<Throttled> {
        *self.throttled.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note(&self, throttled: Throttled) {
        let mut slot = self.throttled.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(match (*slot, throttled) {
            (Some(Throttled::Locked(a)), Throttled::Locked(b)) => Throttled::Locked(a.max(b)),
            (Some(Throttled::Locked(a)), Throttled::Busy) => Throttled::Locked(a),
            (_, new) => new,
        });
    }

    fn address(&self) -> Option<Subject<'static>> {
        self.address.map(Subject::Address)
    }

    /// Refuses the request if any of `subjects` (or the address) is locked out.
    pub async fn check<S: FailureStore>(
        &self,
        store: &S,
        subjects: &[Subject<'_>],
    ) -> Result<(), OAuthError> {
        if self.policy.limit == 0 {
            return Ok(());
        }
        let now = unix_millis();
        let all: Vec<Subject<'_>> = subjects.iter().copied().chain(self.address()).collect();
        let lockouts = futures_util::future::join_all(all.iter().map(|s| async move {
            store.lockout(&s.store_key(), now).await.map(|lock| lock.map(|l| (l, *s)))
        }))
        .await;
        let mut longest: Option<(Duration, Subject<'_>)> = None;
        for lockout in lockouts {
            if let Some((left, subject)) = lockout.map_err(store_unavailable)?
                && longest.is_none_or(|(l, _)| left > l)
            {
                longest = Some((left, subject));
            }
        }
        match longest {
            Some((left, subject)) => {
                self.note(Throttled::Locked(left));
                Err(subject.locked_error())
            }
            None => Ok(()),
        }
    }

    /// Counts a failure against `subject` and the address. A store that cannot count is
    /// logged, not surfaced: the request has already failed for its own reason.
    pub async fn failed<S: FailureStore>(&self, store: &S, subject: Subject<'_>) {
        if self.policy.limit == 0 {
            return;
        }
        let now = unix_millis();
        for s in std::iter::once(subject).chain(self.address()) {
            if let Err(error) = store.record_failure(&s.store_key(), &self.policy, now).await {
                tracing::error!(%error, "cannot count a failed authentication");
            }
        }
    }

    /// Verifies `presented` against an Argon2 PHC string (`None`: an unknown client or user,
    /// verified against a dummy hash at the same cost, never matching): through `subject`'s and
    /// the address' gates, checking the lockout again once through them, in the bounded pool.
    /// A mismatch is counted before the gates open, so the next caller in the queue sees it.
    pub async fn verify_argon2<S: FailureStore>(
        &self,
        store: &S,
        subject: Subject<'_>,
        presented: &str,
        phc: Option<&str>,
    ) -> Result<bool, OAuthError> {
        Ok(self.verify_argon2_any(store, subject, &[presented], phc).await?.is_some())
    }

    /// [`Guard::verify_argon2`] for one attempt that may mean either of a few forms of a secret
    /// (a Basic secret decoded and as sent): which of `candidates` matched, if any. They are
    /// verified one after another within the same gates and slot, so an attempt never holds more
    /// than one slot and still counts as one failure; the cost grows with their number, which is
    /// why callers pass a second form only when it differs from the first. Unknown subjects pay
    /// for every candidate too, so timing does not tell them apart.
    pub async fn verify_argon2_any<S: FailureStore>(
        &self,
        store: &S,
        subject: Subject<'_>,
        candidates: &[&str],
        phc: Option<&str>,
    ) -> Result<Option<usize>, OAuthError> {
        let keys: Vec<String> =
            std::iter::once(subject).chain(self.address()).map(|s| s.store_key()).collect();
        let Ok(gate) = self.pool.enter(&keys).await else {
            self.note(Throttled::Busy);
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "another authentication for this client, user or address is in progress; retry shortly",
            ));
        };
        self.check(store, &[subject]).await?;
        let mut matched = None;
        for (index, candidate) in candidates.iter().enumerate() {
            let verified =
                self.pool.verify(&gate, candidate.as_bytes(), phc.unwrap_or(argon2_pool::DUMMY_PHC)).await;
            if verified && phc.is_some() {
                matched = Some(index);
                break;
            }
        }
        if matched.is_none() {
            self.failed(store, subject).await;
        }
        drop(gate);
        Ok(matched)
    }
}
