//! The gateway's public name, which its RFC 8414 metadata speaks in (flattened into the
//! gateway's and dev's arguments in `cli.rs`). Each flag reads a `GATEHOUSE_*` variable too.

use std::net::SocketAddr;

use anyhow::Context as _;

use gatehouse_gateway::oauth::issuer::IssuerPolicy;

#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Public name")]
pub struct PublicNameArgs {
    /// The URL clients reach this gateway at (e.g. `https://api.example.com`): RFC 8414
    /// metadata names its issuer and endpoints under it, whatever Host a request carries.
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", conflicts_with = "public_hosts")]
    pub public_url: Option<String>,
    /// Without --public-url: the Host values (host or host:port, comma-separated) metadata may
    /// be built from, with the request's scheme; other hosts get 421. Default: the addresses
    /// the listeners are bound to, so a gateway on 0.0.0.0 publishes no metadata until told.
    #[arg(long, env = "GATEHOUSE_PUBLIC_HOSTS", value_delimiter = ',')]
    pub public_hosts: Vec<String>,
}

impl PublicNameArgs {
    /// The issuer policy for a gateway whose listeners are bound to `bound`.
    pub fn issuer_policy(&self, bound: &[SocketAddr]) -> anyhow::Result<IssuerPolicy> {
        if let Some(url) = &self.public_url {
            return IssuerPolicy::public_url(url.trim()).map_err(anyhow::Error::msg).context("--public-url");
        }
        let configured: Vec<String> =
            self.public_hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).map(str::to_owned).collect();
        if !configured.is_empty() {
            for host in &configured {
                check_host(host).context("--public-hosts")?;
            }
            return Ok(IssuerPolicy::AllowedHosts(configured));
        }
        Ok(IssuerPolicy::AllowedHosts(listener_hosts(bound)))
    }
}

/// A `Host` value: an authority without user info, nothing else.
fn check_host(host: &str) -> anyhow::Result<()> {
    let authority: http::uri::Authority =
        host.parse().with_context(|| format!("{host:?} is not a host[:port]"))?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        anyhow::bail!("{host:?} is not a host[:port]");
    }
    Ok(())
}

/// The `Host` values that name a listener directly: its concrete address (and `localhost` for
/// a loopback one). A wildcard address names no host, so it adds none.
fn listener_hosts(bound: &[SocketAddr]) -> Vec<String> {
    let mut hosts = Vec::new();
    for addr in bound.iter().filter(|a| !a.ip().is_unspecified()) {
        hosts.push(addr.to_string());
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{}", addr.port()));
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_to_the_concrete_listener_addresses() {
        let policy = PublicNameArgs::default().issuer_policy(&[addr("127.0.0.1:8080"), addr("0.0.0.0:8443")]);
        assert_eq!(
            policy.unwrap(),
            IssuerPolicy::AllowedHosts(vec!["127.0.0.1:8080".into(), "localhost:8080".into()])
        );
        let wildcard = PublicNameArgs::default().issuer_policy(&[addr("[::]:8080")]).unwrap();
        assert_eq!(wildcard, IssuerPolicy::AllowedHosts(vec![]));
    }

    #[test]
    fn configured_names_win_and_are_checked() {
        let url =
            PublicNameArgs { public_url: Some("https://api.example.com/".into()), ..Default::default() };
        assert_eq!(
            url.issuer_policy(&[addr("127.0.0.1:1")]).unwrap(),
            IssuerPolicy::PublicUrl("https://api.example.com".into())
        );
        let hosts = PublicNameArgs {
            public_hosts: vec!["api.example.com".into(), " a.example:8443 ".into()],
            ..Default::default()
        };
        assert_eq!(
            hosts.issuer_policy(&[addr("127.0.0.1:1")]).unwrap(),
            IssuerPolicy::AllowedHosts(vec!["api.example.com".into(), "a.example:8443".into()])
        );
        for bad in ["user@api.example.com", "api.example.com/path", "a b"] {
            let args = PublicNameArgs { public_hosts: vec![bad.into()], ..Default::default() };
            assert!(args.issuer_policy(&[]).is_err(), "{bad}");
        }
        let args = PublicNameArgs { public_url: Some("api.example.com".into()), ..Default::default() };
        assert!(format!("{:#}", args.issuer_policy(&[]).unwrap_err()).starts_with("--public-url: "));
    }
}
