use gatehouse_model::storage::{LimitKind, Quota, RateLimit};

use super::*;

fn rate(rate: f64) -> Limits {
    Limits { rate: Some(RateLimit { rate, per_secs: 1.0 }), quota: None }
}

fn with_quota(rate: f64, max: u64) -> Limits {
    Limits { rate: Some(RateLimit { rate, per_secs: 1.0 }), quota: Some(Quota { max, period_secs: 3_600 }) }
}

fn cell(remaining: u64) -> LimitOutcome {
    LimitOutcome {
        refused_by: None,
        rate_remaining: Some(remaining),
        rate_reset_ms: Some(1),
        quota_remaining: Some(remaining),
        quota_reset_ms: Some(9_000),
    }
}

/// `n` requests of `subject` seen (each missing the lease), then the store call's `ahead`.
fn demand(leases: &mut Leases, subject: &str, limits: &Limits, n: u64, at: Instant) -> u64 {
    for _ in 0..n {
        assert!(leases.take(subject, limits, at).is_err());
    }
    leases.ahead(subject, limits, at)
}

#[test]
fn small_limits_never_lease() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    // A burst of 15 is below one share.
    let limits = rate(15.0);
    leases.ahead("s", &limits, t0);
    assert_eq!(demand(&mut leases, "s", &limits, 1_000, t0 + Duration::from_millis(10)), 0);
    assert_eq!(share_cap(&rate(10.0), None), 0);
    assert_eq!(share_cap(&with_quota(1_000.0, 15), None), 0, "a small quota caps it too");
}

#[test]
fn a_lease_follows_demand_within_its_share() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    let limits = rate(10_000.0);
    assert_eq!(leases.ahead("s", &limits, t0), 0, "no demand known at first");
    // 50 requests in 500 ms: 10 per horizon of 100 ms.
    assert_eq!(demand(&mut leases, "s", &limits, 50, t0 + Duration::from_millis(500)), 10);
    // 5,000 in 10 ms: counted over at least a horizon, then capped at 10,000 / 16.
    assert_eq!(demand(&mut leases, "s", &limits, 5_000, t0 + Duration::from_millis(510)), 625);
    // The quota left caps it once known.
    let limits = with_quota(10_000.0, 1_000_000);
    leases.ahead("q", &limits, t0);
    leases.deposit("q", &limits, Vec::new(), Some(&cell(160)), t0, 0);
    assert_eq!(demand(&mut leases, "q", &limits, 500, t0 + Duration::from_millis(10)), 10);
}

#[test]
fn cells_are_spent_in_order_then_the_lease_expires_and_refunds() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    let limits = with_quota(1_000.0, 1_000);
    leases.ahead("s", &limits, t0);
    leases.deposit("s", &limits, vec![cell(9), cell(8), cell(7)], None, t0, 0);
    assert_eq!(leases.cells_held(), 3);
    assert_eq!(leases.take("s", &limits, t0).unwrap().rate_remaining, Some(9));
    assert_eq!(leases.take("s", &limits, t0).unwrap().rate_remaining, Some(8));
    // Expired: the last cell is not spent but given back.
    let late = t0 + LEASE_LIFETIME;
    let refund = leases.take("s", &limits, late).unwrap_err();
    assert_eq!(refund, Some(Refund { subject: "s".into(), cells: 1, reset_ms: 9_000 }));
    assert_eq!(leases.cells_held(), 0);
}

#[test]
fn a_policy_edit_voids_the_lease() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    let old = with_quota(1_000.0, 1_000);
    leases.ahead("s", &old, t0);
    leases.deposit("s", &old, vec![cell(9), cell(8)], None, t0, 0);
    let new = with_quota(1_000.0, 10);
    let refund = leases.take("s", &new, t0).unwrap_err();
    assert_eq!(refund.map(|r| r.cells), Some(2));
    assert!(leases.take("s", &old, t0).is_err(), "gone for the old limits too");
    // Cells counted under other limits than the lease's are not kept.
    leases.ahead("s", &new, t0);
    leases.deposit("s", &old, vec![cell(1)], None, t0, 0);
    assert_eq!(leases.cells_held(), 0);
}

#[test]
fn the_sweep_refunds_expired_leases_and_forgets_quiet_subjects() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    let limits = with_quota(1_000.0, 1_000);
    let rate_only = rate(1_000.0);
    leases.ahead("q", &limits, t0);
    leases.deposit("q", &limits, vec![cell(5), cell(4)], None, t0, 0);
    leases.ahead("r", &rate_only, t0);
    leases.deposit("r", &rate_only, vec![cell(5)], None, t0, 0);
    assert!(leases.sweep(t0 + Duration::from_millis(10)).is_empty(), "nothing expired yet");
    let refunds = leases.sweep(t0 + LEASE_LIFETIME);
    // Rate cells come back as the bucket refills: only the quota's are refunded.
    assert_eq!(refunds, [Refund { subject: "q".into(), cells: 2, reset_ms: 9_000 }]);
    assert_eq!(leases.cells_held(), 0);
    assert!(leases.is_empty(), "subjects without recent demand are forgotten");
}

#[test]
fn a_refusal_is_remembered_until_a_cell_can_exist_and_no_longer() {
    let mut leases = Leases::default();
    let t0 = Instant::now();
    let now_ms = 1_700_000_000_000;
    // 10 per second: a cell every 100 ms, a burst of 10; refused with a full second of backlog.
    let limits = rate(10.0);
    let refusal = LimitOutcome {
        refused_by: Some(LimitKind::Rate),
        rate_remaining: Some(0),
        rate_reset_ms: Some(now_ms + 1_000),
        quota_remaining: None,
        quota_reset_ms: None,
    };
    leases.ahead("s", &limits, t0);
    leases.deposit("s", &limits, Vec::new(), Some(&refusal), t0, now_ms);
    // Full at +1,000 ms, so one cell at +100 ms; remembered a ms less than that.
    assert_eq!(leases.take("s", &limits, t0 + Duration::from_millis(98)), Ok(refusal));
    assert_eq!(leases.take("s", &limits, t0 + Duration::from_millis(99)), Err(None));
    // Other limits than the refusal's: not answered from it.
    leases.deposit("s", &limits, Vec::new(), Some(&refusal), t0, now_ms);
    assert!(leases.take("s", &rate(20.0), t0).is_err());
    // A quota refusal: a lease lifetime at most, though its period runs for an hour.
    let limits = with_quota(1_000.0, 1_000);
    let spent = LimitOutcome {
        refused_by: Some(LimitKind::Quota),
        quota_reset_ms: Some(now_ms + 3_600_000),
        ..refusal
    };
    leases.ahead("q", &limits, t0);
    leases.deposit("q", &limits, Vec::new(), Some(&spent), t0, now_ms);
    assert_eq!(leases.take("q", &limits, t0 + LEASE_LIFETIME - Duration::from_millis(1)), Ok(spent));
    assert_eq!(leases.take("q", &limits, t0 + LEASE_LIFETIME), Err(None));
    // An admission clears it.
    leases.deposit("q", &limits, Vec::new(), Some(&spent), t0, now_ms);
    leases.deposit("q", &limits, Vec::new(), Some(&cell(3)), t0, now_ms);
    assert_eq!(leases.take("q", &limits, t0), Err(None));
}
