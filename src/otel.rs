//! The OpenTelemetry pipeline: spans from the `tracing` layer, batched, exported over OTLP/gRPC;
//! and [`init`], which installs `gatehouse-telemetry`'s subscriber with it at start-up.
//!
//! Here in the binary, not in `gatehouse-telemetry`: the exporter brings tonic (and with it
//! prost and hyper's HTTP/2 client), which the domain crates that record spans and metrics need
//! not compile. `gatehouse-telemetry` names the spans ([`gatehouse_telemetry::trace`]) and owns
//! the subscriber ([`gatehouse_telemetry::logs::install`], which takes the layer built here).
//!
//! Configuration is the standard `OTEL_*` environment, read by the SDK and the exporter
//! themselves: `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (which also
//! switch exporting on), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)` and
//! `OTEL_BSP_*` (batching). `OTEL_SDK_DISABLED=true` keeps exporting off.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};

use gatehouse_telemetry::LogFormat;
use gatehouse_telemetry::logs::{self, BoxedLayer};
use gatehouse_telemetry::trace;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// What a process asks of telemetry at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `service.name` of exported spans unless `OTEL_SERVICE_NAME` says otherwise.
    pub service_name: &'static str,
    pub log_format: LogFormat,
    /// Whether OpenTelemetry may be switched on by the `OTEL_*` environment (servers), or never
    /// (the admin CLI, which talks to people, not collectors).
    pub traces: bool,
}

/// Keeps the span exporter alive; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping the guard without shutdown() may lose buffered spans"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

/// Installs the global `tracing` subscriber (and the OTLP pipeline when the environment asks for
/// it). Must run inside a tokio runtime context when tracing may be enabled: the gRPC channel
/// of the exporter is created on it.
///
/// Errors name the setting at fault (an invalid `OTEL_EXPORTER_OTLP_ENDPOINT`, say).
pub fn init(options: Options) -> Result<Telemetry, String> {
    let pipeline = if options.traces { Pipeline::from_env(options.service_name)? } else { None };
    let (layer, tracer_provider) = match pipeline {
        Some(pipeline) => (Some(pipeline.layer), Some(pipeline.provider)),
        None => (None, None),
    };
    logs::install(options.log_format, layer)?;
    if let Some(endpoint) = tracer_provider.as_ref().and(configured_endpoint()) {
        tracing::info!(%endpoint, service = options.service_name, "exporting traces over OTLP");
    }
    Ok(Telemetry { tracer_provider })
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter. Blocks (up to a few seconds):
    /// call it outside async code, after the runtime has finished the role but before it is
    /// dropped, since the exporter's connection runs on that runtime.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            shutdown(provider);
        }
    }
}

/// The endpoint the environment names for traces, if any (the traces-specific one wins, as the
/// exporter resolves it).
fn configured_endpoint() -> Option<String> {
    [TRACES_ENDPOINT, ENDPOINT]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

struct Pipeline {
    layer: BoxedLayer,
    provider: SdkTracerProvider,
}

impl Pipeline {
    /// The pipeline the environment asks for, or `None` when no OTLP endpoint is configured.
    fn from_env(default_service_name: &'static str) -> Result<Option<Self>, String> {
        let disabled =
            std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let Some(endpoint) = configured_endpoint().filter(|_| !disabled) else { return Ok(None) };
        // The endpoint is passed explicitly so a bad value fails start-up here, naming the
        // variable, rather than every export failing later.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| format!("{ENDPOINT}: {e}"))?;
        let service_name = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| default_service_name.to_owned());
        // `Resource::builder` also reads OTEL_RESOURCE_ATTRIBUTES; the service name is set last so
        // the role's default applies when the operator gave none.
        let resource = Resource::builder().with_service_name(service_name).build();
        let provider =
            SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        let tracer = provider.tracer("gatehouse");
        // Gatehouse's own spans, plus warnings from its crates as span events. Not the HTTP and
        // gRPC libraries': the exporter runs on them, and tracing its exports would feed back.
        let targets = Targets::new()
            .with_default(LevelFilter::OFF)
            .with_target("gatehouse", Level::WARN)
            .with_target(trace::TARGET, Level::INFO);
        let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(targets).boxed();
        trace::set_exporting(true);
        Ok(Some(Self { layer, provider }))
    }
}

/// Flushes buffered spans and stops the exporter, waiting at most a few seconds for the
/// collector: a shutdown must not hang on an unreachable one.
fn shutdown(provider: SdkTracerProvider) {
    trace::set_exporting(false);
    if let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
        eprintln!("gatehouse: flushing traces on shutdown: {e}");
    }
}
