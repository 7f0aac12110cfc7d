//! Gateway memory: resident set of a fresh gateway once configured, then after it has served
//! (and cached) many distinct live tokens.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use http::StatusCode;

use crate::RunArgs;
use crate::client::Conn;
use crate::procs::memory_kb;
use crate::stack::{SECURE_PATH, Stack};
use crate::stats::Report;

/// Connections used to issue and to use the tokens.
const WORKERS: usize = 64;

pub async fn run(stack: &Stack, args: &RunArgs, report: &mut Report) -> anyhow::Result<()> {
    report.section("Gateway memory");
    let gateway = stack.start_gateway("gw-mem", &stack.redis, true).await?;
    // Let start-up allocations (config sync, connection pools) settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, idle_hwm) = memory_kb(gateway.proc.pid())?;

    // Issued through another gateway, so gw-mem's figures hold only what using tokens costs.
    let started = Instant::now();
    let per_worker = args.memory_tokens.div_ceil(WORKERS);
    let issued = join_all((0..WORKERS).map(|w| async move {
        let mut conn = Conn::new(stack.gateway.addr);
        let n = per_worker.min(args.memory_tokens.saturating_sub(w * per_worker));
        let mut tokens = Vec::with_capacity(n);
        for _ in 0..n {
            tokens.push(stack.token(&mut conn).await?);
        }
        Ok::<_, anyhow::Error>(tokens)
    }))
    .await;
    let mut tokens = Vec::with_capacity(args.memory_tokens);
    for batch in issued {
        tokens.extend(batch?);
    }
    let issue_secs = started.elapsed().as_secs_f64();
    eprintln!("  issued {} tokens in {issue_secs:.1} s", tokens.len());

    let path = format!("{SECURE_PATH}x");
    let chunk = tokens.len().div_ceil(WORKERS).max(1);
    let used = join_all(tokens.chunks(chunk).map(|batch| {
        let path = &path;
        async move {
            let mut conn = Conn::new(gateway.addr);
            let mut refused = 0usize;
            for token in batch {
                let bearer = format!("Bearer {token}");
                let answer = conn.get(path, &[("authorization", bearer.as_str())]).await?;
                if answer.status != StatusCode::OK {
                    refused += 1;
                }
            }
            Ok::<_, anyhow::Error>(refused)
        }
    }))
    .await;
    let mut refused = 0;
    for r in used {
        refused += r?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (used_rss, used_hwm) = memory_kb(gateway.proc.pid())?;

    let mb = |kb: u64| kb as f64 / 1024.0;
    report.line(&format!(
        "A fresh gateway with `--session-cache` (up to 100k sessions), then {} distinct live tokens \
         (issued through another gateway in {issue_secs:.1} s) each used once through it ({refused} refused).",
        tokens.len()
    ));
    report.line("");
    report.line("| state | VmRSS MB | VmHWM MB | target |");
    report.line("|---|---:|---:|---|");
    report.line(&format!(
        "| idle, configured | {:.1} | {:.1} | ≤ 20 MB: {} |",
        mb(idle_rss),
        mb(idle_hwm),
        if mb(idle_rss) <= 20.0 { "met" } else { "NOT met" }
    ));
    report.line(&format!(
        "| {} tokens used (cached) | {:.1} | {:.1} | ≤ 150 MB: {} |",
        tokens.len(),
        mb(used_rss),
        mb(used_hwm),
        if mb(used_rss) <= 150.0 { "met" } else { "NOT met" }
    ));
    report.line("");
    drop(gateway);
    Ok(())
}
