//! Logs, traces and metrics for both Gatehouse roles: the vocabulary (span and metric names,
//! their attributes, the recorder) in one place, so every process records the same way and the
//! request path only calls small, cheap helpers.
//!
//! # Layout
//! - [`logs`]: the `tracing` subscriber. `RUST_LOG` filters (default `info`); `--log-format`
//!   (`GATEHOUSE_LOG_FORMAT`) picks human-readable `text` (the default) or one JSON object per
//!   line. Logs go to stderr. [`logs::install`] takes one extra layer beside the logs: the
//!   binary's OpenTelemetry layer.
//! - [`trace`]: the spans Gatehouse emits (their names and attributes are defined here and
//!   nowhere else, so nothing secret can slip into one by accident elsewhere), and W3C
//!   trace-context propagation: continuing an incoming `traceparent`, sending ours upstream.
//!   Off (no exporter installed: [`trace::exporting`]), the spans are disabled at their call
//!   site and cost one interest check.
//! - [`metrics`]: the Prometheus registry, the metric names, per-API handle caches for the hot
//!   path, and rendering the text exposition format for `/metrics`.
//!
//! Exporting spans over OTLP/gRPC is the binary's (`src/otel.rs`): the exporter brings tonic,
//! which the domain crates that depend on this one need not compile.

pub mod logs;
pub mod metrics;
pub mod trace;

pub use logs::LogFormat;
