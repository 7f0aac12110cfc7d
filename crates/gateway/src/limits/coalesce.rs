//! Gathering the concurrent limit checks of one subject into one store call.
//!
//! Under load, a busy client's requests each paid a Redis round trip and a script run on the
//! same two keys. Here, while one check of a subject is in flight, later requests of that
//! subject wait; when it returns they go together as one batch
//! ([`LimitStore::check_limits_batch`]), which the store decides exactly as it would have
//! decided them one after another. Limits stay exact across gateways: every count still happens
//! in the store, atomically. A subject seen one request at a time pays what it paid before, plus
//! a task spawn and a channel.
//!
//! Each serving thread has its own [`Coalescer`] (it lives in the thread's `Gateway`), so the
//! batching task runs on the thread whose requests wait for it.
//!
//! The same store call also counts cells ahead of demand for a busy subject, kept here as its
//! lease (`lease.rs`): while the lease lasts, the subject's requests are answered from it
//! without waiting for the store at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;

use gatehouse_model::storage::{LimitOutcome, LimitStore, Limits, StoreError};
use tokio::sync::oneshot;

use super::lease::{LEASE_LIFETIME, Leases, Refund};

/// The store's error itself, so the caller logs and maps it by its kind; cloned to every
/// request of a batch that failed.
type Answer = Result<LimitOutcome, StoreError>;

/// The subjects with a check in flight, the requests waiting for the next one, and the
/// subjects' leases.
pub struct Coalescer {
    /// Whether busy subjects are counted in leases (`--limit-leases`).
    leasing: bool,
    subjects: Mutex<Subjects>,
    /// Store calls made, each for one request or a batch: with the requests counted, how much
    /// batching saves.
    store_calls: AtomicU64,
    /// Requests answered here, without a store call: from a lease, or by a remembered refusal.
    local_answers: AtomicU64,
}

#[derive(Default)]
struct Subjects {
    pending: HashMap<String, Waiting>,
    leases: Leases,
    /// Whether a task sweeps expired leases and quiet subjects (runs while the table holds any).
    sweeping: bool,
}

struct Waiting {
    /// The limits every request of the batch is checked against.
    limits: Limits,
    requests: Vec<oneshot::Sender<Answer>>,
}

impl Default for Coalescer {
    /// With leases, as a gateway runs by default.
    fn default() -> Self {
        Self::new(true)
    }
}

impl Coalescer {
    /// `leasing`: whether busy subjects are counted in leases and refusals remembered; without,
    /// every request is counted in the store (batched with its subject's concurrent ones).
    pub fn new(leasing: bool) -> Self {
        Self {
            leasing,
            subjects: Mutex::default(),
            store_calls: AtomicU64::default(),
            local_answers: AtomicU64::default(),
        }
    }

    /// Counts one request of `subject`: in a batch with the other requests of `subject` that
    /// arrive while a check of it is in flight. `now_ms` is the clock (unix ms), read as each
    /// store call goes out. `Err` is why the store could not decide.
    pub async fn check<S: LimitStore + Clone>(
        self: &Arc<Self>,
        store: &S,
        subject: &str,
        limits: &Limits,
        now_ms: fn() -> u64,
    ) -> Answer {
        let (answer, answered) = oneshot::channel();
        let queued = {
            let mut subjects = self.lock();
            if self.leasing {
                match subjects.leases.take(subject, limits, Instant::now()) {
                    Ok(outcome) => {
                        self.local_answers.fetch_add(1, Ordering::Relaxed);
                        return Ok(outcome);
                    }
                    Err(Some(refund)) => give_back(store.clone(), refund, now_ms),
                    Err(None) => {}
                }
            }
            let pending = &mut subjects.pending;
            match pending.get_mut(subject) {
                Some(waiting) if waiting.limits == *limits => {
                    waiting.requests.push(answer);
                    true
                }
                // The subject's limits changed while a check was in flight (a policy edit):
                // checked on its own rather than in a batch with other limits.
                Some(_) => false,
                None => {
                    pending.insert(subject.to_owned(), Waiting { limits: *limits, requests: Vec::new() });
                    let run =
                        Arc::clone(self).run(store.clone(), subject.to_owned(), *limits, answer, now_ms);
                    tokio::spawn(run);
                    true
                }
            }
        };
        if !queued {
            return store.check_limits(subject, limits, now_ms()).await;
        }
        // The sender is dropped unanswered only if the batching task ended abnormally.
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the limit check was abandoned".to_owned())))
    }

