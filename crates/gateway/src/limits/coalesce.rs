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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_model::storage::{LimitOutcome, LimitStore, Limits, StoreError};
use tokio::sync::oneshot;

/// The store's error itself, so the caller logs and maps it by its kind; cloned to every
/// request of a batch that failed.
type Answer = Result<LimitOutcome, StoreError>;

/// The subjects with a check in flight, and the requests waiting for the next one.
#[derive(Default)]
pub struct Coalescer {
    pending: Mutex<HashMap<String, Waiting>>,
    /// Store calls made, each for one request or a batch: with the requests counted, how much
    /// batching saves.
    store_calls: AtomicU64,
}

struct Waiting {
    /// The limits every request of the batch is checked against.
    limits: Limits,
    requests: Vec<oneshot::Sender<Answer>>,
}

impl Coalescer {
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
            let mut pending = self.lock();
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
    async fn run<S: LimitStore>(
        self: Arc<Self>,
        store: S,
        subject: String,
        limits: Limits,
        first: oneshot::Sender<Answer>,
        now_ms: fn() -> u64,
    ) {
        let mut registered = Registered { coalescer: &self, subject: &subject, armed: true };
        let mut batch = vec![first];
        loop {
            self.store_calls.fetch_add(1, Ordering::Relaxed);
            answer(&store, &subject, &limits, now_ms(), std::mem::take(&mut batch)).await;
            let mut pending = self.lock();
            match pending.get_mut(&subject) {
                Some(waiting) if !waiting.requests.is_empty() => {
                    batch = std::mem::take(&mut waiting.requests);
                }
                _ => {
                    pending.remove(&subject);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        // The map stays consistent even if a holder panicked: every change is one insert,
        // push or remove.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Checks `batch` (one store call) and answers each request, in the order they arrived.
async fn answer(
    store: &impl LimitStore,
    subject: &str,
    limits: &Limits,
    now_ms: u64,
    batch: Vec<oneshot::Sender<Answer>>,
) {
    if let [_] = batch.as_slice() {
        // A request alone, the common case for most subjects: the plain check, no batch to
        // build or take apart.
        let outcome = store.check_limits(subject, limits, now_ms).await;
        batch.into_iter().for_each(|request| drop(request.send(outcome.clone())));
        return;
    }
    let count = batch.len() as u64;
    match store.check_limits_batch(subject, limits, now_ms, count).await {
        // A store answering fewer outcomes than asked leaves the rest unanswered, hence refused
        // as abandoned.
        Ok(outcomes) => batch.into_iter().zip(outcomes).for_each(|(request, outcome)| {
            // A request gone away (its client disconnected) was counted all the same, as it
            // would have been checked alone.
            let _ = request.send(Ok(outcome));
        }),
        Err(error) => batch.into_iter().for_each(|request| drop(request.send(Err(error.clone())))),
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
            self.coalescer.lock().remove(self.subject);
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
        assert!(coalescer.lock().is_empty(), "the subject is unregistered once nobody waits");
        // The first request alone, then the 29 that arrived while it was in flight.
        assert_eq!(coalescer.store_calls(), 2);
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
        assert_eq!(coalescer.store_calls(), 5);
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
        assert!(coalescer.lock().is_empty());
    }
}
