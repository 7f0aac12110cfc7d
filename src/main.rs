//! `gatehouse`: see the library crate for the layout.

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _};
use gatehouse::cli::{Cli, Role};
use gatehouse::report::one_line;
use gatehouse::{config_file, otel, roles};

fn main() -> std::process::ExitCode {
    let command = Cli::command();
    let expanded =
        match config_file::expand(&command, std::env::args_os().collect(), |name| std::env::var_os(name)) {
            Ok(expanded) => expanded,
            Err(error) => {
                eprintln!("gatehouse: {}", one_line(error.as_ref()));
                return std::process::ExitCode::from(2);
            }
        };
    let parsed = command
        .clone()
        .try_get_matches_from(&expanded.args)
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (mut cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => match expanded.explain(&error) {
            Some(message) => {
                eprintln!("gatehouse: {message}");
                return std::process::ExitCode::from(2);
            }
            None => error.exit(),
        },
    };
    if let Role::Completion { shell } = cli.role {
        return match gatehouse::cli::print_completion(shell) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let names = config_file::SettingNames::of(&command, &matches, &expanded);
    match &mut cli.role {
        Role::ControlPlane(args) => args.names = names,
        Role::Dev(args) => args.names = names,
        Role::Gateway(_) | Role::Admin(_) | Role::Completion { .. } => {}
    }
    if cli.print_config {
        print!("{}", config_file::render(&command, &matches, &expanded));
        return std::process::ExitCode::SUCCESS;
    }
    // The admin CLI talks to people: its errors go to stderr once, without log decoration,
    // and it exports no traces and keeps no metrics.
    let is_server = !matches!(cli.role, Role::Admin(_));
    let service_name = match cli.role {
        Role::ControlPlane(_) => "gatehouse-control-plane",
        Role::Gateway(_) => "gatehouse-gateway",
        Role::Dev(_) => "gatehouse-dev",
        Role::Admin(_) | Role::Completion { .. } => "gatehouse-admin",
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gatehouse: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Before anything records a metric: handles taken earlier would stay no-ops.
    let build = gatehouse_telemetry::metrics::BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("GATEHOUSE_COMMIT"),
    };
    let metrics = if is_server { gatehouse_telemetry::metrics::install(build) } else { Ok(()) };
    let options = otel::Options { service_name, log_format: cli.log_format, traces: is_server };
    // The OTLP exporter's channel lives on the runtime.
    let telemetry = metrics.and_then(|()| runtime.block_on(async { otel::init(options) }));
    let telemetry = match telemetry {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.role {
            Role::ControlPlane(args) => {
                roles::control_plane(args).await.context("cannot start the control plane")
            }
            Role::Gateway(args) => roles::gateway(args).await.context("cannot start the gateway"),
            Role::Dev(args) => roles::dev(args).await.context("cannot start dev mode"),
            // The admin CLI's errors say what failed already ("NotFound: API \"x\" not found").
            Role::Admin(args) => gatehouse::admin_cli::run(args).await,
            Role::Completion { .. } => Ok(()),
        }
    });
    if let Err(error) = &result {
        let message = one_line(error.as_ref());
        // Once: a server's log goes to stderr too, so it is said there when the log shows
        // errors (in JSON when that is the format), and plainly otherwise.
        if is_server && tracing::enabled!(tracing::Level::ERROR) {
            tracing::error!("{message}");
        } else {
            eprintln!("gatehouse: {message}");
        }
    }
    // Spans still buffered go out now, while the runtime their connection runs on is alive.
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}
