//! `gatehouse admin …`: the common admin tasks from a shell, over the control plane's gRPC API.
//!
//! One module per resource ([`apis`], [`clients`], [`policies`], [`users`], [`tokens`],
//! [`gateways`]), and [`apply`] for `apply -f` and `export` across them; each command returns
//! the text to print, so the only writes to stdout happen in [`run`]. [`output`] renders tables and `key: value` lines, [`input`] reads files and stdin.
//!
//! Errors come back as `anyhow` errors whose context says what failed (a gRPC error as
//! `Code: message`); `main` prints them, with their causes, to stderr and exits with 1, so they
//! are not printed here as well.

mod apis;
mod apply;
mod clients;
mod gateways;
mod input;
mod output;
mod policies;
mod tokens;
mod users;

use std::io::Write as _;

use anyhow::Context as _;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tower::util::MapResponse;

use crate::pb;

/// What `gatehouse admin --help` ends with: the usual first steps.
const EXAMPLES: &str = "Examples:
  export GATEHOUSE_ADMIN_SECRET=…        # the control plane's admin secret
  gatehouse admin apis create --file my-api.json
  gatehouse admin clients create my-api --redirect-uri https://app.example/cb
  printf '%s' \"$PASSWORD\" | gatehouse admin users create alice --password-stdin
  gatehouse admin apis list -o yaml
  gatehouse admin export > gatehouse.yaml && gatehouse admin apply -f gatehouse.yaml --dry-run";

/// Help heading of the flags every admin command takes, kept apart from each command's own.
const GLOBAL: &str = "Global options";

/// Administer a running control plane over gRPC.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct AdminArgs {
    /// URL of the control plane's admin port (gRPC).
    #[arg(
        long,
        env = "GATEHOUSE_CONTROL_PLANE",
        default_value = "http://127.0.0.1:7070",
        global = true,
        help_heading = GLOBAL
    )]
    control_plane: String,
    /// The control plane's admin secret. Prefer the environment variable: a flag shows in `ps`
    /// and in shell history.
    // `Option` because clap refuses required global flags; `run` checks it is there.
    #[arg(long, env = "GATEHOUSE_ADMIN_SECRET", hide_env_values = true, global = true, help_heading = GLOBAL)]
    admin_secret: Option<String>,
    /// Print responses as proto3 JSON (the REST API's shapes) instead of tables: `-o json`.
    #[arg(
        long,
        env = "GATEHOUSE_JSON",
        global = true,
        help_heading = GLOBAL,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    json: bool,
    /// Output format: tables for people, or the REST API's shapes as JSON or YAML.
    #[arg(short = 'o', long, value_enum, global = true, help_heading = GLOBAL)]
    output: Option<output::Format>,
    /// CA, and client certificate for mutual TLS, of an https:// control plane.
    #[command(flatten)]
    tls: crate::cli_tls::ControlPlaneClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// APIs proxied by the gateways.
    #[command(subcommand)]
    Apis(apis::ApisCommand),
    /// OAuth client apps of an API.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Security policies that clients and users name.
    #[command(subcommand)]
    Policies(policies::PoliciesCommand),
    /// Resource owners of the password grant.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Token revocation and authorization codes.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Gateways following this control plane.
    #[command(subcommand)]
    Gateways(gateways::GatewaysCommand),
    /// Make the control plane hold the APIs, policies and OAuth clients that files declare.
    Apply(apply::ApplyArgs),
    /// Print the APIs, policies and OAuth clients as documents that `apply -f` takes (YAML;
    /// `-o json` for a JSON array).
    Export,
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let secret = args
        .admin_secret
        .as_deref()
        .context("the admin secret is required: set GATEHOUSE_ADMIN_SECRET (or pass --admin-secret)")?;
    let format = match (args.output, args.json) {
        (Some(format), false) | (Some(format @ output::Format::Json), true) => format,
        (None, json) => {
            if json {
                output::Format::Json
            } else {
                output::Format::Table
            }
        }
        (Some(other), true) => {
            anyhow::bail!("--json asks for JSON and -o for {other:?}; give one of them (--json is -o json)")
        }
    };
    let tls = args.tls.client_config(&args.control_plane)?;
    let conn = Conn::connect(&args.control_plane, secret, tls.as_ref(), format).await?;
    let text = match args.command {
        Command::Apis(cmd) => apis::run(cmd, &conn).await?,
        Command::Clients(cmd) => clients::run(cmd, &conn).await?,
        Command::Policies(cmd) => policies::run(cmd, &conn).await?,
        Command::Users(cmd) => users::run(cmd, &conn).await?,
        Command::Tokens(cmd) => tokens::run(cmd, &conn).await?,
        Command::Gateways(cmd) => gateways::run(cmd, &conn).await?,
        Command::Apply(args) => apply::apply(args, &conn).await?,
        Command::Export => apply::export(&conn).await?,
    };
    print_stdout(&text)
}

