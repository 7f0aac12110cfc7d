//! API definitions.

use std::fmt;
use std::str::FromStr;

use http::Uri;
use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::id::check_id;
use crate::versioning::Versioning;

/// An API proxied by the gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Api {
    pub api_id: String,
    pub name: String,
    /// Always starts and ends with `/` (normalised by [`Api::validate`]).
    pub listen_path: String,
    pub strip_listen_path: bool,
    pub upstream: Upstream,
    /// `None`: no authorization server on this API.
    pub oauth: Option<OAuthSettings>,
    /// Accept bearer tokens that another API's authorization server issued, when the token's
    /// policy grants this API (Tyk's multi-API access through the Auth Token method). An API
    /// with neither this nor `oauth` is keyless.
    #[serde(default)]
    pub token_auth: bool,
    /// Where requests carry their token, and whether it is removed before proxying.
    #[serde(default)]
    pub credentials: CredentialLocation,
    /// `None`: unversioned, every request is served alike. Boxed: most APIs have none, and
    /// config changes carry whole APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Box<Versioning>>,
    /// How the gateways verify and authenticate to an https upstream. Boxed: rarely set, and
    /// it would otherwise grow every `Api` (and every config `Change`) by three strings.
    #[serde(default)]
    pub upstream_tls: Box<UpstreamTls>,
}

/// TLS towards an https upstream. The upstream's certificate is always verified, and its name
/// checked against the upstream URL's host (also sent as SNI); there is no switch to skip that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UpstreamTls {
    /// PEM CA certificates the upstream's chain must lead to, instead of the system's trust
    /// store. Public data: carried in the config like any other field.
    pub ca_pem: String,
    /// Paths, on every gateway node, of a PEM client certificate chain and its key, for
    /// upstreams that require mutual TLS. Paths rather than contents: the private key stays on
    /// the nodes (mounted from a Secret) and never enters the control plane's state, its admin
    /// API or the config stream.
    pub client_cert_file: String,
    pub client_key_file: String,
}

impl UpstreamTls {
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    fn validate(&self, upstream: &Upstream) -> Result<(), ValidationError> {
        if self.is_default() {
            return Ok(());
        }
        if upstream.scheme != "https" {
            let field = if self.ca_pem.is_empty() { "upstream_client_cert_file" } else { "upstream_ca_pem" };
            return Err(ValidationError::new(field, "applies to https upstreams only"));
        }
        if !self.ca_pem.is_empty() && !self.ca_pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ValidationError::new("upstream_ca_pem", "must hold PEM CA certificates"));
        }
        match (self.client_cert_file.is_empty(), self.client_key_file.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (field, path) in [
                    ("upstream_client_cert_file", &self.client_cert_file),
                    ("upstream_client_key_file", &self.client_key_file),
                ] {
                    if !path.starts_with('/') {
                        return Err(ValidationError::new(
                            field,
                            "must be an absolute path on the gateway nodes",
                        ));
                    }
                }
            }
            (true, false) => {
                return Err(ValidationError::new(
                    "upstream_client_cert_file",
                    "is required with upstream_client_key_file",
                ));
            }
            (false, true) => {
                return Err(ValidationError::new(
                    "upstream_client_key_file",
                    "is required with upstream_client_cert_file",
                ));
            }
        }
        Ok(())
    }
}

/// Where a protected API's requests carry their bearer token. As in Tyk, the header is read
/// first, and a query parameter or cookie, when configured and present, takes precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialLocation {
    /// Header holding `Bearer <token>`; empty means `Authorization`.
    pub header_name: String,
    /// Query parameter holding the token; empty: none.
    pub query_param: String,
    /// Cookie holding the token; empty: none.
    pub cookie_name: String,
    /// Remove the credential before forwarding to the upstream (Tyk's `strip_auth_data`).
    pub strip: bool,
}

impl CredentialLocation {
    pub fn header(&self) -> &str {
        if self.header_name.is_empty() { "authorization" } else { &self.header_name }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let token_chars = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
        if !token_chars(&self.header_name) || http::HeaderName::from_bytes(self.header().as_bytes()).is_err()
        {
            return Err(ValidationError::new("auth_header_name", "is not a valid header name"));
        }
        if !token_chars(&self.query_param) {
            return Err(ValidationError::new(
                "auth_query_param",
                "may contain only letters, digits and - _ . ~",
            ));
        }
        if !token_chars(&self.cookie_name) {
            return Err(ValidationError::new(
                "auth_cookie_name",
                "may contain only letters, digits and - _ . ~",
            ));
        }
        Ok(())
    }
}

