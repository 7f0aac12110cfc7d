//! TLS flags, shared by the roles that take them (flattened into their arguments in `cli.rs`).
//! Each flag reads a `GATEHOUSE_*` variable too; the Kubernetes overlay sets those.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use gatehouse_tls::{ClientIdentity, ServerTls, ServerTlsOptions, SniCert};

/// A listener's certificates, for the gateway and the control plane alike.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "TLS")]
pub struct ListenerTlsArgs {
    /// PEM certificate chain (leaf first) to serve HTTPS with; reloaded when the file changes.
    /// Without it the listener speaks plain HTTP.
    #[arg(long, env = "GATEHOUSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GATEHOUSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Another certificate, served to clients asking for HOST by SNI: HOST=CERT.pem,KEY.pem
    /// (HOST may be *.example.com). Repeatable; in the variable, separate them with ';'.
    #[arg(
        long = "tls-sni-cert",
        env = "GATEHOUSE_TLS_SNI_CERTS",
        value_delimiter = ';',
        requires = "tls_cert",
        value_name = "HOST=CERT,KEY"
    )]
    pub tls_sni_certs: Vec<String>,
    /// Strict-Transport-Security value sent on HTTPS responses; "off" sends none.
    #[arg(long, env = "GATEHOUSE_HSTS", default_value = "max-age=31536000")]
    pub hsts: String,
}

impl ListenerTlsArgs {
    /// The listener's TLS config (watched for changes), or `None` for plain HTTP.
    pub fn load(&self, client_ca: Option<PathBuf>) -> anyhow::Result<Option<Arc<ServerTls>>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            if client_ca.is_some() {
                anyhow::bail!("--tls-client-ca needs --tls-cert and --tls-key");
            }
            return Ok(None);
        };
        let sni = self
            .tls_sni_certs
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| SniCert::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .context("--tls-sni-cert")?;
        let options = ServerTlsOptions { cert: cert.clone(), key: key.clone(), sni, client_ca };
        ServerTls::load(options).map(Some).context("TLS")
    }

    /// The HSTS header value, `None` when turned off.
    pub fn hsts(&self) -> anyhow::Result<Option<http::HeaderValue>> {
        let value = self.hsts.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        if !value.to_ascii_lowercase().contains("max-age=") {
            anyhow::bail!(
                "--hsts {value:?}: expected e.g. \"max-age=31536000; includeSubDomains\" or \"off\""
            );
        }
        http::HeaderValue::from_str(value)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("--hsts {value:?}: not a header value"))
    }
}

/// How a gateway (or the admin CLI) reaches an https control plane.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ControlPlaneClientArgs {
    /// PEM CA bundle the control plane's certificate must chain to (default: the system's
    /// trust store). Used with an https:// --control-plane.
    #[arg(long, env = "GATEHOUSE_CONTROL_PLANE_CA")]
    pub control_plane_ca: Option<PathBuf>,
    /// PEM client certificate presented to a control plane that requires mutual TLS; it also
    /// names this node in the fleet view (its first DNS name, else its common name).
    #[arg(long, env = "GATEHOUSE_CONTROL_PLANE_CERT", requires = "control_plane_key")]
    pub control_plane_cert: Option<PathBuf>,
    /// PEM private key of --control-plane-cert.
    #[arg(long, env = "GATEHOUSE_CONTROL_PLANE_KEY", requires = "control_plane_cert")]
    pub control_plane_key: Option<PathBuf>,
}

impl ControlPlaneClientArgs {
    pub fn has_identity(&self) -> bool {
        self.control_plane_cert.is_some()
    }

    /// The TLS client config for `url`: `None` for http:// URLs (refusing TLS flags there, which
    /// would otherwise be silently ignored).
    pub fn client_config(&self, url: &str) -> anyhow::Result<Option<gatehouse_tls::rustls::ClientConfig>> {
        if !url.starts_with("https://") {
            if self.control_plane_ca.is_some() || self.control_plane_cert.is_some() {
                anyhow::bail!(
                    "--control-plane-ca / --control-plane-cert need an https:// control plane, not {url}"
                );
            }
            return Ok(None);
        }
        let read =
            |path: &PathBuf| std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        let roots = match &self.control_plane_ca {
            Some(path) => {
                Some(gatehouse_tls::pem::roots_from_pem(&read(path)?, &path.display().to_string())?)
            }
            None => None,
        };
        let identity = match (&self.control_plane_cert, &self.control_plane_key) {
            (Some(cert), Some(key)) => Some(ClientIdentity { cert_pem: read(cert)?, key_pem: read(key)? }),
            _ => None,
        };
        // ALPN h2: gRPC over TLS; the connector sets it.
        Ok(Some(gatehouse_tls::client_config(roots, identity.as_ref(), &[])?))
    }
}
