//! Leases: a busy subject's limit cells counted in the store ahead of demand, then spent here
//! without a round trip.
//!
//! When a serving thread sends a subject's requests to the store (`coalesce.rs`), it asks for
//! [`Leases::ahead`] more cells than it has requests, in the same atomic call. The cells the
//! store allows beyond the requests are this thread's lease: each later request of the subject
//! takes the next one, with the outcome the store gave for that cell (so `X-RateLimit-Remaining`
//! counts down by one per request, as it would have at the reservation). A lease lives
//! [`LEASE_LIFETIME`]; what is left then is dropped, its quota cells given back to the store
//! ([`LimitStore::refund_quota`](gatehouse_model::storage::LimitStore::refund_quota)).
//!
//! # Why the limit still holds across gateways
//! Every cell, leased or not, is counted in the store by the same atomic script before any
//! request spends it, and the store never counts more than the limit allows. So the requests
//! admitted anywhere never exceed the limit; a lease can only make other gateways refuse early,
//! by the cells it holds unspent. That is bounded: a lease takes at most [`LEASE_SHARE`]⁻¹ of
//! the subject's burst (and of the quota it has left), sized to about [`LEASE_HORIZON`] of this
//! thread's recent demand, and lives at most [`LEASE_LIFETIME`]. Its rate cells come back as the
//! bucket refills (within the cells' own time); its quota cells by refund, or, if this gateway
//! dies holding them, with the period. Limits too small for a share of one cell (a burst below
//! [`LEASE_SHARE`]) get no lease at all and are counted request by request, exactly as before.
//!
//! # Refusals are remembered too
//! A subject past its rate limit would otherwise cost a store call per refused request, which
//! is exactly what a client hammering the gateway sends. When the store refuses, no cell can
//! exist for anyone until the bucket has refilled one (the TAT only moves forward; nothing gives
//! rate cells back), so the refusal is answered here until then (`refusal_lasts`), at most a
//! lease lifetime. A quota refusal is remembered a lease lifetime at most, since a refund
//! elsewhere may free cells. Either way the limit cannot be exceeded: a remembered refusal only
//! refuses.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use gatehouse_model::storage::{LimitKind, LimitOutcome, Limits};

/// How long leased cells may be spent. Short, since it bounds how long they are out of other
/// gateways' reach and how stale the headers they carry are.
pub const LEASE_LIFETIME: Duration = Duration::from_secs(1);
/// A lease aims at this much of the subject's recent demand on this thread: about ten store
/// calls a second for a busy subject, instead of one per request.
pub const LEASE_HORIZON: Duration = Duration::from_millis(100);
/// At most one part in this of a subject's burst, or of its quota left, goes into one lease.
pub const LEASE_SHARE: u64 = 16;

/// This serving thread's leases, by subject. Lives under the coalescer's lock, which only this
/// thread takes, so spending a cell is a map lookup and a pop.
#[derive(Default)]
pub struct Leases {
    by_subject: HashMap<String, SubjectLease>,
}

struct SubjectLease {
    /// The limits the cells were counted against; a policy edit makes them void.
    limits: Limits,
    /// The outcomes of the cells counted ahead, in order.
    cells: VecDeque<LimitOutcome>,
    expires: Instant,
    /// Requests of the subject since the last store call: the demand a lease is sized to.
    seen: u64,
    since: Instant,
    /// What the store last said was left of the quota, to size the next lease by.
    quota_left: Option<u64>,
    /// The store's last refusal, answered here until the instant given.
    refused: Option<(Instant, LimitOutcome)>,
}

/// Quota cells to give back: those of a lease dropped unspent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub subject: String,
    pub cells: u64,
    /// The end of the period they were counted in, unix ms.
    pub reset_ms: u64,
}

impl Leases {
    /// A cell of `subject`'s lease for one request, if one is held for these `limits` and still
    /// live; `Err` carries the refund of a lease found void or expired, dropped now.
    pub fn take(
        &mut self,
        subject: &str,
        limits: &Limits,
        now: Instant,
    ) -> Result<LimitOutcome, Option<Refund>> {
        let Some(lease) = self.by_subject.get_mut(subject) else { return Err(None) };
        lease.seen += 1;
        if lease.limits != *limits {
            let refund = lease.drain(subject);
            // Demand seen under other limits says little about these.
            self.by_subject.remove(subject);
            return Err(refund);
        }
        if !lease.cells.is_empty() {
            if now >= lease.expires {
                return Err(lease.drain(subject));
            }
            return lease.cells.pop_front().ok_or(None);
        }
        match lease.refused {
            Some((until, refusal)) if now < until => Ok(refusal),
            _ => Err(None),
        }
    }

    /// How many cells to count ahead, beyond the requests of the store call about to go out
    /// for `subject`: its demand since the last call, scaled to [`LEASE_HORIZON`], within its
    /// share of the limits. Starts a new demand period.
    pub fn ahead(&mut self, subject: &str, limits: &Limits, now: Instant) -> u64 {
        let Some(lease) = self.by_subject.get_mut(subject) else {
            // First seen: no demand known yet, nothing ahead.
            self.by_subject.insert(subject.to_owned(), SubjectLease::new(*limits, now));
            return 0;
        };
        if lease.limits != *limits {
            *lease = SubjectLease::new(*limits, now);
            return 0;
        }
        let elapsed = now.saturating_duration_since(lease.since).max(LEASE_HORIZON);
        let demand = u128::from(lease.seen) * LEASE_HORIZON.as_micros() / elapsed.as_micros().max(1);
        lease.seen = 0;
        lease.since = now;
        let demand = u64::try_from(demand).unwrap_or(u64::MAX);
        demand.min(share_cap(limits, lease.quota_left))
    }