impl Api {
    /// Whether requests must carry a bearer token.
    pub fn requires_token(&self) -> bool {
        self.oauth.is_some() || self.token_auth
    }
}

impl Api {
    /// Checks every field and normalises the listen path. Returns the first rule broken.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        if self.api_id.is_empty() {
            return Err(ValidationError::new("api_id", "must not be empty"));
        }
        check_id("api_id", &self.api_id)?;
        self.listen_path = normalise_listen_path(&self.listen_path)?;
        self.credentials.validate()?;
        if let Some(versioning) = &self.versioning {
            versioning.validate()?;
        }
        self.upstream_tls.validate(&self.upstream)?;
        if let Some(oauth) = &self.oauth {
            oauth.validate()?;
        }
        Ok(self)
    }
}

fn normalise_listen_path(raw: &str) -> Result<String, ValidationError> {
    let field = "listen_path";
    if raw.is_empty() {
        return Err(ValidationError::new(field, "is required, e.g. \"/my-api/\""));
    }
    if !raw.starts_with('/') {
        return Err(ValidationError::new(field, "must start with '/'"));
    }
    if raw.contains(['?', '#', ' ']) || raw.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(ValidationError::new(
            field,
            "must be a plain path without '?', '#', spaces or dot segments",
        ));
    }
    let mut path = raw.to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    Ok(path)
}

/// Where a gateway forwards an API's traffic: `scheme://authority[/base-path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: String,
    pub authority: String,
    /// Prefix joined in front of the forwarded path; empty or starting with `/` and without a
    /// trailing `/`.
    pub base_path: String,
}

impl FromStr for Upstream {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let field = "upstream_url";
        if s.is_empty() {
            return Err(ValidationError::new(field, "is required, e.g. \"http://127.0.0.1:9000\""));
        }
        let uri: Uri =
            s.parse().map_err(|e| ValidationError::new(field, format!("is not a valid URL: {e}")))?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            Some(other) => {
                return Err(ValidationError::new(
                    field,
                    format!("scheme {other:?} is not supported (http or https)"),
                ));
            }
            None => return Err(ValidationError::new(field, "must be absolute, e.g. \"http://host:port\"")),
        };
        let authority =
            uri.authority().ok_or_else(|| ValidationError::new(field, "has no host"))?.to_string();
        if uri.query().is_some() {
            return Err(ValidationError::new(field, "must not carry a query string"));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self { scheme: scheme.to_owned(), authority, base_path })
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

impl Serialize for Upstream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The OAuth 2.0 grants (RFC 6749 §4, §6), named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    Password,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

impl FromStr for GrantType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s).ok_or(())
    }
}

/// Default lifetimes, as Tyk's (`oauth_token_expire`, `oauth_refresh_token_expire`) and within
/// RFC 9700's advice for codes.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 3600;
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: u64 = 14 * 24 * 3600;
pub const DEFAULT_CODE_TTL_SECS: u64 = 60;

/// How an API acts as an authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthSettings {
    pub allowed_grant_types: Vec<GrantType>,
    pub allowed_authorize_types: Vec<String>,
    pub auth_login_redirect: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub code_ttl_secs: u64,
    /// Tyk's token notification webhook.
    #[serde(default)]
    pub notifications: Option<Notifications>,
    /// Status for OAuth error responses instead of RFC 6749's 400/401, for clients written
    /// against Tyk (whose `oauth_error_status_code` defaults to 403). `None`: RFC statuses.
    #[serde(default)]
    pub error_status: Option<u16>,
}

/// Where token notifications go, and the secret sent with them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub url: String,
    pub shared_secret: String,
}

impl fmt::Debug for Notifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifications").field("url", &self.url).field("shared_secret", &"<redacted>").finish()
    }
}

