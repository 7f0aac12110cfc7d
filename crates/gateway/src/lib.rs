//! The data plane: what a gateway node does with each request.
//!
//! # Layout
//! - [`live`]: the configuration the node serves, swapped atomically as snapshots and deltas
//!   arrive; requests read it without taking a lock.
//! - [`server`]: the HTTP listener and the request pipeline, in the order of the design's hot
//!   path: route by listen path → OAuth endpoints → bearer check → proxy.
//! - [`token_endpoint`]: `POST /<listen-path>/oauth/token`, HTTP around `gatehouse_oauth`.
//! - [`bearer`]: reading and checking the access token of a proxied request.
//! - [`proxy`]: forwarding to the upstream through a pooled client, bodies streamed.
//!
//! The node holds no state of its own beyond a cache of config: tokens live in the shared
//! [`TokenStore`](gatehouse_store::TokenStore), so any node can serve any request.

pub mod bearer;
pub mod live;
pub mod proxy;
pub mod server;
pub mod token_endpoint;

pub use live::LiveConfig;
pub use server::Gateway;