    /// The subject's checks, batch after batch, until nobody waits. A task of its own, so that
    /// a request that goes away (its client disconnected) never strands the ones waiting.
    async fn run<S>(
        self: Arc<Self>,
        store: S,
        subject: String,
        limits: Limits,
        first: oneshot::Sender<Answer>,
        now_ms: fn() -> u64,
    ) where
        S: LimitStore + Clone,
    {
        let mut registered = Registered { coalescer: &self, subject: &subject, armed: true };
        let mut batch = vec![first];
        loop {
            self.store_calls.fetch_add(1, Ordering::Relaxed);
            let ahead =
                if self.leasing { self.lock().leases.ahead(&subject, &limits, Instant::now()) } else { 0 };
            let answered =
                answer(&store, &subject, &limits, now_ms(), std::mem::take(&mut batch), ahead).await;
            let mut subjects = self.lock();
            if let Some((cells, last)) = answered.filter(|_| self.leasing) {
                subjects.leases.deposit(&subject, &limits, cells, last.as_ref(), Instant::now(), now_ms());
                if !subjects.sweeping {
                    subjects.sweeping = true;
                    tokio::spawn(sweep(Arc::downgrade(&self), store.clone(), now_ms));
                }
            }
            match subjects.pending.get_mut(&subject) {
                Some(waiting) if !waiting.requests.is_empty() => {
                    batch = std::mem::take(&mut waiting.requests);
                }
                _ => {
                    subjects.pending.remove(&subject);
                    registered.armed = false;
                    return;
                }
            }
        }
    }

    /// Store calls made so far (each for one request or a batch).
    pub fn store_calls(&self) -> u64 {
        self.store_calls.load(Ordering::Relaxed)
    }

    /// Requests answered here so far, from a lease or by a remembered refusal.
    pub fn local_answers(&self) -> u64 {
        self.local_answers.load(Ordering::Relaxed)
    }

