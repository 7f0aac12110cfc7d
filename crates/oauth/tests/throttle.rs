//! Guessing client secrets and passwords (RFC 6749 §2.3.1, §4.3.2): failures are counted per
//! client, username and address, lockouts refuse even the right secret, and Argon2id runs only
//! in the bounded pool, gated per client, username and address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

// The fixture serves the grant tests too; this file uses part of it.
#[allow(dead_code)]
mod support;

use std::net::IpAddr;
use std::time::Duration;

use gatehouse_model::storage::FailurePolicy;
use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::argon2_pool::{self, Argon2Pool};
use gatehouse_oauth::throttle::{DEFAULT_POLICY, Guard, Subject, Throttled};
use support::*;

fn addr(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([203, 0, 113, last]))
}

fn policy(limit: u32) -> FailurePolicy {
    FailurePolicy { limit, ..DEFAULT_POLICY }
}

/// A pool of this test's own, to watch what runs in it.
fn own_pool(slots: usize, gate_wait: Duration) -> &'static Argon2Pool {
    Box::leak(Box::new(Argon2Pool::new(slots, gate_wait)))
}

fn client_credentials(client_id: &str, secret: &str) -> String {
    form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)])
}

fn password_grant(client_id: &str, secret: &str, username: &str, password: &str) -> String {
    form(&[
        ("grant_type", "password"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("username", username),
        ("password", password),
    ])
}

#[tokio::test]
async fn the_right_secret_after_fifty_wrong_ones_is_refused_until_the_lockout_ends() {
    let fx = Fixture::new(all_grants());
    let from = addr(1);
    for attempt in 0..50 {
        let guard = Guard::new(from);
        let e = fx
            .token_guarded(fx.api(), &client_credentials(CONFIDENTIAL, "wrong"), None, NOW, &guard)
            .await
            .unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidClient);
        // The 11th attempt on is refused unchecked: the 10th failure started the lockout.
        assert_eq!(guard.throttled().is_some(), attempt >= 10, "attempt {attempt}");
    }
    let guard = Guard::new(from);
    let right = client_credentials(CONFIDENTIAL, &fx.secret);
    let e = fx.token_guarded(fx.api(), &right, None, NOW, &guard).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidClient);
    assert!(e.error_description.contains("too many failed"), "{e:?}");
    let Some(Throttled::Locked(left)) = guard.throttled() else { panic!("{:?}", guard.throttled()) };
    assert!(left > Duration::ZERO && left <= DEFAULT_POLICY.lockout, "{left:?}");
    // The client is locked from any address, and the address for any client.
    let guard = Guard::new(addr(2));
    assert!(fx.token_guarded(fx.api(), &right, None, NOW, &guard).await.is_err());
    assert!(guard.throttled().is_some());
    let partner = client_credentials(PARTNER, &fx.partner_secret);
    let guard = Guard::new(from);
    assert!(fx.token_guarded(fx.api(), &partner, None, NOW, &guard).await.is_err());
    // Other clients from other addresses are unaffected.
    let guard = Guard::new(addr(2));
    fx.token_guarded(fx.api(), &partner, None, NOW, &guard).await.expect("another client still gets tokens");
    assert_eq!(guard.throttled(), None);
}

#[tokio::test]
async fn password_guesses_lock_the_username_not_the_client() {
    let fx = Fixture::new(all_grants());
    for n in 0..3u8 {
        let guard = Guard::with(policy(3), addr(10 + n), argon2_pool::global());
        let body = password_grant(CONFIDENTIAL, &fx.secret, USERNAME, "guess");
        let e = fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidGrant);
    }
    let guard = Guard::with(policy(3), addr(20), argon2_pool::global());
    let right = password_grant(CONFIDENTIAL, &fx.secret, USERNAME, PASSWORD);
    let e = fx.token_guarded(fx.api(), &right, None, NOW, &guard).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidGrant, "a username lockout answers invalid_grant");
    assert!(matches!(guard.throttled(), Some(Throttled::Locked(_))));
    // The same client, for another user, is fine: its own authentication never failed.
    let guard = Guard::with(policy(3), addr(20), argon2_pool::global());
    let other = password_grant(CONFIDENTIAL, &fx.secret, PLAIN_USERNAME, PASSWORD);
    fx.token_guarded(fx.api(), &other, None, NOW, &guard).await.expect("other users are unaffected");
}

