//! Usage analytics, recorded off the request path.
//!
//! [`AnalyticsRecorder::record`] only adds to an in-process map, keyed by minute, client and
//! API, under a mutex held for a few map operations: no I/O, and no allocation once the entry
//! exists. A background task hands the map to the [`AnalyticsStore`] every
//! [`FLUSH_INTERVAL`], so Redis sees one batch per second per gateway however busy it is. When
//! the store fails the aggregates are put back and retried on the next tick; past
//! `max_entries` the oldest minutes are dropped (with a warning), so a long Redis outage costs
//! analytics, never memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_store::{AnalyticsStore, AnyTokenStore, MinuteAggregate, StoreError};

/// How often the background task writes what was recorded.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default bound on pending (minute, client, API) entries: a few MB at most.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    hits: u64,
    success: u64,
    errors: u64,
    latency_ms_total: u64,
}

impl Counters {
    fn add(&mut self, other: Counters) {
        self.hits += other.hits;
        self.success += other.success;
        self.errors += other.errors;
        self.latency_ms_total += other.latency_ms_total;
    }
}

/// Minute → client → API → counters. Nested maps keyed by `String` can be looked up by `&str`,
/// which a tuple key could not without building the tuple (allocating) on every request.
type Minutes = BTreeMap<u64, HashMap<String, HashMap<String, Counters>>>;

#[derive(Default)]
struct Pending {
    minutes: Minutes,
    entries: usize,
    /// Entries dropped to stay within the bound since the last warning.
    dropped: usize,
}

impl Pending {
    /// Adds `counters` under (minute, client, API), making room first if the entry is new.
    fn add(&mut self, minute: u64, client_id: &str, api_id: &str, counters: Counters, max_entries: usize) {
        if let Some(c) = self.minutes.get_mut(&minute).and_then(|m| m.get_mut(client_id)?.get_mut(api_id)) {
            c.add(counters);
            return;
        }
        while self.entries >= max_entries {
            // The oldest minute goes first: it is the one least likely to still be read.
            let Some((_, clients)) = self.minutes.pop_first() else { break };
            let gone: usize = clients.values().map(HashMap::len).sum();
            self.entries -= gone;
            self.dropped += gone;
        }
        self.minutes
            .entry(minute)
            .or_default()
            .entry(client_id.to_owned())
            .or_default()
            .insert(api_id.to_owned(), counters);
        self.entries += 1;
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

/// Aggregates requests per client, API and minute and writes them in batches. Clones share the
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
    pub fn record(&self, api_id: &str, client_id: &str, status: u16, latency: Duration) {
        let counters = Counters {
            hits: 1,
            success: u64::from(status < 400),
            errors: u64::from(status >= 400),
            latency_ms_total: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        };
        let minute = unix_minute_now();
        self.inner.lock().add(minute, client_id, api_id, counters, self.inner.max_entries);
    }

    /// Writes everything recorded so far. On an error the aggregates stay pending for the next
    /// attempt, and the error is returned.
    pub async fn flush(&self) -> Result<(), StoreError> {
        flush_inner(&self.inner).await
    }

    /// (Minute, client, API) entries waiting to be written.
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
    let batch = to_batch(&taken.minutes);
    let Err(error) = inner.store.record(&batch).await else { return Ok(()) };
    // Put the aggregates back (adding to anything recorded meanwhile) for the next tick. A
    // failed batch may have been partly counted (Redis Cluster writes per client), so a retry
    // can count some twice: analytics accept that rather than lose everything on an outage.
    let mut pending = inner.lock();
    for (minute, clients) in taken.minutes {
        for (client_id, apis) in clients {
            for (api_id, counters) in apis {
                pending.add(minute, &client_id, &api_id, counters, inner.max_entries);
            }
        }
    }
    Err(error)
}

fn to_batch(minutes: &Minutes) -> Vec<MinuteAggregate> {
    let mut batch = Vec::new();
    for (minute, clients) in minutes {
        for (client_id, apis) in clients {
            for (api_id, c) in apis {
                batch.push(MinuteAggregate {
                    client_id: client_id.clone(),
                    api_id: api_id.clone(),
                    minute: *minute,
                    hits: c.hits,
                    success: c.success,
                    errors: c.errors,
                    latency_ms_total: c.latency_ms_total,
                });
            }
        }
    }
    batch
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

fn unix_minute_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() / 60)
}

#[cfg(test)]
mod tests;