    /// Cells held in leases right now.
    pub fn cells_held(&self) -> usize {
        self.lock().leases.cells_held()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subjects> {
        // The maps stay consistent even if a holder panicked: every change is one insert,
        // push, pop or remove.
        self.subjects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drops expired leases and quiet subjects every half lifetime and gives quota cells back; ends
/// when the table is empty (the next store answer starts it again) or the coalescer is gone.
async fn sweep<S: LimitStore + Clone>(coalescer: Weak<Coalescer>, store: S, now_ms: fn() -> u64) {
    loop {
        tokio::time::sleep(LEASE_LIFETIME / 2).await;
        let Some(coalescer) = coalescer.upgrade() else { return };
        let refunds = {
            let mut subjects = coalescer.lock();
            let refunds = subjects.leases.sweep(Instant::now());
            if subjects.leases.is_empty() {
                subjects.sweeping = false;
            }
            refunds
        };
        for refund in refunds {
            give_back(store.clone(), refund, now_ms);
        }
        if !coalescer.lock().sweeping {
            return;
        }
    }
}

/// Gives unspent quota cells back, in a task of its own (never on a request's path). A refund
/// that fails leaves the cells counted: the quota under-admits by them until its period ends,
/// which is safe.
fn give_back<S: LimitStore>(store: S, refund: Refund, now_ms: fn() -> u64) {
    tokio::spawn(async move {
        if let Err(error) = store.refund_quota(&refund.subject, refund.cells, refund.reset_ms, now_ms()).await
        {
            tracing::warn!(%error, cells = refund.cells, "could not give leased quota cells back");
        }
    });
}

/// What a store call left to lease: the allowed outcomes of the cells counted ahead, and the
/// last outcome the store gave (`None` for an unlimited subject).
type Counted = (Vec<LimitOutcome>, Option<LimitOutcome>);

/// Checks `batch` and `ahead` cells more (one store call) and answers each request, in the
/// order they arrived; `None` when the store failed.
async fn answer(
    store: &impl LimitStore,
    subject: &str,
    limits: &Limits,
    now_ms: u64,
    batch: Vec<oneshot::Sender<Answer>>,
    ahead: u64,
) -> Option<Counted> {
    if let ([_], 0) = (batch.as_slice(), ahead) {
        // A request alone, the common case for most subjects: the plain check, no batch to
        // build or take apart.
        let outcome = store.check_limits(subject, limits, now_ms).await;
        let last = outcome.as_ref().ok().copied();
        batch.into_iter().for_each(|request| drop(request.send(outcome.clone())));
        return last.map(|last| (Vec::new(), Some(last)));
    }
    let count = batch.len() as u64 + ahead;
    match store.check_limits_batch(subject, limits, now_ms, count).await {
        Ok(mut outcomes) => {
            let last = outcomes.last().copied();
            // The requests come first: the store allows a prefix, so the cells ahead are
            // counted only once every request is.
            let cells = outcomes.split_off(batch.len().min(outcomes.len()));
            // A store answering fewer outcomes than asked leaves the rest unanswered, hence
            // refused as abandoned.
            batch.into_iter().zip(outcomes).for_each(|(request, outcome)| {
                // A request gone away (its client disconnected) was counted all the same, as it
                // would have been checked alone.
                let _ = request.send(Ok(outcome));
            });
            Some((cells.into_iter().filter(|cell| cell.refused_by.is_none()).collect(), last))
        }
        Err(error) => {
            batch.into_iter().for_each(|request| drop(request.send(Err(error.clone()))));
            None
        }
    }
}

/// Unregisters the subject if its task ends without doing so (a panic, or the runtime shutting
/// down): requests waiting then get "abandoned" instead of waiting forever, and the next request
/// of the subject starts afresh.
struct Registered<'a> {
    coalescer: &'a Coalescer,
    subject: &'a str,
    armed: bool,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.coalescer.lock().pending.remove(self.subject);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;
    use gatehouse_model::storage::{LimitKind, Quota, RateLimit};
    use gatehouse_store::{AnyTokenStore, MemoryTokenStore};

    use super::*;

    const NOW_MS: u64 = 1_700_000_000_000;

    fn now() -> u64 {
        NOW_MS
    }

    #[tokio::test]
    async fn concurrent_requests_of_a_subject_are_counted_exactly_in_few_calls() {
        let store = AnyTokenStore::Memory(MemoryTokenStore::new());
        let coalescer = Arc::new(Coalescer::default());
        let limits = Limits { rate: None, quota: Some(Quota { max: 10, period_secs: 60 }) };
        let requests = (0..30).map(|_| coalescer.check(&store, "client:a:c", &limits, now));
        let answers: Vec<LimitOutcome> = join_all(requests).await.into_iter().map(Result::unwrap).collect();
        let allowed = answers.iter().filter(|a| a.refused_by.is_none()).count();
        assert_eq!(allowed, 10);
        assert!(answers.iter().skip(10).all(|a| a.refused_by == Some(LimitKind::Quota)));
        // In arrival order: each allowed request saw one more counted.
        let remaining: Vec<_> = answers.iter().take(10).map(|a| a.quota_remaining).collect();
        assert_eq!(remaining, (0..10).rev().map(Some).collect::<Vec<_>>());
        assert!(coalescer.lock().pending.is_empty(), "the subject is unregistered once nobody waits");
        // The first request alone, then the 29 that arrived while it was in flight.
        assert_eq!(coalescer.store_calls(), 2);
    }

    #[tokio::test]
    async fn a_busy_subject_spends_leases_and_still_stops_at_the_limit() {
        let store = AnyTokenStore::Memory(MemoryTokenStore::new());
        let coalescer = Arc::new(Coalescer::default());
        let limits = Limits {
            rate: Some(RateLimit { rate: 100_000.0, per_secs: 1.0 }),
            quota: Some(Quota { max: 1_000, period_secs: 3_600 }),
        };
        let mut allowed = 0;
        let mut remaining = Vec::new();
        for _ in 0..1_500 {
            let outcome = coalescer.check(&store, "fam:busy", &limits, now).await.unwrap();
            if outcome.refused_by.is_none() {
                allowed += 1;
                remaining.push(outcome.quota_remaining.unwrap());
            }
        }
        assert_eq!(allowed, 1_000, "exactly the quota, leases or not");
        assert_eq!(remaining, (0..1_000).rev().collect::<Vec<u64>>(), "counting down by one");
        assert!(coalescer.local_answers() > 800, "mostly from leases: {}", coalescer.local_answers());
        assert!(coalescer.store_calls() < 600, "{} store calls", coalescer.store_calls());
    }

    #[tokio::test]
    async fn requests_coming_one_at_a_time_are_checked_one_at_a_time() {
        let store = AnyTokenStore::Memory(MemoryTokenStore::new());
        let coalescer = Arc::new(Coalescer::default());
        let limits = Limits { rate: Some(RateLimit { rate: 3.0, per_secs: 60.0 }), quota: None };
        let mut refused = Vec::new();
        for _ in 0..5 {
            refused.push(coalescer.check(&store, "fam:f", &limits, now).await.unwrap().refused_by);
        }
        let rate = Some(LimitKind::Rate);
        assert_eq!(refused, [None, None, None, rate, rate]);
        // The fifth is refused by the refusal the fourth got, remembered until a cell frees up.
        assert_eq!(coalescer.store_calls(), 4);
        assert_eq!(coalescer.local_answers(), 1);
    }

    #[tokio::test]
    async fn a_request_with_other_limits_is_checked_on_its_own() {
        let store = AnyTokenStore::Memory(MemoryTokenStore::new());
        let coalescer = Arc::new(Coalescer::default());
        let one = Limits { rate: None, quota: Some(Quota { max: 1, period_secs: 60 }) };
        let five = Limits { rate: None, quota: Some(Quota { max: 5, period_secs: 60 }) };
        let (a, b, c) = tokio::join!(
            coalescer.check(&store, "s", &one, now),
            coalescer.check(&store, "s", &five, now),
            coalescer.check(&store, "s", &one, now),
        );
        // The second, whose limits differ from the first's in flight, is checked on its own
        // (at once: the memory store answers without waiting) and counts 1 of 5. The first
        // then finds its quota of 1 spent, and so does the third, batched with it.
        let b = b.unwrap();
        assert_eq!((b.refused_by, b.quota_remaining), (None, Some(4)));
        assert_eq!(a.unwrap().refused_by, Some(LimitKind::Quota));
        assert_eq!(c.unwrap().refused_by, Some(LimitKind::Quota));
        assert_eq!(coalescer.store_calls(), 2, "the second went around the batching");
    }

    #[tokio::test]
    async fn a_store_failure_answers_every_waiting_request() {
        // A subject the store refuses as corrupt: each request gets the store's error.
        let store = AnyTokenStore::Memory(MemoryTokenStore::new());
        let coalescer = Arc::new(Coalescer::default());
        let limits = Limits { rate: None, quota: Some(Quota { max: 1, period_secs: 60 }) };
        let requests = (0..5).map(|_| coalescer.check(&store, "bad{subject", &limits, now));
        let answers = join_all(requests).await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Corrupt(why)) if why.contains("invalid limit subject")))
        );
        assert!(coalescer.lock().pending.is_empty());
    }
}
