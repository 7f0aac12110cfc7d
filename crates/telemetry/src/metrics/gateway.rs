//! The gateway's metrics, with handles cached per API so the request path never builds a label
//! set: the first request of a kind registers its series, every later one is an atomic add.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use super::{
    GATEWAY_DURATION, GATEWAY_REQUESTS, GATEWAY_REVISION, LIMIT_REJECTIONS, STATUS_CLASSES, TOKENS_ISSUED,
    UPSTREAM_DURATION, status_class,
};

/// What part of the gateway answered a request: the `route` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Proxied to the API's upstream (or refused on the way: bearer, policy, limits).
    Proxy,
    Token,
    Authorize,
    Introspect,
    Revoke,
    /// RFC 8414 metadata documents.
    Metadata,
    /// No API listens on the path.
    NotFound,
    /// No configuration applied yet.
    Unavailable,
}

const ROUTE_KINDS: usize = 8;

impl RouteKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Token => "token",
            Self::Authorize => "authorize",
            Self::Introspect => "introspect",
            Self::Revoke => "revoke",
            Self::Metadata => "metadata",
            Self::NotFound => "not_found",
            Self::Unavailable => "unavailable",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Which limit refused a request: the `limit` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rate,
    Quota,
}

const GRANT_TYPES: [&str; 4] = ["authorization_code", "client_credentials", "password", "refresh_token"];

/// The metric handles of one API (or of requests that reached none, with an empty `api`).
pub struct ApiMetrics {
    api_id: String,
    requests: [[OnceLock<Counter>; 5]; ROUTE_KINDS],
    durations: [OnceLock<Histogram>; ROUTE_KINDS],
    upstream: OnceLock<Histogram>,
    tokens: [OnceLock<Counter>; GRANT_TYPES.len()],
    limits: [OnceLock<Counter>; 2],
}

/// Every API's handles, kept across configuration versions so a config change re-registers
/// nothing. Entries of deleted APIs stay (a few hundred bytes each); so do their series, as
/// Prometheus expects of counters.
static BY_API: LazyLock<Mutex<HashMap<String, Arc<ApiMetrics>>>> = LazyLock::new(Default::default);

static UNROUTED: LazyLock<ApiMetrics> = LazyLock::new(|| ApiMetrics::new(String::new()));

impl ApiMetrics {
    fn new(api_id: String) -> Self {
        Self {
            api_id,
            requests: [const { [const { OnceLock::new() }; 5] }; ROUTE_KINDS],
            durations: [const { OnceLock::new() }; ROUTE_KINDS],
            upstream: OnceLock::new(),
            tokens: [const { OnceLock::new() }; GRANT_TYPES.len()],
            limits: [const { OnceLock::new() }; 2],
        }
    }

    /// The handles of `api_id`; called when a configuration version is built, not per request.
    pub fn for_api(api_id: &str) -> Arc<Self> {
        let mut by_api = BY_API.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(by_api.entry(api_id.to_owned()).or_insert_with(|| Arc::new(Self::new(api_id.to_owned()))))
    }

    /// The handles for requests no API answered.
    pub fn unrouted() -> &'static Self {
        &UNROUTED
    }

    /// One request answered with `status`, `elapsed` after it arrived.
    pub fn request(&self, kind: RouteKind, status: u16, elapsed: Duration) {
        let class = status_class(status);
        self.requests[kind.index()][class]
            .get_or_init(|| {
                metrics::counter!(
                    GATEWAY_REQUESTS,
                    "api" => self.api_id.clone(),
                    "route" => kind.as_str(),
                    "status_class" => STATUS_CLASSES[class],
                )
            })
            .increment(1);
        self.durations[kind.index()]
            .get_or_init(|| metrics::histogram!(GATEWAY_DURATION, "api" => self.api_id.clone(), "route" => kind.as_str()))
            .record(elapsed);
    }

    /// The upstream's time to response head.
    pub fn upstream(&self, elapsed: Duration) {
        self.upstream
            .get_or_init(|| metrics::histogram!(UPSTREAM_DURATION, "api" => self.api_id.clone()))
            .record(elapsed);
    }

    /// An access token issued under `grant_type` (one of RFC 6749's four names).
    pub fn token_issued(&self, grant_type: &str) {
        let Some(i) = GRANT_TYPES.iter().position(|g| *g == grant_type) else { return };
        self.tokens[i]
            .get_or_init(|| metrics::counter!(TOKENS_ISSUED, "api" => self.api_id.clone(), "grant_type" => GRANT_TYPES[i]))
            .increment(1);
    }

    /// A request refused by a rate limit or a quota.
    pub fn limit_rejected(&self, limit: Limit) {
        let (i, label) = match limit {
            Limit::Rate => (0, "rate"),
            Limit::Quota => (1, "quota"),
        };
        self.limits[i]
            .get_or_init(
                || metrics::counter!(LIMIT_REJECTIONS, "api" => self.api_id.clone(), "limit" => label),
            )
            .increment(1);
    }
}

/// The configuration revision a gateway has applied.
pub fn config_revision(revision: u64) {
    // Revisions stay far below 2^53, where f64 stops being exact.
    metrics::gauge!(GATEWAY_REVISION).set(revision as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_shared_per_api() {
        let a = ApiMetrics::for_api("a");
        assert!(Arc::ptr_eq(&a, &ApiMetrics::for_api("a")));
        assert!(!Arc::ptr_eq(&a, &ApiMetrics::for_api("b")));
        // Without a recorder installed the handles are no-ops: recording must still work.
        a.request(RouteKind::Proxy, 200, Duration::from_millis(1));
        a.token_issued("client_credentials");
        a.token_issued("not-a-grant");
        a.limit_rejected(Limit::Quota);
    }

    #[test]
    fn status_classes_clamp() {
        assert_eq!(STATUS_CLASSES[status_class(204)], "2xx");
        assert_eq!(STATUS_CLASSES[status_class(99)], "1xx");
        assert_eq!(STATUS_CLASSES[status_class(999)], "5xx");
    }
}
