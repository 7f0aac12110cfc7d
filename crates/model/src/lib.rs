//! Gatehouse's domain types and their validation. No I/O, no wire types.
//!
//! # Layout
//! - [`api`]: an API definition (listen path, upstream, OAuth settings) and its validation.
//! - [`client`]: an OAuth client app and the hash of its secret.
//! - [`clock`]: the wall clock as unix seconds and milliseconds, the one place it is read.
//! - [`session`]: what an access token grants, as stored in the token store.
//! - [`grant`]: single-use grants between requests (authorization codes, refresh tokens) and
//!   token families.
//! - [`id`]: the safe alphabet and length of every identifier.
//! - [`json`]: how error messages name a JSON value's kind.
//! - [`policy`]: security policies (access rights, rate limit, quota) tokens inherit.
//! - [`config`]: the whole control-plane state at one revision and the [`Change`]s that move it
//!   forward; both the control plane and the gateways apply changes with the same code.
//! - [`versioning`]: API versions, where a request names its version.
//! - [`storage`]: the storage contracts (one trait per concern: sessions, grants, the client
//!   token index, limits, failure counts, analytics, the control plane's state) and the types
//!   they speak in; `gatehouse-store` implements them.
//! - `test_util` (feature `test-util`, and this crate's own tests): builders for `Api` and
//!   `Session` with the defaults most tests want.
//!
//! Wire types (prost) are converted to these at the edge (`src/wire` in the binary crate), so the
//! OAuth and gateway logic never sees a protobuf message. Tyk's API definitions are converted to
//! and from these by `gatehouse-tyk`.

pub mod api;
pub mod client;
pub mod clock;
pub mod config;
pub mod grant;
mod hex32;
pub mod id;
pub mod json;
pub mod policy;
pub mod session;
pub mod storage;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod versioning;

pub use api::{Api, CredentialLocation, GrantType, Notifications, OAuthSettings, Upstream, UpstreamTls};
pub use client::{Client, RedirectUris, ResourceOwner, SecretHash};
pub use config::{Change, ClientKey, ConfigState};
pub use grant::{AuthorizationCode, FamilyMembers, RefreshGrant, Taken};
pub use policy::{AccessDefinition, AccessSpec, Policy};
pub use session::Session;
pub use versioning::{VersionLocation, Versioning};

/// A domain rule broken by input: names the offending field so admins can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
