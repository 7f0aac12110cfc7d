//! The storage contracts: what the domain asks of the stores behind it, and the plain types
//! those questions and answers are made of. The traits are implemented elsewhere
//! (`gatehouse-store`: Redis, files, memory), so the crates that only *use* storage (the OAuth
//! server, the gateway's steps, the control plane's operations) depend on these contracts, not
//! on a Redis client.
//!
//! # Layout
//! - [`TokenStore`] (this file): the whole token store as one bound, for holders of all of it;
//!   everything that uses part of it names the part:
//!   - `sessions.rs`: [`SessionStore`], access tokens' sessions, by [`TokenKey`].
//!   - `grants.rs`: [`GrantStore`], single-use authorization codes and refresh tokens, and token
//!     families.
//!   - `client_index.rs`: [`ClientTokenIndex`], each client's tokens, for listing and
//!     revoke-all ([`ClientRef`], [`ClientTokenEntry`]).
//!   - `limits.rs`: [`LimitStore`], rate limits and quotas counted across gateways ([`Limits`],
//!     [`LimitOutcome`]).
//!   - `failures.rs`: [`FailureStore`], failed-authentication counts and lockouts
//!     ([`FailurePolicy`]).
//! - `analytics.rs`: [`AnalyticsStore`], usage per client, endpoint and minute
//!   ([`MinuteAggregate`]).
//! - `state.rs`: [`StateStore`], the control plane's durable state and its revision.
//! - `error.rs`: [`StoreError`], what every store call may fail with.
//!
//! Tokens never reach storage in clear: callers pass a [`TokenKey`], a keyed hash of the token.

use std::time::Duration;

mod analytics;
mod client_index;
mod error;
mod failures;
mod grants;
mod limits;
mod sessions;
mod state;

pub use analytics::{ANALYTICS_TTL, AnalyticsStore, MAX_READ_MINUTES, MinuteAggregate};
pub use client_index::{ClientRef, ClientTokenEntry, ClientTokenIndex};
pub use error::StoreError;
pub use failures::{FailurePolicy, FailureStore};
pub use grants::GrantStore;
pub use limits::{LimitKind, LimitOutcome, LimitStore, Limits, QUOTA_PERIOD_TOLERANCE_MS, Quota, RateLimit};
pub use sessions::SessionStore;
pub use state::StateStore;

/// HMAC-SHA-256 of a token under the cluster's token key: the only form in which a token is
/// stored or looked up.
pub type TokenKey = [u8; 32];

/// Longest TTL a store honours; longer ones are cut to it. Callers never ask for more than a
/// token lifetime; the cap only keeps absurd values from overflowing `Instant` arithmetic or
/// Redis' expiry range.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Token state shared by every gateway, whole: for what holds the store and hands out its parts
/// (the gateway, the control plane). Each operation names only the part it uses.
pub trait TokenStore: SessionStore + GrantStore + ClientTokenIndex + LimitStore + FailureStore {}

impl<S: SessionStore + GrantStore + ClientTokenIndex + LimitStore + FailureStore> TokenStore for S {}
