//! The process-wide `tracing` subscriber: logs on stderr, filtered by `RUST_LOG`, as text or
//! JSON lines, with an extra layer beside them: the binary's OpenTelemetry layer (`src/otel.rs`)
//! when traces are exported. The exporter is not built here, so that the crates recording spans
//! and metrics do not compile its gRPC stack.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// How log lines look on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event; coloured only when stderr is a terminal, so files and
    /// log collectors get no escape codes.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log pipelines.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: expected text or json")),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// A layer over the bare registry, so layers of different types can sit side by side.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber: the log layer, plus `extra` (the OpenTelemetry layer when
/// traces are exported). Fails if a global subscriber is already installed.
pub fn install(format: LogFormat, extra: Option<BoxedLayer>) -> Result<(), String> {
    let mut layers: Vec<BoxedLayer> = Vec::with_capacity(2);
    layers.push(log_layer(format));
    layers.extend(extra);
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))
}

fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The trace spans (crate::trace) are for the OpenTelemetry layer only: formatting their
    // fields for every request would cost the log layer an allocation per request and repeat
    // ids on every line, and with traces off they stay disabled at their call site.
    let filter = env.and(filter_fn(|meta| meta.target() != crate::trace::TARGET));
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_case_insensitively_and_print_back() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
        assert_eq!(LogFormat::Json.to_string(), "json");
    }
}
