//! Propagation to a fleet: how long after an admin call every gateway behaves accordingly.
//!
//! Each trial starts the clock, sends the admin REST call, and at the same moment starts one
//! poller per gateway, each sending requests back to back on its own keep-alive connection
//! until the gateway's answer shows the change (another upstream answers; the token is refused).
//! A gateway's time is the end of the first poll showing it, so the resolution is one poll's
//! round trip (reported), and the trial's time is that of the slowest gateway.

use anyhow::Context as _;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use http::{Method, StatusCode};
use serde_json::json;

use crate::RunArgs;
use crate::client::Conn;
use crate::stack::{CLIENT_ID, Gateway, PROP_API, PROP_PATH, SECURE_PATH, Stack};
use crate::stats::{Report, ms, percentile};

/// A trial that has not propagated by then is a failure, not a slow sample.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Quiet time between trials, so one trial's tail does not overlap the next.
const BETWEEN_TRIALS: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Samples {
    /// Per trial: until every gateway showed the change, µs.
    all: Vec<u64>,
    /// Per trial and gateway, µs.
    each: Vec<u64>,
    /// The admin call's own round trip, µs.
    admin: Vec<u64>,
    /// Per trial: from the admin call's answer (the change committed) until every gateway
    /// showed it, µs; 0 when they all did before the answer arrived.
    after_commit: Vec<u64>,
    polls: u64,
    poll_time: Duration,
}

pub async fn run(stack: &Stack, args: &RunArgs, report: &mut Report) -> anyhow::Result<()> {
    report.section(&format!("Propagation to {} gateways", args.gateways));
    let mut gateways: Vec<Gateway> = Vec::with_capacity(args.gateways);
    for i in 0..args.gateways {
        gateways.push(stack.start_gateway(&format!("gw-prop-{i}"), &stack.redis, true).await?);
    }
    let mut conns: Vec<Conn> = gateways.iter().map(|g| Conn::new(g.addr)).collect();

    let config = config_trials(stack, args.trials, &mut conns).await?;
    let revocation = revocation_trials(stack, args.trials, &mut conns).await?;

    report.line(&format!(
        "{} gateways with `--session-cache`, one control plane (file store), one Redis; {} trials each. \
         Time from sending the admin REST call until every gateway shows the change.",
        args.gateways, args.trials
    ));
    report.line("");
    report.line("| change | trials | p50 ms (all gateways) | p99 ms (all gateways) | max ms | p50 ms (per gateway) | admin call p50 / p99 ms | after the call returned p50 / p99 ms | poll resolution ms |");
    report.line("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("API upstream update (PUT /api/apis/{id})", &config),
        ("token revocation (POST /api/apis/oauth/{client}/revoke)", &revocation),
    ] {
        let mut all = s.all.clone();
        all.sort_unstable();
        let mut each = s.each.clone();
        each.sort_unstable();
        let mut admin = s.admin.clone();
        admin.sort_unstable();
        let mut after = s.after_commit.clone();
        after.sort_unstable();
        let resolution = s.poll_time.as_micros() as f64 / s.polls.max(1) as f64;
        report.line(&format!(
            "| {name} | {} | {} | **{}** | {} | {} | {} / {} | {} / {} | {} |",
            all.len(),
            ms(percentile(&all, 50.0) as f64),
            ms(percentile(&all, 99.0) as f64),
            ms(all.last().copied().unwrap_or(0) as f64),
            ms(percentile(&each, 50.0) as f64),
            ms(percentile(&admin, 50.0) as f64),
            ms(percentile(&admin, 99.0) as f64),
            ms(percentile(&after, 50.0) as f64),
            ms(percentile(&after, 99.0) as f64),
            ms(resolution),
        ));
    }
    report.line("");
    report.chart("propagation", "propagation CDFs", || {
        let series = [("API update", &config), ("token revocation", &revocation)]
            .map(|(name, s)| (name.to_owned(), s.all.iter().map(|us| *us as f64 / 1e3).collect()));
        let title = format!("Propagation to all {} gateways", args.gateways);
        crate::charts::cdf(&title, "ms from the admin call until every gateway shows it", &series)
    })?;
    for (name, s) in [("config", &config), ("revocation", &revocation)] {
        let mut all = s.all.clone();
        all.sort_unstable();
        let p99 = percentile(&all, 99.0) as f64;
        report.line(&format!(
            "- {name}: p99 {} ms (target ≤ 50 ms: {})",
            ms(p99),
            if p99 <= 50_000.0 { "met" } else { "NOT met" }
        ));
    }
    report.line("");
    Ok(())
}

