//! Whose name the RFC 8414 metadata speaks in. The `issuer` and every endpoint URL in the
//! document must not follow whatever `Host` a caller sends: a poisoned cache, or a client that
//! trusts the document it fetched through a hostile intermediary, would send credentials to
//! the attacker's host (RFC 8414 §3.3 requires the issuer to be the one the client expected).
//!
//! Set once at start-up, in the gateway's [`EdgePolicy`](crate::edge::EdgePolicy) (its
//! serving threads all speak for the same public name): a configured public URL, else the
//! `Host` values of an allow-list. With
//! neither set the allow-list is the addresses the gateway's listeners are bound to (loopback
//! and other concrete addresses; a wildcard address names no host), so a gateway behind a
//! load balancer publishes no metadata until it is told its public name.

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
    /// when its host is not one this gateway speaks for. The host is the `Host` header, else
    /// the URI's authority: HTTP/2 requests carry `:authority` there, with no `Host` header.
    pub fn base(&self, headers: &HeaderMap, uri: &Uri, secure: bool) -> Option<String> {
        match self {
            IssuerPolicy::PublicUrl(url) => Some(url.clone()),
            IssuerPolicy::AllowedHosts(allowed) => {
                let host = match headers.get(http::header::HOST) {
                    Some(host) => host.to_str().ok()?,
                    None => uri.authority()?.as_str(),
                };
                let host = allowed.iter().find(|a| a.eq_ignore_ascii_case(host))?;
                let scheme = if secure { "https" } else { "http" };
                Some(format!("{scheme}://{host}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP/1.1 request's target: origin form, no authority.
    fn path() -> Uri {
        Uri::from_static("/.well-known/oauth-authorization-server/api")
    }

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_public_url_ignores_the_host() {
        let policy = IssuerPolicy::public_url("https://auth.example.com/").unwrap();
        assert_eq!(
            policy.base(&host("evil.example"), &path(), false).as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(
            policy.base(&HeaderMap::new(), &path(), true).as_deref(),
            Some("https://auth.example.com")
        );
        let prefixed = IssuerPolicy::public_url("https://shared.example/gw").unwrap();
        assert_eq!(prefixed.base(&host("x"), &path(), true).as_deref(), Some("https://shared.example/gw"));
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
        assert_eq!(
            policy.base(&host("API.example.com"), &path(), true).as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            policy.base(&host("127.0.0.1:8080"), &path(), false).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for other in ["evil.example", "api.example.com.evil.example", "127.0.0.1:8081"] {
            assert_eq!(policy.base(&host(other), &path(), false), None, "{other}");
        }
        assert_eq!(policy.base(&HeaderMap::new(), &path(), false), None);
        assert_eq!(IssuerPolicy::default().base(&host("127.0.0.1:8080"), &path(), false), None);
    }

    #[test]
    fn an_http2_authority_stands_for_the_host() {
        // hyper gives an h2 request its `:authority` in the URI and no Host header.
        let h2 = |authority: &str| {
            Uri::builder()
                .scheme("https")
                .authority(authority)
                .path_and_query("/.well-known/oauth-authorization-server/api")
                .build()
                .unwrap()
        };
        let policy = IssuerPolicy::AllowedHosts(vec!["api.example.com".into()]);
        let none = HeaderMap::new();
        assert_eq!(
            policy.base(&none, &h2("api.example.com"), true).as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(policy.base(&none, &h2("evil.example"), true), None);
        // A Host header, when there is one, is what is checked.
        assert_eq!(policy.base(&host("evil.example"), &h2("api.example.com"), true), None);
    }
}
