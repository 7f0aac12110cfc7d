//! The bearer check of a proxied request (RFC 6750): the session behind a token, from the node's
//! cache or the token store. Its refusals and their answers are in [`crate::refusal`].

use gatehouse_model::Session;
use gatehouse_model::storage::SessionStore;
use gatehouse_oauth::token::kind;

use crate::live::RuntimeConfig;
use crate::refusal::Refusal;
use crate::session_cache::SessionCache;

/// The live session of `token`. Whether it may call this API is the policy's decision
/// ([`crate::policy::authorize`]).
///
/// A session found in `cache` spares the store a round trip; one found in the store is cached.
/// The expiry and client checks below run either way, so a deleted client's tokens die at once
/// whether their session was cached or not.
pub async fn check(
    config: &RuntimeConfig,
    tokens: &impl SessionStore,
    cache: &SessionCache,
    token: &str,
    now: u64,
) -> Result<Session, Refusal> {
    let key = config.hasher.key(kind::ACCESS_TOKEN, token);
    let session = match cache.get(&key, now) {
        Some(session) => session,
        None => {
            let ticket = cache.ticket();
            match tokens.get_session(&key).await {
                Ok(Some(session)) => {
                    cache.insert(ticket, &key, &session);
                    session
                }
                // Unknown tokens are not remembered: one issued a moment later, possibly on
                // another gateway, must be accepted.
                Ok(None) => return Err(Refusal::Unknown),
                Err(e) => {
                    tracing::warn!(error = %e, "token store lookup failed");
                    return Err(Refusal::StoreDown);
                }
            }
        }
    };
    if session.is_expired(now) {
        return Err(Refusal::Expired);
    }
    // A deleted client's tokens die with it (Tyk's "OAuth client access was revoked").
    if config.state.client(&session.api_id, &session.client_id).is_none() {
        return Err(Refusal::Unknown);
    }
    Ok(session)
}