impl OAuthSettings {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.allowed_grant_types.contains(&grant)
    }

    /// Whether token responses of the code and password grants carry a refresh token.
    pub fn issues_refresh_tokens(&self) -> bool {
        self.allows(GrantType::RefreshToken)
    }

    pub fn access_token_ttl(&self) -> u64 {
        or_default(self.access_token_ttl_secs, DEFAULT_ACCESS_TOKEN_TTL_SECS)
    }

    pub fn refresh_token_ttl(&self) -> u64 {
        or_default(self.refresh_token_ttl_secs, DEFAULT_REFRESH_TOKEN_TTL_SECS)
    }

    pub fn code_ttl(&self) -> u64 {
        or_default(self.code_ttl_secs, DEFAULT_CODE_TTL_SECS)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        for t in &self.allowed_authorize_types {
            if t != "code" {
                return Err(ValidationError::new(
                    "oauth.allowed_authorize_types",
                    format!(
                        "{t:?} is not supported (only \"code\"; the implicit grant is unsafe, RFC 9700 §2.1.2)"
                    ),
                ));
            }
        }
        if self.code_ttl_secs > 600 {
            return Err(ValidationError::new(
                "oauth.code_ttl_seconds",
                "must be at most 600 (RFC 6749 §4.1.2)",
            ));
        }
        if self.allows(GrantType::AuthorizationCode) && self.auth_login_redirect.is_empty() {
            return Err(ValidationError::new(
                "oauth.auth_login_redirect",
                "is required with the authorization_code grant: /oauth/authorize redirects there",
            ));
        }
        if let Some(status) = self.error_status
            && !(400..=499).contains(&status)
        {
            return Err(ValidationError::new("oauth.error_status_code", "must be a 4xx status"));
        }
        if let Some(n) = &self.notifications
            && !n.url.starts_with("http://")
        {
            return Err(ValidationError::new(
                "oauth.notifications.url",
                "must be an http:// URL (https webhooks arrive with the TLS work)",
            ));
        }
        Ok(())
    }
}

fn or_default(configured: u64, default: u64) -> u64 {
    if configured == 0 { default } else { configured }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::ApiBuilder;

    fn api(listen_path: &str) -> Api {
        ApiBuilder::new("a1").name("n").listen_path(listen_path).upstream("http://127.0.0.1:9000").build()
    }

    #[test]
    fn listen_path_gets_trailing_slash() {
        assert_eq!(api("/my-api").validate().unwrap().listen_path, "/my-api/");
        assert_eq!(api("/").validate().unwrap().listen_path, "/");
    }

    #[test]
    fn bad_listen_paths_name_the_field() {
        for bad in ["", "my-api", "/a/../b", "/a?b"] {
            let err = api(bad).validate().unwrap_err();
            assert_eq!(err.field, "listen_path", "{bad:?}");
        }
    }

    #[test]
    fn upstream_parses_base_path() {
        let u: Upstream = "http://h:1/base/".parse().unwrap();
        assert_eq!((u.scheme.as_str(), u.authority.as_str(), u.base_path.as_str()), ("http", "h:1", "/base"));
        assert_eq!(u.to_string(), "http://h:1/base");
        assert!("ftp://h".parse::<Upstream>().is_err());
        assert_eq!("https://h:8443".parse::<Upstream>().unwrap().scheme, "https");
        assert!("/relative".parse::<Upstream>().is_err());
    }

    #[test]
    fn upstream_tls_needs_https_and_pairs() {
        let mut a = api("/a/");
        a.upstream_tls.ca_pem = "-----BEGIN CERTIFICATE-----\n".into();
        assert_eq!(a.clone().validate().unwrap_err().field, "upstream_ca_pem");
        a.upstream = "https://h:8443".parse().unwrap();
        assert!(a.clone().validate().is_ok());
        a.upstream_tls.client_cert_file = "/etc/c.pem".into();
        assert_eq!(a.clone().validate().unwrap_err().field, "upstream_client_key_file");
        a.upstream_tls.client_key_file = "relative.key".into();
        assert_eq!(a.clone().validate().unwrap_err().field, "upstream_client_key_file");
        a.upstream_tls.client_key_file = "/etc/c.key".into();
        assert!(a.validate().is_ok());
    }

    #[test]
    fn grant_types_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert!("implicit".parse::<GrantType>().is_err());
    }
}
