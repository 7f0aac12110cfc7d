//! Control-plane logic: the registry of APIs and clients, the revision log, and the watch
//! fan-out that streams config to gateways. Transport-free: the binary crate serves it over
//! gRPC and REST.
//!
//! # Layout
//! - [`registry`]: [`ControlPlane`], the admin operations; every mutation is validated, committed
//!   to the [`StateStore`](gatehouse_store::StateStore) and only then applied in memory and
//!   published.
//! - [`watch`]: how a gateway at (store id, revision) is brought up to date: the deltas it
//!   missed when the in-memory log still reaches back, a snapshot otherwise.
//! - [`error`]: [`ControlError`], which the edge maps to gRPC statuses and HTTP codes.

pub mod error;
pub mod registry;
pub mod watch;

pub use error::ControlError;
pub use registry::{ControlPlane, NewClient};
pub use watch::{WatchStart, Watcher};
