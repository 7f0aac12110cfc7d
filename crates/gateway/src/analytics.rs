//! Usage analytics, recorded off the request path.
//!
//! [`AnalyticsRecorder::record`] only adds to an in-process map, keyed by minute, client and
//! endpoint (API, policy, method, status, path), under a mutex held for a few map operations:
//! no I/O, and no allocation once the entry exists. A background task hands the map to the
//! [`AnalyticsStore`] every [`FLUSH_INTERVAL`], so Redis sees one batch per second per gateway
//! however busy it is. When the store fails the aggregates are put back and retried on the next
//! tick; past `max_entries` the oldest minutes are dropped (with a warning), so a long Redis
//! outage costs analytics, never memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use gatehouse_model::storage::{AnalyticsStore, MinuteAggregate, StoreError};
use gatehouse_store::{AnyTokenStore, unix_minute_now};

/// How often the background task writes what was recorded.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default bound on pending (minute, client, endpoint) entries: a few tens of MB at most.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Paths are cut to this many bytes: a client sending ever-new long paths costs bounded memory
/// per entry, and a report stays readable.
pub const MAX_PATH_BYTES: usize = 256;

/// One proxied request, as analytics count it.
#[derive(Debug, Clone, Copy)]
pub struct ProxiedRequest<'a> {
    pub api_id: &'a str,
    pub client_id: &'a str,
    pub policy_id: &'a str,
    pub method: &'a str,
    /// The path below the API's listen path, without the query.
    pub path: &'a str,
    pub status: u16,
    pub latency: Duration,
}

/// The longest prefix of `path` within [`MAX_PATH_BYTES`] that ends on a character boundary.
fn bounded(path: &str) -> &str {
    if path.len() <= MAX_PATH_BYTES {
        return path;
    }
    let mut end = MAX_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// Minute → (client and endpoint, as one tab-joined key) → aggregate. One string key is
/// formatted into a reused buffer for the lookup, so a hit allocates nothing; tabs cannot occur
/// in ids, methods or paths, so keys cannot collide.
type Minutes = BTreeMap<u64, HashMap<String, MinuteAggregate>>;

#[derive(Default)]
struct Pending {
    minutes: Minutes,
    entries: usize,
    /// Entries dropped to stay within the bound since the last warning.
    dropped: usize,
    /// The lookup key of the last `add`, kept for its capacity.
    key: String,
}

impl Pending {
    /// Adds `aggregate` (its minute, client and endpoint, and its counters), making room first
    /// if the entry is new.
    fn add(&mut self, aggregate: AggregateRef<'_>, max_entries: usize) {
        self.key.clear();
        let a = &aggregate;
        // Writing to a String cannot fail.
        let _ = write!(
            self.key,
            "{}\t{}\t{}\t{}\t{}\t{}",
            a.client_id, a.api_id, a.policy_id, a.method, a.status, a.path
        );
        if let Some(existing) = self.minutes.get_mut(&a.minute).and_then(|m| m.get_mut(self.key.as_str())) {
            existing.hits += a.hits;
            existing.success += a.success;
            existing.errors += a.errors;
            existing.latency_ms_total += a.latency_ms_total;
            return;
        }
        while self.entries >= max_entries {
            // The oldest minute goes first: it is the one least likely to still be read.
            let Some((_, gone)) = self.minutes.pop_first() else { break };
            self.entries -= gone.len();
            self.dropped += gone.len();
        }
        self.minutes.entry(a.minute).or_default().insert(self.key.clone(), aggregate.into_aggregate());
        self.entries += 1;
    }
}

/// A [`MinuteAggregate`] borrowing its strings, so a request that adds to an existing entry
/// copies none of them.
#[derive(Debug, Clone, Copy)]
struct AggregateRef<'a> {
    client_id: &'a str,
    api_id: &'a str,
    policy_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    minute: u64,
    hits: u64,
    success: u64,
    errors: u64,
    latency_ms_total: u64,
}

