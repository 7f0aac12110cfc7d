//! Token-store calls to Redis: latency and failures per operation.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};

/// One kind of token-store call, with its metric handles registered on first use.
/// Declared as statics by the store, one per operation.
pub struct RedisOp {
    op: &'static str,
    duration: OnceLock<Histogram>,
    errors: OnceLock<Counter>,
}

impl RedisOp {
    pub const fn new(op: &'static str) -> Self {
        Self { op, duration: OnceLock::new(), errors: OnceLock::new() }
    }

    /// Records one call that took `elapsed`; `failed` when Redis could not be reached or
    /// answered with an error.
    pub fn record(&self, elapsed: Duration, failed: bool) {
        self.duration
            .get_or_init(|| metrics::histogram!(super::REDIS_DURATION, "op" => self.op))
            .record(elapsed);
        if failed {
            self.errors.get_or_init(|| metrics::counter!(super::REDIS_ERRORS, "op" => self.op)).increment(1);
        }
    }
}
