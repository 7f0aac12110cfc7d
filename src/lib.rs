//! `gatehouse`: an OAuth 2.0 authorization server fused with an API gateway. The binary's
//! edge: command line, gRPC and REST services, the config stream. A library too, so tests
//! and tools can speak the wire types.
//!
//! # Layout
//! - [`cli`]: the command line; every flag also reads a `GATEHOUSE_*` variable. [`cli_tls`]:
//!   the TLS flags, shared by the roles.
//! - [`config_file`]: the TOML config file, merged in as flags (flag > env > file > default).
//! - [`roles`]: starting each role: `control-plane`, `gateway`, `dev` (both in one process).
//! - [`listener`]: the control plane's single port, gRPC and REST side by side, plain or TLS
//!   (optionally mutual: [`peer`] carries the client certificate's identity to the services).
//! - [`probes`]: a plain port for the control plane's probes when its main port needs client
//!   certificates.
//! - [`observe`]: spans and metrics of admin calls, and `/metrics` on that port.
//! - [`otel`]: the OTLP/gRPC span exporter and the process's telemetry set-up (logs plus the
//!   exporter's layer), kept out of `gatehouse-telemetry` so the domain crates skip tonic.
//! - [`admin_cli`]: `gatehouse admin …`, the admin tasks from a shell, over gRPC.
//! - [`admin`]: the gRPC admin services and the shared-secret checks.
//! - [`rest`]: REST/JSON transcoding generated from the `google.api.http` annotations.
//! - [`sync`]: a gateway following the control plane's config stream; [`channel`]: gRPC
//!   channels to the control plane, TLS for https URLs.
//! - [`pb`] and [`wire`]: generated wire types, and their conversion to domain types.
//! - [`report`]: an error and its causes on one line, for stderr and logs.
//!
//! The domain lives in `crates/`: `model` (types), `oauth` (the authorization server),
//! `store` (Redis, file and memory storage), `control` (registry and revision log),
//! `gateway` (the data plane). See ARCHITECTURE.md.

// These docs are for the people who maintain the binary and link its private modules; read
// them with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod admin;
pub mod admin_cli;
pub mod channel;
pub mod cli;
pub mod cli_auth;
pub mod cli_clients;
pub mod cli_limits;
pub mod cli_paths;
pub mod cli_public;
pub mod cli_tls;
pub mod config_file;
pub mod dashboard_edge;
pub mod dashboard_try;
pub mod listener;
pub mod observe;
pub mod otel;
pub mod pb;
pub mod peer;
pub mod probes;
pub mod report;
pub mod rest;
pub mod roles;
pub mod sync;
pub mod wire;
