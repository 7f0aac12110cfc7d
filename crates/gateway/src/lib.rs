//! The data plane: what a gateway node does with each request.
//!
//! # Layout
//! - [`live`]: the configuration the node serves, swapped atomically as snapshots and deltas
//!   arrive; requests read it without taking a lock.
//! - [`conn`]: what every client connection meets (shared with the control plane's port): read
//!   deadlines, the connection cap, header limits, the `Host` check.
//! - [`listener`]: accepting connections, plain or TLS (`gatehouse_tls`), HSTS on HTTPS
//!   responses, graceful drain.
//! - [`server`]: the request pipeline, in the order of the design's hot path: route by listen
//!   path → OAuth endpoints → bearer check → policy → limits → proxy.
//! - [`forwarded`]: trusted proxies: whose `X-Forwarded-*` headers are believed.
//! - [`tls_only`]: the refusal of credential-carrying requests that arrive without TLS.
//! - [`oauth`]: the authorization server's endpoints (`/oauth/authorize`, `/oauth/token`,
//!   `/oauth/introspect`, `/oauth/revoke`, RFC 8414 metadata): HTTP around `gatehouse_oauth`.
//! - [`notify`]: Tyk's token notification webhook, sent off the request path.
//! - [`version`]: which version of a versioned API a request is for (header, query or path).
//! - [`path`]: the canonical request path that is routed and forwarded (dot segments, escapes,
//!   slashes), or why it is refused.
//! - [`credential`]: where a request's token is (header, query, cookie), and stripping it.
//! - [`bearer`]: checking the access token of a proxied request.
//! - [`session_cache`]: sessions cached on the node, evicted as revocations are announced.
//! - [`policy`]: the token's policy at request time: access rights, allowed URLs, limits.
//! - [`limits`]: rate limit and quota, counted in the shared store in one round trip.
//! - [`analytics`]: usage per client, API and minute, aggregated in process and flushed in
//!   batches by a background task.
//! - [`proxy`]: forwarding to the upstream through a pooled client, bodies streamed; https
//!   upstreams verified (`proxy::upstream_tls`).
//! - `observe`: each request's span and metrics (names and handles in `gatehouse_telemetry`).
//! - [`shards`]: thread-per-core serving: one single-threaded runtime and one [`Gateway`] per
//!   serving thread, all accepting from the same sockets.
//!
//! The node holds no state of its own beyond a cache of config: tokens live in the shared
//! [`TokenStore`](gatehouse_model::storage::TokenStore), so any node can serve any request.

pub mod analytics;
pub mod bearer;
pub mod conn;
pub mod credential;
pub mod forwarded;
pub mod limits;
pub mod listener;
pub mod live;
pub mod notify;
pub mod oauth;
mod observe;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod server;
pub mod session_cache;
pub mod shards;
pub mod tls_only;
pub mod version;

pub use live::LiveConfig;
pub use server::Gateway;
