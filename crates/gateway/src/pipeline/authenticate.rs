//! Step 7: who a protected API's request is from.

use gatehouse_model::clock::unix_seconds;
use gatehouse_model::{Api, Session};
use gatehouse_store::AnyTokenStore;
use http::Request;
use hyper::body::Incoming;

use super::{Step, answer};
use crate::live::RuntimeConfig;
use crate::refusal::Refusal;
use crate::session_cache::SessionCache;
use crate::{bearer, credential};

/// Step 7: The credential where the API says it is (`credential.rs`: header, query parameter or
/// cookie; in more than one place: 400), then its session (`bearer.rs`: from the node's cache or
/// one store read; expiry and client checked against the live configuration).
pub(crate) async fn authenticate(
    config: &RuntimeConfig,
    tokens: &AnyTokenStore,
    sessions: &SessionCache,
    api: &Api,
    req: &Request<Incoming>,
) -> Step<Session> {
    let (token, _) =
        answer(credential::find(&api.credentials, req.headers(), req.uri().query()), Refusal::response)?;
    answer(bearer::check(config, tokens, sessions, &token, unix_seconds()).await, Refusal::response)
}
