//! Step 8: what the session's policy lets the request do.

use gatehouse_model::{Api, Session};
use http::Request;
use hyper::body::Incoming;

use super::{Step, answer};
use crate::live::RuntimeConfig;
use crate::policy::{self, Grant};
use crate::refusal::Refusal;
use crate::version::RequestVersion;

/// Step 8: The session's policy from the live configuration (`policy.rs`): access rights, granted
/// versions, allowed URL patterns (compiled once per configuration version), active flag; the
/// grant says who the limits count against.
pub(crate) fn authorize(
    config: &RuntimeConfig,
    api: &Api,
    session: &Session,
    req: &Request<Incoming>,
    rest: &str,
    version: Option<RequestVersion<'_>>,
) -> Step<Grant> {
    let request =
        policy::Request { method: req.method().as_str(), path: rest, version: version.map(|v| v.name) };
    answer(policy::authorize(&config.state, &config.rules, api, session, request), Refusal::response)
}
