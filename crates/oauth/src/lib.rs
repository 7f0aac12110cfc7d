//! Gatehouse's OAuth 2.0 authorization server logic: no HTTP framework, no Redis in its types.
//!
//! # Layout
//! - [`token`]: minting opaque tokens from the OS CSPRNG and the keyed hash that turns a token
//!   into its storage key.
//! - [`secret`]: client secrets: generation, hashing for storage, constant-time verification.
//! - [`argon2_pool`]: Argon2id verification bounded per process (slots, pooled memory) and
//!   gated per client, username and address.
//! - [`throttle`]: failure counts and lockouts against guessing secrets and passwords.
//! - [`request`]: [`TokenRequest`], an endpoint's form (token, introspection, revocation,
//!   authorization) parsed strictly, with the client credentials of its body or `Authorization`
//!   header beside it (RFC 6749 §2.3.1), and the grant type it names.
//! - [`grant_request`]: the grant a token request asks for, typed ([`GrantRequest`]: one
//!   variant per grant with its parameters), read once from the parsed form.
//! - [`client_auth`]: client authentication (RFC 6749 §2.3.1), guarded against guessing.
//! - [`error`]: RFC 6749 §5.2 error responses, their descriptions kept to its character set.
//! - [`grants`]: the token endpoint. `mod.rs` dispatches a [`GrantRequest`] to its grant and
//!   holds what the grants share (minting token families, spending single-use codes and
//!   refresh tokens); one file per grant: `authorization_code.rs`, `client_credentials.rs`,
//!   `password.rs`, `refresh_token.rs`.
//! - [`authorize`]: the authorization request and the codes identity servers obtain for it.
//! - [`pkce`]: RFC 7636, S256 only.
//! - [`scope`]: RFC 6749 §3.3 scope syntax, and §6's narrowing of a refresh's scope.
//! - [`introspect`]: RFC 7662 introspection and RFC 7009 revocation, for clients and admins.
//!
//! The gateway crate wires these to HTTP; the stores come in through the `gatehouse_model::storage`
//! traits.

pub mod argon2_pool;
pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod grant_request;
pub mod grants;
pub mod introspect;
pub mod pkce;
pub mod request;
pub mod scope;
pub mod secret;
pub mod throttle;
pub mod token;

pub use error::{ErrorCode, OAuthError};
pub use grant_request::GrantRequest;
pub use grants::{Issued, TokenIssuer, TokenResponse};
pub use request::{ClientCredentials, TokenRequest};
pub use token::TokenHasher;