/// Writes the command's output. `println!` would panic when stdout is a closed pipe
/// (`gatehouse admin apis list | head -1`); that is the reader's choice, not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let result = if text.is_empty() || text.ends_with('\n') {
        out.write_all(text.as_bytes())
    } else {
        writeln!(out, "{text}")
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// A note for the human at the terminal (e.g. "this secret is shown once"). It goes to stderr so
/// that stdout stays exactly the data, parseable with `--json`.
fn note(text: &str) {
    eprintln!("note: {text}");
}

/// How long to wait for the TCP (and HTTP/2) connection: a wrong URL or a firewall should fail
/// the command quickly rather than hang a script.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound of one admin call; they are small and answered from memory on the server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Adds the admin secret to every call, as `authorization: Bearer <secret>`.
#[derive(Clone)]
struct AdminAuth(MetadataValue<Ascii>);

impl Interceptor for AdminAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// The channel, with every answer looked at by [`warn_if_not_applied`] on its way back.
type Watched =
    MapResponse<Channel, fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body>>;
type Authed = InterceptedService<Watched, AdminAuth>;

/// Says on stderr when a write was answered before every gateway served it (the control
/// plane's `--apply-wait` ran out): a script that goes on to use it may meet a gateway that
/// does not know it yet. The answer itself goes on unchanged.
fn warn_if_not_applied(response: http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> {
    if let Some(names) =
        response.headers().get(crate::listener::NOT_APPLIED_HEADER).and_then(|v| v.to_str().ok())
    {
        eprintln!(
            "gatehouse: warning: done, but not yet served by: {names} (the control plane stopped waiting)"
        );
    }
    response
}

/// An open connection to the control plane, and how to print what it answers.
struct Conn {
    channel: Watched,
    auth: AdminAuth,
    format: output::Format,
}

impl Conn {
    async fn connect(
        url: &str,
        secret: &str,
        tls: Option<&gatehouse_tls::rustls::ClientConfig>,
        format: output::Format,
    ) -> anyhow::Result<Self> {
        let auth = AdminAuth(authorization_value(secret)?);
        check_scheme(url)?;
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| {
                anyhow::anyhow!("--control-plane {url:?} is not a URL ({e}); expected e.g. http://host:7070")
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        // Connect now rather than lazily, so an unreachable control plane is reported as such
        // (with its URL) instead of as an opaque `Unavailable` from the first call.
        let channel = crate::channel::connect(endpoint, tls, CONNECT_TIMEOUT)
            .await
            .with_context(|| format!("cannot reach the control plane at {url}"))?;
        let watch: fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> =
            warn_if_not_applied;
        Ok(Self { channel: MapResponse::new(channel, watch), auth, format })
    }

    fn apis(&self) -> pb::api_service_client::ApiServiceClient<Authed> {
        pb::api_service_client::ApiServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    fn clients(&self) -> pb::client_service_client::ClientServiceClient<Authed> {
        pb::client_service_client::ClientServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    fn policies(&self) -> pb::policy_service_client::PolicyServiceClient<Authed> {
        pb::policy_service_client::PolicyServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    fn users(&self) -> pb::user_service_client::UserServiceClient<Authed> {
        pb::user_service_client::UserServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    fn tokens(&self) -> pb::token_service_client::TokenServiceClient<Authed> {
        pb::token_service_client::TokenServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    fn gateways(&self) -> pb::gateway_service_client::GatewayServiceClient<Authed> {
        pb::gateway_service_client::GatewayServiceClient::with_interceptor(
            self.channel.clone(),
            self.auth.clone(),
        )
    }

    /// `message` as JSON or YAML with `-o json|yaml`, else `readable(message)`.
    fn render<T: serde::Serialize>(
        &self,
        message: &T,
        readable: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<String> {
        output::data(self.format, message).unwrap_or_else(|| Ok(readable(message)))
    }
}

/// The control plane serves gRPC in clear (h2c) and this client has no TLS: refuse what it
/// could not speak up front, with the reason, rather than fail at connect time obscurely.
fn check_scheme(url: &str) -> anyhow::Result<()> {
    match url.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            Ok(())
        }
        _ => anyhow::bail!(
            "--control-plane {url:?} is not an http:// or https:// URL, e.g. http://control-plane:7070"
        ),
    }
}

/// The `authorization` metadata for `secret`. Never echoes the secret, even in errors.
fn authorization_value(secret: &str) -> anyhow::Result<MetadataValue<Ascii>> {
    // A secret read from a file often ends with a newline; someone may also have stored the
    // whole header value. The server compares the bare secret, so send exactly that.
    let secret = secret.trim();
    let secret = match secret.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => secret,
    };
    if secret.is_empty() {
        anyhow::bail!("the admin secret is empty");
    }
    // Header values may carry other bytes, but the server reads the header as ASCII text and
    // would answer "missing secret"; say what is wrong instead.
    let not_printable = "the admin secret must be printable ASCII";
    if !secret.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        anyhow::bail!(not_printable);
    }
    let mut value: MetadataValue<Ascii> =
        format!("Bearer {secret}").parse().map_err(|_| anyhow::anyhow!(not_printable))?;
    // Kept out of HPACK tables and shown as "Sensitive" in debug output of the headers.
    value.set_sensitive(true);
    Ok(value)
}

/// A gRPC error as `Code: message`, e.g. `NotFound: API "x" not found`.
fn rpc_error(status: tonic::Status) -> anyhow::Error {
    let message = if status.message().is_empty() { status.code().description() } else { status.message() };
    anyhow::anyhow!("{:?}: {message}", status.code())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn authorization_is_the_bare_secret_as_bearer() {
        let s = "s".repeat(40);
        for given in [s.clone(), format!("{s}\n"), format!("Bearer {s}"), format!("bearer  {s} ")] {
            assert_eq!(authorization_value(&given).unwrap().to_str().unwrap(), format!("Bearer {s}"));
        }
        assert!(authorization_value("  ").is_err());
        let err = format!("{:#}", authorization_value("sécret-with-a-non-ascii-character").unwrap_err());
        assert!(!err.contains("sécret"), "{err}");
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert!(check_scheme("http://127.0.0.1:7070").is_ok());
        assert!(check_scheme("HTTP://cp:7070").is_ok());
        assert!(check_scheme("https://cp:7070").is_ok());
        assert!(
            check_scheme("127.0.0.1:7070")
                .unwrap_err()
                .to_string()
                .contains("not an http:// or https:// URL")
        );
    }

    #[test]
    fn rpc_errors_name_the_code() {
        assert_eq!(
            rpc_error(tonic::Status::not_found("API \"x\" not found")).to_string(),
            "NotFound: API \"x\" not found"
        );
        assert!(rpc_error(tonic::Status::unavailable("")).to_string().starts_with("Unavailable: "));
    }
}