    /// Keeps `cells`, the allowed outcomes of cells counted ahead for `subject`, as its lease
    /// from `now` (`now_ms` on the unix clock); `last` is the last outcome the store gave, for
    /// the next lease's size, and remembered if it is a refusal.
    pub fn deposit(
        &mut self,
        subject: &str,
        limits: &Limits,
        cells: Vec<LimitOutcome>,
        last: Option<&LimitOutcome>,
        now: Instant,
        now_ms: u64,
    ) {
        // `ahead` registered the subject before this call went out; only a sweep in between
        // removes it, so the owned key is rarely built.
        if !self.by_subject.contains_key(subject) {
            self.by_subject.insert(subject.to_owned(), SubjectLease::new(*limits, now));
        }
        let Some(lease) = self.by_subject.get_mut(subject) else { return };
        if lease.limits != *limits {
            return;
        }
        if let Some(last) = last {
            lease.quota_left = last.quota_remaining;
            lease.refused = refusal_lasts(limits, last, now_ms).map(|lasts| (now + lasts, *last));
        }
        if !cells.is_empty() {
            lease.cells.extend(cells);
            lease.expires = now + LEASE_LIFETIME;
        }
    }

    /// Drops expired leases and subjects quiet for a lease lifetime (so the table holds only
    /// the subjects of about the last second); the refunds of the leases dropped.
    pub fn sweep(&mut self, now: Instant) -> Vec<Refund> {
        let mut refunds = Vec::new();
        self.by_subject.retain(|subject, lease| {
            if !lease.cells.is_empty() && now >= lease.expires {
                refunds.extend(lease.drain(subject));
            }
            let refusing = lease.refused.is_some_and(|(until, _)| now < until);
            // Kept while it holds something, or has recent demand to size the next lease by.
            !lease.cells.is_empty() || refusing || now.saturating_duration_since(lease.since) < LEASE_LIFETIME
        });
        refunds
    }

    /// Cells held, all subjects together.
    pub fn cells_held(&self) -> usize {
        self.by_subject.values().map(|lease| lease.cells.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }
}

impl SubjectLease {
    fn new(limits: Limits, now: Instant) -> Self {
        Self {
            limits,
            cells: VecDeque::new(),
            expires: now,
            seen: 0,
            since: now,
            quota_left: None,
            refused: None,
        }
    }

    /// Empties the lease; the refund of its quota cells, if it has a quota.
    fn drain(&mut self, subject: &str) -> Option<Refund> {
        let cells = std::mem::take(&mut self.cells);
        let reset_ms = cells.back()?.quota_reset_ms?;
        self.limits.quota?;
        Some(Refund { subject: subject.to_owned(), cells: cells.len() as u64, reset_ms })
    }
}

/// How long a refusal the store gave at `now_ms` holds: a rate refusal until the bucket has
/// room for one request again (its reset, a full bucket, less the rest of the burst); a quota
/// refusal until its period ends. At most a lease lifetime; `None` for an admission.
fn refusal_lasts(limits: &Limits, outcome: &LimitOutcome, now_ms: u64) -> Option<Duration> {
    let until_ms = match outcome.refused_by? {
        LimitKind::Rate => {
            let rate = limits.rate?;
            let burst = rate.rate.floor().max(1.0);
            let interval_ms = rate.per_secs * 1_000.0 / rate.rate;
            // Rounded towards sooner (the reset itself is rounded up to the ms): a refusal
            // remembered a little too briefly costs a store call; too long, it would refuse a
            // request the store would admit.
            let rest_of_burst = ((burst - 1.0) * interval_ms).ceil() + 1.0;
            // A float in range (a reset within a period of the policy); `as` saturates.
            outcome.rate_reset_ms?.saturating_sub(rest_of_burst as u64)
        }
        LimitKind::Quota => outcome.quota_reset_ms?,
    };
    let lasts = Duration::from_millis(until_ms.saturating_sub(now_ms));
    (!lasts.is_zero()).then(|| lasts.min(LEASE_LIFETIME))
}

/// The most cells one lease may take: a [`LEASE_SHARE`] part of the burst, and of the quota
/// left when it is known (unknown, the quota's max). 0 for small limits: counted one by one.
fn share_cap(limits: &Limits, quota_left: Option<u64>) -> u64 {
    let rate = limits.rate.map_or(u64::MAX, |rate| {
        // The burst the store enforces: the rate rounded down, at least 1.
        let burst = rate.rate.floor().max(1.0);
        // A float in range; `as` saturates anything beyond.
        (burst as u64) / LEASE_SHARE
    });
    let quota = limits.quota.map_or(u64::MAX, |quota| quota_left.unwrap_or(quota.max) / LEASE_SHARE);
    rate.min(quota)
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
