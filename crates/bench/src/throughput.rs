//! Proxy throughput (closed loop, wrk) and added latency at a fixed rate (open loop), for the
//! same upstream through every target, in interleaved rounds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::stack::{OPEN_PATH, SECURE_PATH, Stack};
use crate::stats::{Report, median, ms};
use crate::{RunArgs, openloop, procs, wrk};

/// Connections of the fixed-rate generator: enough that one slow answer does not hold up the
/// requests due after it on other connections.
const OPEN_LOOP_CONNECTIONS: usize = 16;

struct Target {
    name: &'static str,
    /// The process that serves this target (nginx: its master, whose workers count too), for
    /// CPU time per request: unlike requests/s, it hardly moves when other work shares the cores.
    pid: u32,
    addr: SocketAddr,
    path: String,
    headers: Vec<(&'static str, String)>,
    /// Bearer tokens sent in turn (see `wrk::Load::tokens`); closed loop only.
    tokens: Option<PathBuf>,
}

const DIRECT: &str = "direct";
const NGINX: &str = "nginx";
const KEYLESS: &str = "gatehouse keyless";
const FULL: &str = "gatehouse full auth";
const FULL_NOCACHE: &str = "gatehouse full auth, no session cache";
const FULL_NOLEASE: &str = "gatehouse full auth, no limit leases";
const FULL_MANY: &str = "gatehouse full auth, distinct tokens";
const BASE_KEYLESS: &str = "baseline keyless";
const BASE_FULL: &str = "baseline full auth";

/// The targets; with `many_tokens` (a file of tokens), also full auth sending them in turn.
async fn targets(stack: &Stack, many_tokens: Option<&Path>) -> anyhow::Result<Vec<Target>> {
    let mut conn = crate::client::Conn::new(stack.gateway.addr);
    let token = stack.token(&mut conn).await?;
    let bearer = vec![("Authorization", format!("Bearer {token}"))];
    let mut targets = vec![
        Target {
            name: DIRECT,
            pid: stack.upstream_pid(),
            addr: stack.upstream("a")?,
            path: "/hello".into(),
            headers: vec![],
            tokens: None,
        },
        Target {
            name: NGINX,
            pid: stack.nginx.pid(),
            addr: stack.nginx_addr,
            path: "/hello".into(),
            headers: vec![],
            tokens: None,
        },
        Target {
            name: KEYLESS,
            pid: stack.gateway.proc.pid(),
            addr: stack.gateway.addr,
            path: format!("{OPEN_PATH}hello"),
            headers: vec![],
            tokens: None,
        },
        Target {
            name: FULL,
            pid: stack.gateway.proc.pid(),
            addr: stack.gateway.addr,
            path: format!("{SECURE_PATH}hello"),
            headers: bearer.clone(),
            tokens: None,
        },
        Target {
            name: FULL_NOCACHE,
            pid: stack.gateway_nocache.proc.pid(),
            addr: stack.gateway_nocache.addr,
            path: format!("{SECURE_PATH}hello"),
            headers: bearer.clone(),
            tokens: None,
        },
    ];
    targets.push(Target {
        name: FULL_NOLEASE,
        pid: stack.gateway_nolease.proc.pid(),
        addr: stack.gateway_nolease.addr,
        path: format!("{SECURE_PATH}hello"),
        headers: bearer.clone(),
        tokens: None,
    });
    if let Some(tokens) = many_tokens {
        targets.push(Target {
            name: FULL_MANY,
            pid: stack.gateway.proc.pid(),
            addr: stack.gateway.addr,
            path: format!("{SECURE_PATH}hello"),
            headers: vec![],
            tokens: Some(tokens.to_owned()),
        });
    }
    if let Some(baseline) = &stack.baseline {
        targets.push(Target {
            name: BASE_KEYLESS,
            pid: baseline.proc.pid(),
            addr: baseline.addr,
            path: format!("{OPEN_PATH}hello"),
            headers: vec![],
            tokens: None,
        });
        targets.push(Target {
            name: BASE_FULL,
            pid: baseline.proc.pid(),
            addr: baseline.addr,
            path: format!("{SECURE_PATH}hello"),
            headers: bearer.clone(),
            tokens: None,
        });
    }
    Ok(targets)
}

/// Whether a target runs (the baseline ones only with `--baseline`).
fn has(targets: &[Target], name: &str) -> bool {
    targets.iter().any(|t| t.name == name)
}

/// Each round runs every target once, starting one further along the list than the round
/// before, so no target always runs first (or right after the heaviest one).
fn rotated(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (i + round) % n)
}

fn index(targets: &[Target], name: &str) -> usize {
    targets.iter().position(|t| t.name == name).unwrap_or(0)
}

