//! Step 9: whether the request fits its rate limit and quota.

use std::sync::Arc;

use gatehouse_store::AnyTokenStore;

use super::{RequestContext, Step};
use crate::limits::{self, LimitHeaders, coalesce::Coalescer};
use crate::policy::Grant;

/// Step 9: Rate limit and quota in one store round trip (`limits.rs`), shared by the concurrent
/// requests of one subject (`limits/coalesce.rs`); 429 or 403 past them. The `X-RateLimit-*`
/// headers to put on the upstream's response.
pub(crate) async fn admit(
    ctx: &RequestContext<'_>,
    tokens: &AnyTokenStore,
    coalescer: &Arc<Coalescer>,
    grant: &Grant,
) -> Step<Option<LimitHeaders>> {
    match limits::check(tokens, coalescer, grant, ctx.api_metrics()).await {
        Ok(headers) => Step::Continue(headers),
        Err(refused) => Step::Break(refused),
    }
}