impl<'a> AggregateRef<'a> {
    fn of_request(r: &ProxiedRequest<'a>, minute: u64) -> Self {
        AggregateRef {
            client_id: r.client_id,
            api_id: r.api_id,
            policy_id: r.policy_id,
            method: r.method,
            path: bounded(r.path),
            status: r.status,
            minute,
            hits: 1,
            success: u64::from(r.status < 400),
            errors: u64::from(r.status >= 400),
            latency_ms_total: u64::try_from(r.latency.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn of_aggregate(a: &'a MinuteAggregate) -> Self {
        AggregateRef {
            client_id: &a.client_id,
            api_id: &a.api_id,
            policy_id: &a.policy_id,
            method: &a.method,
            path: &a.path,
            status: a.status,
            minute: a.minute,
            hits: a.hits,
            success: a.success,
            errors: a.errors,
            latency_ms_total: a.latency_ms_total,
        }
    }

    fn into_aggregate(self) -> MinuteAggregate {
        MinuteAggregate {
            client_id: self.client_id.to_owned(),
            api_id: self.api_id.to_owned(),
            policy_id: self.policy_id.to_owned(),
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            status: self.status,
            minute: self.minute,
            hits: self.hits,
            success: self.success,
            errors: self.errors,
            latency_ms_total: self.latency_ms_total,
        }
    }
}

struct Inner<S> {
    store: S,
    max_entries: usize,
    pending: Mutex<Pending>,
    /// Serialises flushes, so `flush().await` returns only once a tick's write in progress
    /// (holding aggregates recorded earlier) has finished too.
    flushing: tokio::sync::Mutex<()>,
}

impl<S> Inner<S> {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every critical section leaves the map consistent; a panic elsewhere does not spoil it.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Aggregates requests per client, endpoint and minute and writes them in batches. Clones share the
/// same aggregates and background task.
pub struct AnalyticsRecorder<S = AnyTokenStore> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for AnalyticsRecorder<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<S: AnalyticsStore> AnalyticsRecorder<S> {
    /// A recorder without a background task: aggregates are written by [`Self::flush`] only.
    pub fn new(store: S, max_entries: usize) -> Self {
        let inner = Inner {
            store,
            max_entries: max_entries.max(1),
            pending: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
        };
        Self { inner: Arc::new(inner) }
    }

    /// A recorder flushing every [`FLUSH_INTERVAL`] from a task on the current Tokio runtime.
    /// The task holds only a weak reference: it ends once every clone is dropped.
    pub fn start(store: S) -> Self {
        let recorder = Self::new(store, DEFAULT_MAX_ENTRIES);
        tokio::spawn(flush_every(Arc::downgrade(&recorder.inner), FLUSH_INTERVAL));
        recorder
    }

    /// Counts one proxied request. Responses of 400 and above count as errors, as in Tyk.
    pub fn record(&self, request: &ProxiedRequest<'_>) {
        let aggregate = AggregateRef::of_request(request, unix_minute_now());
        self.inner.lock().add(aggregate, self.inner.max_entries);
    }

    /// Writes everything recorded so far. On an error the aggregates stay pending for the next
    /// attempt, and the error is returned.
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush_inner(&self.inner).await
    }

    /// (Minute, client, endpoint) entries waiting to be written.
    pub fn pending_entries(&self) -> usize {
        self.inner.lock().entries
    }
}

async fn flush_inner<S: AnalyticsStore>(inner: &Inner<S>) -> Result<(), StoreError> {
    let _one_at_a_time = inner.flushing.lock().await;
    let (taken, dropped) = {
        let mut pending = inner.lock();
        let dropped = std::mem::take(&mut pending.dropped);
        (std::mem::take(&mut *pending), dropped)
    };
    if dropped > 0 {
        tracing::warn!(dropped, "analytics backlog full: dropped the oldest minutes");
    }
    if taken.entries == 0 {
        return Ok(());
    }
    let batch: Vec<MinuteAggregate> = taken.minutes.into_values().flat_map(HashMap::into_values).collect();
    let Err(error) = inner.store.record(&batch).await else { return Ok(()) };
    // Put the aggregates back (adding to anything recorded meanwhile) for the next tick. A
    // failed batch may have been partly counted (Redis Cluster writes per client), so a retry
    // can count some twice: analytics accept that rather than lose everything on an outage.
    let mut pending = inner.lock();
    for aggregate in &batch {
        pending.add(AggregateRef::of_aggregate(aggregate), inner.max_entries);
    }
    Err(error)
}

async fn flush_every<S: AnalyticsStore>(inner: Weak<Inner<S>>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(error) = flush_inner(&inner).await {
            tracing::warn!(%error, "analytics flush failed; retrying on the next tick");
        }
    }
}

#[cfg(test)]
mod tests;