pub async fn closed_loop(stack: &Stack, args: &RunArgs, report: &mut Report) -> anyhow::Result<()> {
    report.section("Proxy throughput (closed loop)");
    let many_tokens = stack.dir.path().join("distinct-tokens.txt");
    mint_tokens(stack, args.distinct_tokens, &many_tokens).await?;
    let targets = targets(stack, Some(&many_tokens)).await?;
    fn load(t: &Target) -> wrk::Load<'_> {
        wrk::Load {
            addr: t.addr,
            path: &t.path,
            method: "GET",
            headers: t.headers.iter().map(|(k, v)| (*k, v.clone())).collect(),
            body: None,
            tokens: t.tokens.as_deref(),
        }
    }
    // Warm-up: connection pools, caches, the allocator's arenas.
    for t in &targets {
        wrk::run(&load(t), args.threads, args.connections, 1, stack.dir.path())?;
    }
    let mut results: Vec<Vec<wrk::Outcome>> = vec![Vec::new(); targets.len()];
    // CPU µs per request of the serving process (gateway, nginx master + workers, upstream).
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for round in 0..args.rounds {
        for i in rotated(targets.len(), round) {
            let ticks_before = procs::cpu_ticks(targets[i].pid);
            let outcome = wrk::run(
                &load(&targets[i]),
                args.threads,
                args.connections,
                args.duration,
                stack.dir.path(),
            )?;
            eprintln!(
                "  round {round} {}: {:.0} rps, p99 {} ms",
                targets[i].name,
                outcome.rps,
                ms(outcome.p99)
            );
            let ticks = procs::cpu_ticks(targets[i].pid).saturating_sub(ticks_before);
            // Clock ticks are 10 ms: a 5 s run of thousands of requests per second keeps the
            // rounding error under a few per cent.
            cpu[i].push(ticks as f64 * 10_000.0 / outcome.requests.max(1) as f64);
            results[i].push(outcome);
        }
    }
    report.line(
        "| target | requests/s | p50 ms | p99 ms | p99.9 ms | errors | CPU µs/request (serving process) | requests/s per round |",
    );
    report.line("|---|---:|---:|---:|---:|---:|---:|---|");
    for ((t, outcomes), cpu) in targets.iter().zip(&results).zip(&cpu) {
        let pick = |f: fn(&wrk::Outcome) -> f64| median(&outcomes.iter().map(f).collect::<Vec<_>>());
        let per_round: Vec<String> = outcomes.iter().map(|o| format!("{:.0}", o.rps)).collect();
        report.line(&format!(
            "| {} | {:.0} | {} | {} | {} | {} | {:.1} | {} |",
            t.name,
            pick(|o| o.rps),
            ms(pick(|o| o.p50)),
            ms(pick(|o| o.p99)),
            ms(pick(|o| o.p999)),
            outcomes.iter().map(|o| o.errors).sum::<u64>(),
            median(cpu),
            per_round.join(", ")
        ));
    }
    report.line("");
    let rows = |values: &[Vec<f64>]| -> Vec<(String, Vec<f64>)> {
        targets.iter().zip(values).map(|(t, v)| (t.name.to_owned(), vec![median(v)])).collect()
    };
    let rps: Vec<Vec<f64>> = results.iter().map(|o| o.iter().map(|o| o.rps).collect()).collect();
    report.chart("throughput", "requests/s by target", || {
        crate::charts::bars("Closed loop: requests/s (median of rounds)", "requests/s", &[], &rows(&rps))
    })?;
    report.chart("cpu-per-request", "CPU µs per request by target", || {
        crate::charts::bars("CPU per request of the serving process", "µs per request", &[], &rows(&cpu))
    })?;
    report.line("Ratios of requests/s (median of the per-round ratios):");
    report.line("");
    let ratio = |a: &str, b: &str| {
        let (a, b) = (index(&targets, a), index(&targets, b));
        let per_round: Vec<f64> =
            results[a].iter().zip(&results[b]).map(|(x, y)| x.rps / y.rps.max(1e-9)).collect();
        median(&per_round)
    };
    for (a, b, target) in [
        (FULL, NGINX, Some("≥ 1.0")),
        (FULL_MANY, NGINX, Some("≥ 0.9")),
        (FULL, DIRECT, Some("≥ 0.5")),
        (KEYLESS, NGINX, Some("≥ 1.1")),
        (KEYLESS, DIRECT, None),
        (FULL_NOLEASE, NGINX, None),
        (FULL, FULL_NOLEASE, None),
        (FULL_NOCACHE, NGINX, None),
        (FULL_NOCACHE, DIRECT, None),
        (NGINX, DIRECT, None),
        (KEYLESS, BASE_KEYLESS, None),
        (FULL, BASE_FULL, None),
        (BASE_FULL, NGINX, None),
    ] {
        if !has(&targets, a) || !has(&targets, b) {
            continue;
        }
        let r = ratio(a, b);
        let verdict = match target {
            Some(t) => {
                let floor: f64 = t.trim_start_matches("≥ ").parse().unwrap_or(0.0);
                format!(" (target {t}: {})", if r >= floor { "met" } else { "NOT met" })
            }
            None => String::new(),
        };
        let (ia, ib) = (index(&targets, a), index(&targets, b));
        let cpu_ratio =
            median(&cpu[ia].iter().zip(&cpu[ib]).map(|(x, y)| x / y.max(1e-9)).collect::<Vec<_>>());
        let cpu_target = match (a, b) {
            (KEYLESS, NGINX) => Some(0.9),
            (FULL, NGINX) => Some(1.0),
            _ => None,
        };
        let cpu_verdict = cpu_target.map_or(String::new(), |t| {
            format!(" (target ≤ {t:.1}: {})", if cpu_ratio <= t { "met" } else { "NOT met" })
        });
        report
            .line(&format!("- {a} / {b}: **{r:.2}**{verdict}; CPU per request {cpu_ratio:.2}×{cpu_verdict}"));
    }
    report.line("");
    Ok(())
}

