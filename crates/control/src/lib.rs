//! Control-plane logic: the registry of APIs and clients, the revision log, and the watch
//! fan-out that streams config to gateways. Transport-free: the binary crate serves it over
//! gRPC and REST.
//!
//! # Layout
//! - [`registry`]: [`ControlPlane`], the admin operations; every mutation is validated, committed
//!   to the [`StateStore`](gatehouse_model::storage::StateStore) and only then applied in memory and
//!   published (`commit.rs`: compare-and-set on the revision, catching up with replicas;
//!   [`noting_commits`] tells the edge which revision an admin call committed).
//! - [`analytics`]: a client's usage per day and API, from what the gateways record.
//! - [`keyless`]: the guard against replacing a protected API by a keyless one unasked.
//! - [`policies`]: security policies; deleting one still in use is refused.
//! - [`redirect_uris`]: a client's redirect URIs from Gatehouse's list or Tyk's single value
//!   (split by the configured separator), each checked to be one absolute URI.
//! - `references.rs`: checks that an object names one that exists (a client's or user's
//!   policy).
//! - [`users`]: resource owners of the password grant (Argon2id passwords).
//! - [`tokens`]: authorization codes for identity servers and admin revocation, over the token
//!   store the gateways share.
//! - [`watch`]: how a gateway at (store id, revision) is brought up to date: the deltas it
//!   missed when the in-memory log still reaches back, a snapshot otherwise.
//! - [`fleet`]: the gateways following this control plane, for the fleet view, and the wait
//!   for them to apply a write before it returns.
//! - [`error`]: [`ControlError`], which the edge maps to gRPC statuses and HTTP codes.

pub mod analytics;
mod commit;
pub mod error;
pub mod fleet;
pub mod keyless;
pub mod policies;
pub mod redirect_uris;
mod references;
pub mod registry;
pub mod tokens;
pub mod users;
pub mod watch;

pub use commit::noting_commits;
pub use error::ControlError;
pub use keyless::KeylessIntent;
pub use registry::{ClientFields, ControlPlane, NewClient, Settings};
pub use users::NewUser;
pub use watch::{WatchStart, Watcher};