#[tokio::test]
async fn failures_from_one_address_lock_it_out_for_every_client() {
    let fx = Fixture::new(all_grants());
    for client in ["nobody", "no-one", "nemo"] {
        let guard = Guard::with(policy(3), addr(1), argon2_pool::global());
        let e = fx.token_guarded(fx.api(), &client_credentials(client, "x"), None, NOW, &guard).await;
        assert_eq!(e.unwrap_err().error, ErrorCode::InvalidClient);
    }
    let guard = Guard::with(policy(3), addr(1), argon2_pool::global());
    let right = client_credentials(CONFIDENTIAL, &fx.secret);
    assert!(fx.token_guarded(fx.api(), &right, None, NOW, &guard).await.is_err());
    assert!(matches!(guard.throttled(), Some(Throttled::Locked(_))));
    let guard = Guard::with(policy(3), addr(2), argon2_pool::global());
    fx.token_guarded(fx.api(), &right, None, NOW, &guard).await.expect("another address is unaffected");
}

/// Concurrent guesses queue at the client's gate; once the lockout starts, those still queued
/// are refused without a verification: the count of guesses checked is exactly the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_guesses_at_a_chosen_secret_stop_at_the_lockout() {
    let fx = std::sync::Arc::new(Fixture::new(all_grants()));
    let pool = own_pool(4, Duration::from_secs(120));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let fx = fx.clone();
        tasks.spawn(async move {
            let guard = Guard::with(policy(3), addr(1), pool);
            let body = client_credentials(CHOSEN, "wrong");
            let e = fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.unwrap_err();
            assert_eq!(e.error, ErrorCode::InvalidClient);
            guard.throttled()
        });
    }
    let mut checked = 0;
    while let Some(throttled) = tasks.join_next().await {
        if throttled.unwrap().is_none() {
            checked += 1;
        }
    }
    assert_eq!(checked, 3, "only the guesses before the lockout were verified");
    // One client from one address: one verification at a time, so one buffer.
    assert_eq!(pool.buffers_allocated(), 1);
}

#[tokio::test]
async fn unknown_clients_and_users_cost_a_verification_in_the_bounded_pool() {
    let fx = Fixture::new(all_grants());
    let pool = own_pool(2, Duration::from_secs(10));
    let guard = Guard::with(policy(0), addr(1), pool);
    let e = fx.token_guarded(fx.api(), &client_credentials("nobody", "x"), None, NOW, &guard).await;
    assert_eq!(e.unwrap_err().error, ErrorCode::InvalidClient);
    assert_eq!(pool.buffers_allocated(), 1, "an unknown client pays what a chosen secret costs");

    // The password grant verifies in the same bounded pool (the client's secret is a generated
    // one, so the only Argon2 work here is the password's).
    let pool = own_pool(2, Duration::from_secs(10));
    let guard = Guard::with(policy(0), addr(1), pool);
    let body = password_grant(CONFIDENTIAL, &fx.secret, USERNAME, PASSWORD);
    fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.expect("the right password");
    assert_eq!(pool.buffers_allocated(), 1, "the password grant runs in the pool");
    let pool = own_pool(2, Duration::from_secs(10));
    let guard = Guard::with(policy(0), addr(1), pool);
    let body = password_grant(CONFIDENTIAL, &fx.secret, "mallory", PASSWORD);
    assert!(fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.is_err());
    assert_eq!(pool.buffers_allocated(), 1, "an unknown user pays a verification too");
}

#[tokio::test]
async fn a_caller_kept_waiting_at_its_gate_is_told_to_retry() {
    let fx = Fixture::new(all_grants());
    let pool = own_pool(2, Duration::from_millis(50));
    let client = Subject::Client { api_id: API_ID, client_id: CHOSEN };
    let busy = pool.enter(&[client.store_key()]).await.unwrap();
    let guard = Guard::with(policy(10), addr(1), pool);
    let body = client_credentials(CHOSEN, CHOSEN_SECRET);
    let e = fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::TemporarilyUnavailable);
    assert_eq!(guard.throttled(), Some(Throttled::Busy));
    drop(busy);
    let guard = Guard::with(policy(10), addr(1), pool);
    fx.token_guarded(fx.api(), &body, None, NOW, &guard).await.expect("through once the gate is free");
}

/// A Basic secret that form-decoding changes is verified in both forms, but that is still one
/// attempt: one failure counted, one slot held, so the lockout comes after as many guesses.
#[tokio::test]
async fn a_secret_tried_in_two_forms_counts_as_one_guess() {
    let fx = Fixture::new(all_grants());
    let from = addr(7);
    for attempt in 0..11 {
        let guard = Guard::new(from);
        let auth = basic_as_sent(CHOSEN, "wr+ng%21");
        let e = fx
            .token_guarded(fx.api(), "grant_type=client_credentials", Some(&auth), NOW, &guard)
            .await
            .unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidClient);
        assert_eq!(guard.throttled().is_some(), attempt >= 10, "attempt {attempt}");
    }
}

/// HTTP Basic as curl `-u` sends it: the secret not form-encoded.
fn basic_as_sent(client_id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}")))
}
