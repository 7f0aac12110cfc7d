//! `gatehouse-bench`: the benchmark harness of BENCHMARKS.md.
//!
//! One run starts everything it measures as real processes on loopback (a hyper upstream, nginx,
//! redis-server, a Gatehouse control plane and gateways built in release mode), drives them with
//! `wrk` (closed loop, throughput) and its own open-loop generator (fixed rate, latency), and
//! prints every figure and ratio as a Markdown report.
//!
//! # Layout
//! - [`procs`]: child processes (killed when dropped), free ports, readiness waits.
//! - [`stack`]: the system under test: upstreams, Redis, nginx config, control plane, gateways,
//!   and the admin calls that create the APIs, policy and client.
//! - [`client`]: a minimal HTTP/1.1 client over one keep-alive connection (admin calls,
//!   pollers, the open-loop generator), so the harness adds no large dependency.
//! - [`upstream`]: the fast upstream (`gatehouse-bench upstream`, run as a child process so it
//!   does not share a runtime with the load generator).
//! - [`wrk`]: running wrk with a Lua script that prints its summary as JSON.
//! - [`openloop`]: the fixed-rate generator (latency measured from the intended send time when
//!   the server is behind, so coordinated omission does not hide queueing).
//! - [`throughput`], [`issuance`], [`propagation`], [`memory`]: the four measurements.
//! - [`stats`]: percentiles, medians and the report (Markdown, with charts when asked).
//! - [`charts`]: the SVG charts (bars, cumulative distributions).

mod charts;
mod client;
mod issuance;
mod memory;
mod openloop;
mod procs;
mod propagation;
mod stack;
mod stats;
mod throughput;
mod upstream;
mod wrk;

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gatehouse-bench", about = "Benchmarks Gatehouse against nginx and a direct upstream")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the measurements and prints the report (Markdown) on stdout.
    Run(RunArgs),
    /// The fast upstream (started by `run` as a child process): answers every request with a
    /// small fixed JSON body naming the listener. Prints `listening <name> <addr>` per name.
    Upstream {
        /// One listener per name, each on a free loopback port.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// The gatehouse binary (release build); default: `gatehouse` next to this executable.
    #[arg(long)]
    pub gatehouse: Option<PathBuf>,
    /// Which measurements to run.
    #[arg(long, value_delimiter = ',', default_value = "throughput,latency,issuance,propagation,memory")]
    pub only: Vec<Part>,
    /// Seconds per closed-loop (wrk) run.
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// Open connections per closed-loop run (the same for every target).
    #[arg(long, default_value_t = 64)]
    pub connections: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Interleaved rounds: each round runs every target once, in a rotated order; figures are
    /// medians over rounds and ratios are medians of per-round ratios.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Requests per second of the fixed-rate (open-loop) runs.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds per fixed-rate run.
    #[arg(long, default_value_t = 5)]
    pub rate_duration: u64,
    /// Distinct tokens of the closed-loop target that sends a different one with each request
    /// (round robin, as many clients would).
    #[arg(long, default_value_t = 10_000)]
    pub distinct_tokens: usize,
    /// Live tokens seeded before the second issuance measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub seed_tokens: usize,
    /// Gateways of the propagation measurement.
    #[arg(long, default_value_t = 10)]
    pub gateways: usize,
    /// Trials of each propagation measurement.
    #[arg(long, default_value_t = 100)]
    pub trials: usize,
    /// Distinct tokens used through one gateway for the memory measurement.
    #[arg(long, default_value_t = 100_000)]
    pub memory_tokens: usize,
    /// Another gatehouse binary (say, the build before a change): its gateway runs beside the
    /// current one and is measured in the same rounds, for before/after ratios.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// An extra flag for the baseline gateway (repeatable), e.g. `--baseline-arg=--accept-sockets=per-thread`
    /// with `--baseline` naming the current binary: measures one setting against the default.
    #[arg(long, allow_hyphen_values = true, requires = "baseline")]
    pub baseline_arg: Vec<String>,
    /// Write SVG charts into this directory (created if missing) and link them from the
    /// report under the same path, e.g. `docs/bench/run-12` beside BENCHMARKS.md.
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// Keep the working directory (logs, configs) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Throughput,
    Latency,
    Issuance,
    Propagation,
    Memory,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gatehouse-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Upstream { names } => upstream::serve(names).await,
            Command::Run(args) => run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gatehouse-bench: {message:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let gatehouse = match &args.gatehouse {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("cannot find this executable")?.with_file_name("gatehouse"),
    };
    if !gatehouse.is_file() {
        anyhow::bail!(
            "{} not found: build it first (cargo build --release --workspace --bins) or pass --gatehouse",
            gatehouse.display()
        );
    }
    for tool in ["wrk", "nginx", "redis-server"] {
        if !procs::on_path(tool) {
            anyhow::bail!("{tool} not found: apt-get install -y wrk nginx-light redis-server");
        }
    }
    let mut stack =
        stack::Stack::start(gatehouse, args.baseline.clone(), &args.baseline_arg, args.keep).await?;
    let mut report = stats::Report::new(&args);
    report.machine().await;
    let wants = |part| args.only.contains(&part);
    if wants(Part::Throughput) {
        throughput::closed_loop(&stack, &args, &mut report).await?;
    }
    if wants(Part::Latency) {
        throughput::fixed_rate(&stack, &args, &mut report).await?;
    }
    if wants(Part::Issuance) {
        issuance::run(&stack, &args, &mut report).await?;
    }
    if wants(Part::Propagation) {
        propagation::run(&stack, &args, &mut report).await?;
    }
    if wants(Part::Memory) {
        memory::run(&stack, &args, &mut report).await?;
    }
    stack.check_alive()?;
    report.print();
    Ok(())
}
