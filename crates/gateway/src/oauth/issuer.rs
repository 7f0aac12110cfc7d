//! Whose name the RFC 8414 metadata speaks in. The `issuer` and every endpoint URL in the
//! document must not follow whatever `Host` a caller sends: a poisoned cache, or a client that
//! trusts the document it fetched through a hostile intermediary, would send credentials to
//! the attacker's host (RFC 8414 §3.3 requires the issuer to be the one the client expected).
//!
//! Set once at start-up for the whole process (the gateway's serving threads all speak for the
//! same public name): a configured public URL, else the `Host` values of an allow-list. With
//! neither set the allow-list is the addresses the gateway's listeners are bound to (loopback
//! and other concrete addresses; a wildcard address names no host), so a gateway behind a
//! load balancer publishes no metadata until it is told its public name.

use std::sync::OnceLock;

use http::{HeaderMap, Uri};

/// Where the issuer's scheme and authority come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerPolicy {
    /// `scheme://authority[/prefix]`, without a trailing slash: every document names it.
    PublicUrl(String),
    /// The request's `Host`, only when it is one of these (compared case-insensitively), with
    /// the scheme the request arrived with (https when over TLS to us or a trusted proxy).
    AllowedHosts(Vec<String>),
}

impl Default for IssuerPolicy {
    /// Nothing configured and nothing known: no host is trusted.
    fn default() -> Self {
        IssuerPolicy::AllowedHosts(Vec::new())
    }
}

impl IssuerPolicy {
    /// A public base URL: `http` or `https`, with a host, without query or fragment. A path is
    /// kept as a prefix (a gateway published under a path of a shared host).
    pub fn public_url(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("{url:?} must start with http:// or https://"));
        }
        if uri.authority().is_none_or(|a| a.host().is_empty()) {
            return Err(format!("{url:?} names no host"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(format!("{url:?} must not have a query or fragment"));
        }
        Ok(IssuerPolicy::PublicUrl(url.trim_end_matches('/').to_owned()))
    }

    /// The base (`scheme://authority[/prefix]`) the metadata names for this request, or `None`
    /// when its `Host` is not one this gateway speaks for.
    pub fn base(&self, headers: &HeaderMap, secure: bool) -> Option<String> {
        match self {
            IssuerPolicy::PublicUrl(url) => Some(url.clone()),
            IssuerPolicy::AllowedHosts(allowed) => {
                let host = headers.get(http::header::HOST)?.to_str().ok()?;
                let host = allowed.iter().find(|a| a.eq_ignore_ascii_case(host))?;
                let scheme = if secure { "https" } else { "http" };
                Some(format!("{scheme}://{host}"))
            }
        }
    }
}

static POLICY: OnceLock<IssuerPolicy> = OnceLock::new();

/// Sets the process's issuer policy; the first call wins (one gateway per process).
pub fn set_issuer_policy(policy: IssuerPolicy) {
    if POLICY.set(policy).is_err() {
        tracing::warn!("the issuer policy was already set; keeping the first");
    }
}

/// The process's issuer policy: [`IssuerPolicy::default`] (no host trusted) until set.
pub fn issuer_policy() -> &'static IssuerPolicy {
    POLICY.get_or_init(IssuerPolicy::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_public_url_ignores_the_host() {
        let policy = IssuerPolicy::public_url("https://auth.example.com/").unwrap();
        assert_eq!(policy.base(&host("evil.example"), false).as_deref(), Some("https://auth.example.com"));
        assert_eq!(policy.base(&HeaderMap::new(), true).as_deref(), Some("https://auth.example.com"));
        let prefixed = IssuerPolicy::public_url("https://shared.example/gw").unwrap();
        assert_eq!(prefixed.base(&host("x"), true).as_deref(), Some("https://shared.example/gw"));
    }

    #[test]
    fn public_urls_are_checked() {
        for bad in [
            "auth.example.com",
            "ftp://auth.example.com",
            "https://",
            "https://a.example/?x=1",
            "https://a.example/#f",
        ] {
            assert!(IssuerPolicy::public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_allowed_hosts_are_named() {
        let policy = IssuerPolicy::AllowedHosts(vec!["api.example.com".into(), "127.0.0.1:8080".into()]);
        assert_eq!(policy.base(&host("API.example.com"), true).as_deref(), Some("https://api.example.com"));
        assert_eq!(policy.base(&host("127.0.0.1:8080"), false).as_deref(), Some("http://127.0.0.1:8080"));
        for other in ["evil.example", "api.example.com.evil.example", "127.0.0.1:8081"] {
            assert_eq!(policy.base(&host(other), false), None, "{other}");
        }
        assert_eq!(policy.base(&HeaderMap::new(), false), None);
        assert_eq!(IssuerPolicy::default().base(&host("127.0.0.1:8080"), false), None);
    }
}
