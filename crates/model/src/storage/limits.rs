//! Rate limits and quotas, counted in the store so that any number of gateways enforce one
//! limit exactly.

use std::future::Future;

use super::StoreError;

/// The limits of one subject (a token family, or a client acting on its own behalf).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `rate` requests per `per` seconds, smoothed (GCRA with a burst of `rate` rounded down,
    /// at least 1).
    pub rate: Option<RateLimit>,
    /// `max` requests per fixed period of `period_secs`, counted from the first request.
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub per_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u64,
    pub period_secs: u64,
}

/// What a limit check decided, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOutcome {
    /// `None`: allowed (and counted).
    pub refused_by: Option<LimitKind>,
    /// Requests the rate limit still allows right now (its burst left), when there is one.
    pub rate_remaining: Option<u64>,
    /// Unix milliseconds when the rate limit allows a full burst again.
    pub rate_reset_ms: Option<u64>,
    pub quota_remaining: Option<u64>,
    /// Unix milliseconds when the quota period ends.
    pub quota_reset_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rate,
    Quota,
}

/// Where requests are counted against their subject's limits.
pub trait LimitStore: Send + Sync + 'static {
    /// Counts one request of `subject` against its rate limit and quota, atomically and in one
    /// round trip, so any number of gateways enforce one limit exactly. A request refused by
    /// either limit consumes neither.
    fn check_limits(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
    ) -> impl Future<Output = Result<LimitOutcome, StoreError>> + Send;

    /// Counts `count` requests of `subject` at once, as [`LimitStore::check_limits`] would one
    /// after another, atomically and in one round trip: their outcomes, in order. For a gateway
    /// that gathers the concurrent checks of one subject into one.
    fn check_limits_batch(
        &self,
        subject: &str,
        limits: &Limits,
        now_ms: u64,
        count: u64,
    ) -> impl Future<Output = Result<Vec<LimitOutcome>, StoreError>> + Send;

    /// Gives back `cells` of `subject`'s quota that were counted ahead of demand (a gateway's
    /// lease) and never spent, if the period they were counted in, the one that ends at
    /// `reset_ms` (unix ms, as [`LimitOutcome::quota_reset_ms`] said), is still the running one
    /// at `now_ms`; never below zero. Returns how many went back.
    ///
    /// There is no such call for the rate limit, on purpose: a GCRA bucket refills by itself
    /// within the cells' own time, and lowering its TAT after other gateways moved it could
    /// admit more than the limit.
    fn refund_quota(
        &self,
        subject: &str,
        cells: u64,
        reset_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// How far a quota period's end, as a refund names it, may be from the running period's end
/// as the store sees it, for the refund to count as the same period: the two ends are read
/// through two clocks (the gateway's and the store's) and a round trip apart. A new period
/// starts a whole period later, so only periods shorter than this are ambiguous, and for those
/// a refund is rare and small.
pub const QUOTA_PERIOD_TOLERANCE_MS: u64 = 500;
