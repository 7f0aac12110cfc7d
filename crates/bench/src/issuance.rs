//! Token issuance: client_credentials tokens per second through a gateway, against an empty Redis
//! and against one already holding a million live tokens, in interleaved rounds (two gateways,
//! two Redis servers, one config).

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use gatehouse_model::storage::{ClientRef, ClientTokenEntry, ClientTokenIndex, SessionStore, TokenKey};
use gatehouse_model::{GrantType, Session};
use gatehouse_store::RedisTokenStore;

use crate::stack::{CLIENT_ID, POLICY_ID, Redis, SECURE_API, Stack, token_path};
use crate::stats::{Report, median, ms};
use crate::{RunArgs, wrk};

/// Writes in flight while seeding: the store's connection pipelines concurrent commands.
const SEED_CONCURRENCY: usize = 512;
const TOKEN_TTL: Duration = Duration::from_secs(3600);

pub async fn run(stack: &Stack, args: &RunArgs, report: &mut Report) -> anyhow::Result<()> {
    report.section("Token issuance (client_credentials)");
    let empty_redis = stack.start_redis("redis-empty").await?;
    let full_redis = stack.start_redis("redis-seeded").await?;
    let empty_gw = stack.start_gateway("gw-empty", &empty_redis, true).await?;
    let full_gw = stack.start_gateway("gw-seeded", &full_redis, true).await?;

    let (seeded, seconds) = seed(&full_redis, args.seed_tokens).await?;
    eprintln!("  seeded {seeded} tokens in {seconds:.1} s");

    let basic = stack.basic_auth();
    let path = token_path();
    let load = |addr| wrk::Load {
        addr,
        path: &path,
        method: "POST",
        headers: vec![
            ("Authorization", basic.clone()),
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
        ],
        body: Some("grant_type=client_credentials"),
        tokens: None,
    };
    // Warm-up on both, then start from an empty store again.
    for addr in [empty_gw.addr, full_gw.addr] {
        wrk::run(&load(addr), args.threads, args.connections, 1, stack.dir.path())?;
    }
    let mut empty = Vec::new();
    let mut full = Vec::new();
    for round in 0..args.rounds {
        // "Empty" means empty: drop the tokens earlier rounds issued.
        redis_cli(&empty_redis, &["FLUSHDB"])?;
        let mut order = [(true, empty_gw.addr), (false, full_gw.addr)];
        if round % 2 == 1 {
            order.reverse();
        }
        for (is_empty, addr) in order {
            let outcome =
                wrk::run(&load(addr), args.threads, args.connections, args.duration, stack.dir.path())?;
            let label = if is_empty { "empty" } else { "seeded" };
            eprintln!("  round {round} {label}: {:.0} tokens/s, {} errors", outcome.rps, outcome.errors);
            if is_empty { empty.push(outcome) } else { full.push(outcome) }
        }
    }
    let full_size = redis_cli(&full_redis, &["DBSIZE"])?;
    let full_memory = redis_info_field(&full_redis, "used_memory_human")?;

    report.line(&format!(
        "Seeded {seeded} live client_credentials tokens (session + client-index entry each, through \
         `RedisTokenStore`, {SEED_CONCURRENCY} writes in flight) in {seconds:.1} s ({:.0} tokens/s). \
         The seeded Redis held {full_size} keys ({full_memory}) at the end.",
        seeded as f64 / seconds.max(1e-9)
    ));
    report.line("");
    report.line("| Redis | tokens/s | p50 ms | p99 ms | p99.9 ms | errors | tokens/s per round |");
    report.line("|---|---:|---:|---:|---:|---:|---|");
    for (label, outcomes) in [("empty", &empty), (&*format!("{seeded} live tokens"), &full)] {
        let pick = |f: fn(&wrk::Outcome) -> f64| median(&outcomes.iter().map(f).collect::<Vec<_>>());
        let per_round: Vec<String> = outcomes.iter().map(|o| format!("{:.0}", o.rps)).collect();
        report.line(&format!(
            "| {label} | {:.0} | {} | {} | {} | {} | {} |",
            pick(|o| o.rps),
            ms(pick(|o| o.p50)),
            ms(pick(|o| o.p99)),
            ms(pick(|o| o.p999)),
            outcomes.iter().map(|o| o.errors).sum::<u64>(),
            per_round.join(", ")
        ));
    }
    let empty_rate = median(&empty.iter().map(|o| o.rps).collect::<Vec<_>>());
    let ratios: Vec<f64> = full.iter().zip(&empty).map(|(f, e)| f.rps / e.rps.max(1e-9)).collect();
    let ratio = median(&ratios);
    report.line("");
    report.line(&format!(
        "- issuance, empty Redis: **{empty_rate:.0} tokens/s** (target ≥ 10000: {})",
        if empty_rate >= 10_000.0 { "met" } else { "NOT met" }
    ));
    report.line(&format!(
        "- seeded / empty (median of per-round ratios): **{ratio:.2}** (target ≥ 0.9: {})",
        if ratio >= 0.9 { "met" } else { "NOT met" }
    ));
    report.line("");
    Ok(())
}

/// Writes `count` real client_credentials token records, exactly as the grant writes them (a
/// session under `gh:at:{…}` and an entry in the client's index), for the bench client, so its
/// index holds them all: the worst case for issuing more. Storage keys are random, as HMACs
/// of unknown tokens are.
async fn seed(redis: &Redis, count: usize) -> anyhow::Result<(usize, f64)> {
    let store = RedisTokenStore::connect(&redis.url()).await.context("seed")?;
    let now = gatehouse_model::clock::unix_seconds();
    let session = Session {
        api_id: SECURE_API.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        policy_id: POLICY_ID.to_owned(),
        grant: GrantType::ClientCredentials,
        meta_data: BTreeMap::new(),
        issued_at: now,
        expires_at: now + TOKEN_TTL.as_secs(),
        family_id: None,
        scope: None,
        username: None,
    };
    let owner = ClientRef { api_id: SECURE_API, client_id: CLIENT_ID };
    let started = Instant::now();
    let mut writes = futures_util::stream::iter(0..count)
        .map(|_| {
            let (store, session, owner) = (&store, &session, &owner);
            async move {
                let key: TokenKey = rand::random();
                store.put_session(&key, session, TOKEN_TTL).await?;
                store.index_client_token(owner, &ClientTokenEntry::Access(key), session.expires_at).await
            }
        })
        .buffer_unordered(SEED_CONCURRENCY);
    let mut written = 0;
    while let Some(result) = writes.next().await {
        result.context("seed")?;
        written += 1;
    }
    Ok((written, started.elapsed().as_secs_f64()))
}

pub fn redis_cli(redis: &Redis, args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &redis.addr.port().to_string()])
        .args(args)
        .output()
        .context("redis-cli")?;
    if !output.status.success() {
        anyhow::bail!("redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn redis_info_field(redis: &Redis, field: &str) -> anyhow::Result<String> {
    let info = redis_cli(redis, &["INFO", "memory"])?;
    Ok(info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap_or("?").trim().to_owned())
}
