//! The data plane: what a gateway node does with each request.
//!
//! # Layout
//! - [`live`]: the configuration the node serves, swapped atomically as snapshots and deltas
//!   arrive; requests read it without taking a lock.
//! - [`conn`]: what every client connection meets (shared with the control plane's port): read
//!   deadlines, the connection cap, header limits, the `Host` check.
//! - [`listener`]: accepting connections, plain or TLS (`gatehouse_tls`), HSTS on HTTPS
//!   responses, graceful drain.
//! - [`edge`]: how the gateway meets its clients (trusted proxies, HSTS, TLS required, connection
//!   limits, the metadata issuer), set once at start-up.
//! - [`server`]: [`Gateway`], the probes, and the order of the request's phases.
//! - `pipeline`: one file per phase of the hot path (route, metadata, OAuth endpoints,
//!   authenticate, authorize, admit, upstream request, forward) over a `RequestContext` that
//!   telemetry and analytics are recorded from once, at the end.
//! - [`upstream_path`]: the upstream's path and query, a pure function of the routed request.
//! - [`forwarded`]: trusted proxies: whose `X-Forwarded-*` headers are believed.
//! - [`tls_only`]: the refusal of credential-carrying requests that arrive without TLS.
//! - [`oauth`]: the authorization server's endpoints (`/oauth/authorize`, `/oauth/token`,
//!   `/oauth/introspect`, `/oauth/revoke`, `/oauth/revoke_all`, RFC 8414 metadata): HTTP around `gatehouse_oauth`.
//! - [`notify`]: Tyk's token notification webhook, sent off the request path.
//! - [`version`]: which version of a versioned API a request is for (header, query or path).
//! - [`path`]: the canonical request path that is routed and forwarded (dot segments, escapes,
//!   slashes), or why it is refused.
//! - [`credential`]: where a request's token is (header, query, cookie), and stripping it.
//! - [`bearer`]: checking the access token of a proxied request.
//! - [`refusal`]: why a protected request was refused (credential, session, policy), and the
//!   RFC 6750 answer.
//! - [`session_cache`]: sessions cached on the node, evicted as revocations are announced.
//! - [`policy`]: the token's policy at request time: access rights, allowed URLs, limits.
//! - [`limits`]: rate limit and quota, counted in the shared store in one round trip shared by
//!   a subject's concurrent requests (`coalesce`), or spent from a lease counted ahead (`lease`).
//! - [`analytics`]: usage per client, API and minute, aggregated in process and flushed in
//!   batches by a background task.
//! - [`proxy`]: forwarding to the upstream through a pooled client, bodies streamed; https
//!   upstreams verified (`proxy::upstream_tls`).
//! - [`response`]: the body type every response shares, and the gateway's own JSON errors.
//! - `observe`: each request's span and metrics (names and handles in `gatehouse_telemetry`).
//! - [`access_log`]: the optional one line per request (`--access-log`), never a credential.
//! - [`log_budget`]: a cap on log lines that callers can cause at will (refusals).
//! - [`shards`]: thread-per-core serving: one single-threaded runtime and one [`Gateway`] per
//!   serving thread, all accepting from the same sockets.
//!
//! The node holds no state of its own beyond a cache of config: tokens live in the shared
//! [`TokenStore`](gatehouse_model::storage::TokenStore), so any node can serve any request.

pub mod access_log;
pub mod analytics;
pub mod bearer;
pub mod conn;
pub mod credential;
pub mod edge;
pub mod forwarded;
pub mod limits;
pub mod listener;
pub mod live;
pub mod log_budget;
pub mod notify;
pub mod oauth;
mod observe;
pub mod path;
mod pipeline;
pub mod policy;
pub mod proxy;
pub mod refusal;
pub mod response;
pub mod server;
pub mod session_cache;
pub mod shards;
pub mod tls_only;
pub mod upstream_path;
pub mod version;

pub use live::LiveConfig;
pub use server::Gateway;