pub async fn fixed_rate(stack: &Stack, args: &RunArgs, report: &mut Report) -> anyhow::Result<()> {
    report.section(&format!("Added latency at a fixed rate ({} rps, open loop)", args.rate));
    let targets = targets(stack, None).await?;
    let duration = Duration::from_secs(args.rate_duration);
    let mut results: Vec<Vec<openloop::Outcome>> = vec![Vec::new(); targets.len()];
    for round in 0..args.rounds {
        for i in rotated(targets.len(), round) {
            let t = &targets[i];
            let outcome =
                openloop::run(t.addr, &t.path, &t.headers, args.rate, duration, OPEN_LOOP_CONNECTIONS)
                    .await?;
            eprintln!("  round {round} {}: p50 {} ms, p99 {} ms", t.name, ms(outcome.p50), ms(outcome.p99));
            results[i].push(outcome);
        }
    }
    report.line("| target | achieved rps | p50 ms | p99 ms | p99.9 ms | errors |");
    report.line("|---|---:|---:|---:|---:|---:|");
    for (t, outcomes) in targets.iter().zip(&results) {
        let pick = |f: fn(&openloop::Outcome) -> f64| median(&outcomes.iter().map(f).collect::<Vec<_>>());
        report.line(&format!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            t.name,
            pick(|o| o.achieved_rps),
            ms(pick(|o| o.p50)),
            ms(pick(|o| o.p99)),
            ms(pick(|o| o.p999)),
            outcomes.iter().map(|o| o.errors).sum::<usize>(),
        ));
    }
    report.line("");
    let latency: Vec<(String, Vec<f64>)> = targets
        .iter()
        .zip(&results)
        .map(|(t, outcomes)| {
            let pick = |f: fn(&openloop::Outcome) -> f64| median(&outcomes.iter().map(f).collect::<Vec<_>>());
            (t.name.to_owned(), vec![pick(|o| o.p50) / 1e3, pick(|o| o.p99) / 1e3, pick(|o| o.p999) / 1e3])
        })
        .collect();
    report.chart("latency", "latency percentiles at the fixed rate", || {
        let title = format!("Latency at {} rps (median of rounds)", args.rate);
        crate::charts::bars(&title, "ms", &["p50", "p99", "p99.9"], &latency)
    })?;
    report.line("Added latency (median over rounds of the per-round difference):");
    report.line("");
    let added = |a: &str, b: &str, f: fn(&openloop::Outcome) -> f64| {
        let (a, b) = (index(&targets, a), index(&targets, b));
        let per_round: Vec<f64> = results[a].iter().zip(&results[b]).map(|(x, y)| f(x) - f(y)).collect();
        median(&per_round)
    };
    for (a, b) in [
        (FULL, DIRECT),
        (FULL, NGINX),
        (KEYLESS, DIRECT),
        (FULL_NOCACHE, DIRECT),
        (NGINX, DIRECT),
        (BASE_FULL, DIRECT),
    ] {
        if !has(&targets, a) || !has(&targets, b) {
            continue;
        }
        let p99 = added(a, b, |o| o.p99);
        let p50 = added(a, b, |o| o.p50);
        let verdict = if (a, b) == (FULL, DIRECT) {
            format!(" (target ≤ 0.3 ms: {})", if p99 <= 300.0 { "met" } else { "NOT met" })
        } else {
            String::new()
        };
        report.line(&format!("- {a} over {b}: p50 +{} ms, p99 **+{} ms**{verdict}", ms(p50), ms(p99)));
    }
    report.line("");
    Ok(())
}

/// Mints `count` client_credentials tokens through the gateway into `path`, one per line.
async fn mint_tokens(stack: &Stack, count: usize, path: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut conn = crate::client::Conn::new(stack.gateway.addr);
    let mut tokens = String::with_capacity(count * 48);
    for _ in 0..count {
        tokens.push_str(&stack.token(&mut conn).await?);
        tokens.push('\n');
    }
    std::fs::write(path, tokens).context("writing the token file")?;
    eprintln!("  minted {count} tokens in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
