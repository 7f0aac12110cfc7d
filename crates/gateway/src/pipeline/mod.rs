//! The request pipeline: ARCHITECTURE.md's hot path, one function per step, called in order by
//! `Gateway::phases` (`server.rs`):
//!
//! 1. A configuration to serve from, and the canonical path ([`route::canonical_path`]).
//! 2. RFC 8414 metadata, before routing ([`metadata::metadata`]).
//! 3. The longest listen-path match ([`route::route`]).
//! 4. Credentials never over plain HTTP on a TLS gateway ([`route::require_tls`]).
//! 5. The authorization server's endpoints ([`oauth_endpoints::oauth_endpoints`]).
//! 6. The version of a versioned API ([`route::version`]).
//! 7. Credential and session, on protected APIs as 8 and 9 ([`authenticate::authenticate`]).
//! 8. The session's policy ([`authorize::authorize`]).
//! 9. Rate limit and quota ([`admit::admit`]).
//! 10. The request as the upstream will see it ([`upstream_request::upstream_request`]).
//! 11. The request proxied ([`forward::forward`]).
//!
//! Each phase gets what it reads and returns the next step's input, or the response that ends
//! the request there ([`Step`]). What telemetry and analytics need is noted in the
//! [`RequestContext`] on the way and recorded once, at the end ([`RequestContext::finish`]).

pub(crate) mod admit;
pub(crate) mod authenticate;
pub(crate) mod authorize;
mod context;
pub(crate) mod forward;
pub(crate) mod metadata;
pub(crate) mod oauth_endpoints;
pub(crate) mod route;
pub(crate) mod upstream_request;

use std::ops::ControlFlow;

use http::Response;

pub(crate) use context::RequestContext;

use crate::response::ResponseBody;

/// What a phase gives the next one (`Continue`), or the response that ends the request
/// (`Break`). `?` passes a `Break` straight up through `Gateway::phases`.
pub(crate) type Step<T> = ControlFlow<Response<ResponseBody>, T>;

/// A check's result as a step: its refusal answered with `respond`.
fn answer<T, E>(result: Result<T, E>, respond: impl FnOnce(E) -> Response<ResponseBody>) -> Step<T> {
    match result {
        Ok(value) => Step::Continue(value),
        Err(refusal) => Step::Break(respond(refusal)),
    }
}
