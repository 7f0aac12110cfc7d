//! Rate limits and quotas at the gateway: one store round trip (shared by the concurrent
//! requests of one subject, see [`coalesce`]) or none (a busy subject's lease, see [`lease`]),
//! `X-RateLimit-*` headers, and a refusal that says which limit was hit.

pub mod coalesce;
pub mod lease;

use std::sync::Arc;

use gatehouse_model::clock::unix_millis;
use gatehouse_model::storage::{LimitKind, LimitOutcome, LimitStore};
use gatehouse_telemetry::metrics::gateway::{ApiMetrics, Limit};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::policy::Grant;
use crate::response::{ResponseBody, json_error};

/// The `X-RateLimit-*` values of one request: the rate limit's when there is one, the quota's
/// otherwise.
#[derive(Debug, Clone, Copy)]
pub struct LimitHeaders {
    limit: u64,
    remaining: u64,
    /// Unix seconds.
    reset: u64,
}

impl LimitHeaders {
    fn from_outcome(grant: &Grant, outcome: &LimitOutcome) -> Option<Self> {
        if let (Some(rate), Some(remaining), Some(reset)) =
            (grant.limits.rate, outcome.rate_remaining, outcome.rate_reset_ms)
        {
            // The store's burst is the rate rounded down (at least 1): report what it enforces.
            let limit = rate.rate.floor().max(1.0) as u64;
            return Some(Self { limit, remaining, reset: reset.div_ceil(1000) });
        }
        if let (Some(quota), Some(remaining), Some(reset)) =
            (grant.limits.quota, outcome.quota_remaining, outcome.quota_reset_ms)
        {
            return Some(Self { limit: quota.max, remaining, reset: reset.div_ceil(1000) });
        }
        None
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }
}

/// Counts the request; `Err` is the response to send instead of proxying.
/// Refusals are counted in `metrics`, the API's handles.
pub async fn check(
    tokens: &(impl LimitStore + Clone),
    coalescer: &Arc<coalesce::Coalescer>,
    grant: &Grant,
    metrics: &ApiMetrics,
) -> Result<Option<LimitHeaders>, Response<ResponseBody>> {
    if grant.limits.rate.is_none() && grant.limits.quota.is_none() {
        return Ok(None);
    }
    let outcome = coalescer.check(tokens, &grant.subject, &grant.limits, unix_millis).await.map_err(|e| {
        // Fail closed, and fast: without the shared counters no gateway can tell whether the
        // limit is spent.
        tracing::warn!(error = %e, "rate limiter unavailable");
        json_error(StatusCode::SERVICE_UNAVAILABLE, "rate limiter unavailable")
    })?;
    let headers = LimitHeaders::from_outcome(grant, &outcome);
    match outcome.refused_by {
        None => Ok(headers),
        Some(kind) => {
            // Tyk's statuses: a rate limit says "later" (429, with when); a spent quota is a
            // refusal until the period renews (403, and like Tyk no X-RateLimit-* headers).
            let (status, message, limit) = match kind {
                LimitKind::Rate => (StatusCode::TOO_MANY_REQUESTS, "Rate Limit Exceeded", Limit::Rate),
                LimitKind::Quota => (StatusCode::FORBIDDEN, "Quota exceeded", Limit::Quota),
            };
            metrics.limit_rejected(limit);
            tracing::debug!(
                subject_kind = grant.subject.split(':').next().unwrap_or(""),
                message,
                "request refused"
            );
            let mut response = json_error(status, message);
            if let Some(headers) = headers.filter(|_| kind == LimitKind::Rate) {
                headers.apply(response.headers_mut());
                let wait = headers.reset.saturating_sub(unix_millis() / 1000).max(1);
                response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(wait));
            }
            Err(response)
        }
    }
}
