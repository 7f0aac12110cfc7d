//! The control plane's web dashboard: what a browser needs beside the REST API it calls.
//!
//! # Layout
//! - [`assets`]: the dashboard's static files (`assets/`: HTML, plain ES modules, CSS),
//!   embedded in the binary, each with its content type and an ETag for revalidation.
//! - [`session`]: sign-in sessions. The admin secret is exchanged once for a session cookie and
//!   a CSRF token; the browser never keeps the secret.
//!
//! The HTTP edge that serves these on the control plane's port (routes, cookies, the
//! `Content-Security-Policy`) is `src/dashboard_edge.rs` in the binary, beside the REST
//! transcoder the dashboard's pages call.

pub mod assets;
pub mod session;
