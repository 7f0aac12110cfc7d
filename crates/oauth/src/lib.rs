//! Gatehouse's OAuth 2.0 authorization server logic: no HTTP framework, no Redis in its types.
//!
//! # Layout
//! - [`token`]: minting opaque tokens from the OS CSPRNG and the keyed hash that turns a token
//!   into its storage key.
//! - [`secret`]: client secrets: generation, hashing for storage, constant-time verification.
//! - [`argon2_pool`]: Argon2id verification bounded per process (slots, pooled memory) and
//!   gated per client, username and address.
//! - [`throttle`]: failure counts and lockouts against guessing secrets and passwords.
//! - [`request`]: parsing a token request (form body + `Authorization` header) strictly, and
//!   working out which client it authenticates as (RFC 6749 §2.3.1).
//! - [`error`]: RFC 6749 §5.2 error responses, their descriptions kept to its character set.
//! - [`issue`]: the token endpoint: dispatch, client authentication, minting of tokens and token
//!   families; `grants` holds the rules of the code, password and refresh grants.
//! - [`authorize`]: the authorization request and the codes identity servers obtain for it.
//! - [`pkce`]: RFC 7636, S256 only.
//! - [`scope`]: RFC 6749 §3.3 scope syntax.
//! - [`introspect`]: RFC 7662 introspection and RFC 7009 revocation, for clients and admins.
//!
//! The gateway crate wires these to HTTP; the stores come in through the `gatehouse_model::storage`
//! traits.

pub mod argon2_pool;
pub mod authorize;
pub mod error;
mod grants;
pub mod introspect;
pub mod issue;
pub mod pkce;
pub mod request;
pub mod scope;
pub mod secret;
pub mod throttle;
pub mod token;

pub use error::{ErrorCode, OAuthError};
pub use issue::{Issued, TokenIssuer, TokenResponse};
pub use request::{ClientCredentials, TokenRequest};
pub use token::TokenHasher;

/// Seconds since the Unix epoch; the one clock of the crate, passed in so tests control time.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
