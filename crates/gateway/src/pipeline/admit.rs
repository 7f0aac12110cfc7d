//! Step 9: whether the request fits its rate limit and quota.

use std::sync::Arc;

use gatehouse_model::clock::unix_seconds;
use gatehouse_store::AnyTokenStore;

use super::{RequestContext, Step};
use crate::limits::{self, LimitHeaders, coalesce::Coalescer};
use crate::log_budget::LogBudget;
use crate::policy::Grant;

/// Step 9: Rate limit and quota in one store round trip (`limits.rs`), shared by the concurrent
/// requests of one subject (`limits/coalesce.rs`); 429 or 403 past them. The `X-RateLimit-*`
/// headers to put on the upstream's response.
pub(crate) async fn admit(
    ctx: &RequestContext<'_>,
    tokens: &AnyTokenStore,
    coalescer: &Arc<Coalescer>,
    grant: &Grant,
    client_id: &str,
) -> Step<Option<LimitHeaders>> {
    match limits::check(tokens, coalescer, grant, ctx.api_metrics()).await {
        Ok(headers) => Step::Continue(headers),
        Err(refused) => {
            if let Some(left_out) = THROTTLING_LOGGED.take(unix_seconds()) {
                tracing::info!(
                    client_id,
                    address = %ctx.hop.peer.ip().to_canonical(),
                    status = refused.status().as_u16(),
                    left_out,
                    "request throttled"
                );
            }
            Step::Break(refused)
        }
    }
}

/// Throttling decisions logged per second at most: a client past its limit cannot flood the log.
static THROTTLING_LOGGED: LogBudget = LogBudget::new(10);