/// Switches the keyless API's upstream between `a` and `b`; a gateway has the change when the
/// other upstream answers.
async fn config_trials(stack: &Stack, trials: usize, conns: &mut [Conn]) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    let path = format!("{PROP_PATH}x");
    for trial in 0..trials {
        let to = if trial % 2 == 0 { "b" } else { "a" };
        let expect = format!("\"upstream\":\"{to}\"");
        let body = Stack::api_body(PROP_API, PROP_PATH, stack.upstream(to)?, false);
        let started = Instant::now();
        let admin = async {
            let result = stack.admin(Method::PUT, &format!("/api/apis/{PROP_API}"), body).await;
            (result, started.elapsed())
        };
        let pollers = join_all(conns.iter_mut().map(|conn| {
            poll_until(conn, &path, &[], started, |a| {
                a.status == StatusCode::OK && a.text().contains(&expect)
            })
        }));
        let ((admin_result, admin_time), polled) = tokio::join!(admin, pollers);
        admin_result?;
        record(&mut samples, polled, admin_time, trial, "config")?;
        tokio::time::sleep(BETWEEN_TRIALS).await;
    }
    Ok(samples)
}

/// Revokes a token that every gateway has just served (so each holds it in its session cache);
/// a gateway has the change when it refuses the token.
async fn revocation_trials(stack: &Stack, trials: usize, conns: &mut [Conn]) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    let path = format!("{SECURE_PATH}x");
    for trial in 0..trials {
        let token = stack.token(&mut conns[0]).await?;
        let bearer = format!("Bearer {token}");
        let headers = [("authorization", bearer.as_str())];
        for conn in conns.iter_mut() {
            let answer = conn.get(&path, &headers).await?;
            if answer.status != StatusCode::OK {
                anyhow::bail!("revocation trial {trial}: fresh token refused: {}", answer.status);
            }
        }
        let started = Instant::now();
        let admin = async {
            let result = stack
                .admin(Method::POST, &format!("/api/apis/oauth/{CLIENT_ID}/revoke"), json!({"token": token}))
                .await;
            (result, started.elapsed())
        };
        let pollers = join_all(conns.iter_mut().map(|conn| {
            poll_until(conn, &path, &headers, started, |a| a.status == StatusCode::UNAUTHORIZED)
        }));
        let ((admin_result, admin_time), polled) = tokio::join!(admin, pollers);
        admin_result?;
        record(&mut samples, polled, admin_time, trial, "revocation")?;
        tokio::time::sleep(BETWEEN_TRIALS).await;
    }
    Ok(samples)
}

/// Polls until `done` holds: (time since `started`, polls, time spent polling).
async fn poll_until(
    conn: &mut Conn,
    path: &str,
    headers: &[(&str, &str)],
    started: Instant,
    done: impl Fn(&crate::client::Answer) -> bool,
) -> anyhow::Result<(Duration, u64, Duration)> {
    let mut polls = 0;
    let polling = Instant::now();
    loop {
        let answer = conn.get(path, headers).await?;
        polls += 1;
        if done(&answer) {
            return Ok((started.elapsed(), polls, polling.elapsed()));
        }
        if started.elapsed() > TRIAL_TIMEOUT {
            anyhow::bail!("no change seen on {path} after {TRIAL_TIMEOUT:?}: {}", answer.status);
        }
    }
}

fn record(
    samples: &mut Samples,
    polled: Vec<anyhow::Result<(Duration, u64, Duration)>>,
    admin_time: Duration,
    trial: usize,
    what: &str,
) -> anyhow::Result<()> {
    let mut slowest = Duration::ZERO;
    for result in polled {
        let (elapsed, polls, poll_time) = result.with_context(|| format!("{what} trial {trial}"))?;
        slowest = slowest.max(elapsed);
        samples.each.push(micros(elapsed));
        samples.polls += polls;
        samples.poll_time += poll_time;
    }
    samples.all.push(micros(slowest));
    samples.admin.push(micros(admin_time));
    samples.after_commit.push(micros(slowest.saturating_sub(admin_time)));
    Ok(())
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
