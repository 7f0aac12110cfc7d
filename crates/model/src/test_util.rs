//! Builders for the domain values tests set up over and over, so a test spells out only the
//! fields it is about. Behind the `test-util` feature: never compiled into a release binary.
//!
//! The defaults are what most tests wrote by hand before: a keyless API at `/<id>/` that strips
//! its listen path and proxies to a port nothing listens on, and a client-credentials session of
//! client `app` on API `orders` under policy `gold`, valid for an hour from a fixed instant.

// Test fixtures: a malformed literal in a test should fail loudly at the line that wrote it.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;

use crate::{Api, CredentialLocation, GrantType, OAuthSettings, Session, Upstream, Versioning};

/// Upstream of a built [`Api`] unless set: port 1 on loopback, where nothing listens, so a test
/// that proxies by mistake fails instead of reaching some other service.
pub const UNREACHABLE_UPSTREAM: &str = "http://127.0.0.1:1";

/// An [`Api`] with every field defaulted (see the module doc); set what the test varies.
#[derive(Debug, Clone)]
pub struct ApiBuilder {
    api: Api,
}

impl ApiBuilder {
    /// API `id`, named `id`, listening on `/<id>/` (stripped before proxying), upstream
    /// [`UNREACHABLE_UPSTREAM`], keyless (no OAuth, no token auth), unversioned, plain TLS
    /// defaults.
    pub fn new(id: &str) -> Self {
        Self {
            api: Api {
                api_id: id.into(),
                name: id.into(),
                listen_path: format!("/{id}/"),
                strip_listen_path: true,
                upstream: upstream(UNREACHABLE_UPSTREAM),
                oauth: None,
                token_auth: false,
                credentials: CredentialLocation::default(),
                versioning: None,
                upstream_tls: Default::default(),
            },
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.api.name = name.into();
        self
    }

    /// Taken as given, not normalised: tests of [`Api::validate`] need the raw value.
    pub fn listen_path(mut self, listen_path: impl Into<String>) -> Self {
        self.api.listen_path = listen_path.into();
        self
    }

    pub fn strip_listen_path(mut self, strip: bool) -> Self {
        self.api.strip_listen_path = strip;
        self
    }

    /// Panics on a malformed URL: a fixture error, not a case under test.
    pub fn upstream(mut self, url: &str) -> Self {
        self.api.upstream = upstream(url);
        self
    }

    /// Makes the API an authorization server with `settings` (see [`oauth_settings`]).
    pub fn oauth(mut self, settings: OAuthSettings) -> Self {
        self.api.oauth = Some(settings);
        self
    }

    pub fn token_auth(mut self, token_auth: bool) -> Self {
        self.api.token_auth = token_auth;
        self
    }

    pub fn credentials(mut self, credentials: CredentialLocation) -> Self {
        self.api.credentials = credentials;
        self
    }

    pub fn versioning(mut self, versioning: Option<Versioning>) -> Self {
        self.api.versioning = versioning.map(Box::new);
        self
    }

    pub fn build(self) -> Api {
        self.api
    }
}

/// OAuth settings allowing `grants` and nothing else: no authorize response types, no login
/// redirect, every TTL 0 (the built-in defaults), no notifications, RFC error statuses.
pub fn oauth_settings(grants: &[GrantType]) -> OAuthSettings {
    OAuthSettings {
        allowed_grant_types: grants.to_vec(),
        allowed_authorize_types: vec![],
        auth_login_redirect: String::new(),
        access_token_ttl_secs: 0,
        refresh_token_ttl_secs: 0,
        code_ttl_secs: 0,
        notifications: None,
        error_status: None,
    }
}

fn upstream(url: &str) -> Upstream {
    url.parse().expect("test upstream URL is valid")
}

/// A [`Session`] with every field defaulted (see the module doc); set what the test varies.
#[derive(Debug, Clone)]
pub struct SessionBuilder {
    session: Session,
}

/// Issue instant of a built [`Session`] unless set (2023-11-14): fixed, so records and TTL
/// arithmetic in tests are reproducible.
pub const ISSUED_AT: u64 = 1_700_000_000;

impl Default for SessionBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionBuilder {
    /// Client `app` on API `orders` under policy `gold`, client-credentials grant, no metadata,
    /// issued at [`ISSUED_AT`] and expiring an hour later, no family, scope or username.
    pub fn new() -> Self {
        Self {
            session: Session {
                api_id: "orders".into(),
                client_id: "app".into(),
                policy_id: "gold".into(),
                grant: GrantType::ClientCredentials,
                meta_data: BTreeMap::new(),
                issued_at: ISSUED_AT,
                expires_at: ISSUED_AT + 3600,
                family_id: None,
                scope: None,
                username: None,
            },
        }
    }

    pub fn api(mut self, api_id: impl Into<String>) -> Self {
        self.session.api_id = api_id.into();
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.session.client_id = client_id.into();
        self
    }

    pub fn policy(mut self, policy_id: impl Into<String>) -> Self {
        self.session.policy_id = policy_id.into();
        self
    }

    pub fn grant(mut self, grant: GrantType) -> Self {
        self.session.grant = grant;
        self
    }

    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.session.meta_data.insert(key.into(), value.into());
        self
    }

    pub fn issued_at(mut self, issued_at: u64) -> Self {
        self.session.issued_at = issued_at;
        self
    }

    pub fn expires_at(mut self, expires_at: u64) -> Self {
        self.session.expires_at = expires_at;
        self
    }

    pub fn family(mut self, family_id: impl Into<String>) -> Self {
        self.session.family_id = Some(family_id.into());
        self
    }

    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.session.scope = Some(scope.into());
        self
    }

    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.session.username = Some(username.into());
        self
    }

    pub fn build(self) -> Session {
        self.session
    }
}
