//! Logs, traces and metrics for both Gatehouse roles, in one place so every process sets them
//! up the same way and the request path only calls small, cheap helpers.
//!
//! # Layout
//! - [`logs`]: the `tracing` subscriber. `RUST_LOG` filters (default `info`); `--log-format`
//!   (`GATEHOUSE_LOG_FORMAT`) picks human-readable `text` (the default) or one JSON object per
//!   line. Logs go to stderr.
//! - [`otel`]: the optional OpenTelemetry layer. Spans are exported over OTLP/gRPC (tonic) only
//!   when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and
//!   `OTEL_SDK_DISABLED` is not `true`); `OTEL_SERVICE_NAME` overrides the role's default name.
//!   Off, the spans below are disabled at their call site and cost one interest check.
//! - [`trace`]: the spans Gatehouse emits (their names and attributes are defined here and
//!   nowhere else, so nothing secret can slip into one by accident elsewhere), and W3C
//!   trace-context propagation: continuing an incoming `traceparent`, sending ours upstream.
//! - [`metrics`]: the Prometheus registry, the metric names, per-API handle caches for the hot
//!   path, and rendering the text exposition format for `/metrics`.
//!
//! [`init`] wires logs and traces at start-up and returns a [`Telemetry`] guard whose
//! [`shutdown`](Telemetry::shutdown) flushes spans still buffered.

pub mod logs;
pub mod metrics;
pub mod otel;
pub mod trace;

pub use logs::LogFormat;

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
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Installs the global `tracing` subscriber (and the OTLP pipeline when the environment asks for
/// it). Must run inside a tokio runtime context when tracing may be enabled: the gRPC channel
/// of the exporter is created on it.
///
/// Errors name the setting at fault (an invalid `OTEL_EXPORTER_OTLP_ENDPOINT`, say).
pub fn init(options: Options) -> Result<Telemetry, String> {
    let pipeline = if options.traces { otel::Pipeline::from_env(options.service_name)? } else { None };
    let (layer, tracer_provider) = match pipeline {
        Some(pipeline) => (Some(pipeline.layer), Some(pipeline.provider)),
        None => (None, None),
    };
    logs::install(options.log_format, layer)?;
    if let Some(endpoint) = tracer_provider.as_ref().and(otel::configured_endpoint()) {
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
            otel::shutdown(provider);
        }
    }
}
