//! The OpenTelemetry pipeline: spans from the `tracing` layer, batched, exported over OTLP/gRPC.
//!
//! Configuration is the standard `OTEL_*` environment, read by the SDK and the exporter
//! themselves: `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (which also
//! switch exporting on), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)` and
//! `OTEL_BSP_*` (batching). `OTEL_SDK_DISABLED=true` keeps exporting off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::logs::BoxedLayer;

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// Set once the pipeline is installed. Read on every request to skip trace-context work
/// (parsing `traceparent`, formatting span names) when nothing would see the result.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The endpoint the environment names for traces, if any (the traces-specific one wins, as the
/// exporter resolves it).
pub fn configured_endpoint() -> Option<String> {
    [TRACES_ENDPOINT, ENDPOINT]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

pub(crate) struct Pipeline {
    pub(crate) layer: BoxedLayer,
    pub(crate) provider: SdkTracerProvider,
}

impl Pipeline {
    /// The pipeline the environment asks for, or `None` when no OTLP endpoint is configured.
    pub(crate) fn from_env(default_service_name: &'static str) -> Result<Option<Self>, String> {
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
            .with_target(crate::trace::TARGET, Level::INFO);
        let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(targets).boxed();
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some(Self { layer, provider }))
    }
}

/// Flushes buffered spans and stops the exporter, waiting at most a few seconds for the
/// collector: a shutdown must not hang on an unreachable one.
pub(crate) fn shutdown(provider: SdkTracerProvider) {
    ENABLED.store(false, Ordering::Relaxed);
    if let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
        eprintln!("gatehouse: flushing traces on shutdown: {e}");
    }
}
