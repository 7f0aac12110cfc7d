//! Gatehouse's own extension block, for the settings Tyk has no place for: `x-gatehouse` in
//! Tyk OAS, `gatehouse` in Tyk Classic. Both forms carry the same settings (`token_auth`,
//! token lifetimes, the error status, upstream TLS), each spelt as its form spells its own
//! fields; writing and reading them is done here once, over the form's [`ExtensionKeys`]. OAS
//! adds its versioning (Classic has Tyk's own `version_data`).

use serde_json::{Map, Value, json};

use crate::imported::ImportError;
use crate::path::{Obj, Warnings};
use gatehouse_model::{Api, OAuthSettings, UpstreamTls};

/// The names the extension's settings go under in one form.
pub(crate) struct ExtensionKeys {
    pub token_auth: &'static str,
    pub access_ttl: &'static str,
    pub refresh_ttl: &'static str,
    pub code_ttl: &'static str,
    pub error_status: &'static str,
    pub upstream_tls: &'static str,
    pub tls_ca: &'static str,
    pub tls_cert: &'static str,
    pub tls_key: &'static str,
}

// The spellings live here rather than in `oas.rs` and `classic.rs`, which read their form's
// extension through these keys: defined there, each importer and this module would import
// each other.

/// `x-gatehouse`: camelCase, as OpenAPI and Tyk OAS spell fields.
pub(crate) const OAS: ExtensionKeys = ExtensionKeys {
    token_auth: "tokenAuth",
    access_ttl: "accessTokenTtlSeconds",
    refresh_ttl: "refreshTokenTtlSeconds",
    code_ttl: "codeTtlSeconds",
    error_status: "errorStatusCode",
    upstream_tls: "upstreamTls",
    tls_ca: "caPem",
    tls_cert: "clientCertFile",
    tls_key: "clientKeyFile",
};

/// `gatehouse`: snake_case, as Tyk Classic spells fields.
pub(crate) const CLASSIC: ExtensionKeys = ExtensionKeys {
    token_auth: "token_auth",
    access_ttl: "access_token_ttl_seconds",
    refresh_ttl: "refresh_token_ttl_seconds",
    code_ttl: "code_ttl_seconds",
    error_status: "error_status_code",
    upstream_tls: "upstream_tls",
    tls_ca: "ca_pem",
    tls_cert: "client_cert_file",
    tls_key: "client_key_file",
};

/// The settings of `api` that Tyk has no place for, each only when it is not the default.
pub(crate) fn write(api: &Api, keys: &ExtensionKeys) -> Map<String, Value> {
    let mut ext = Map::new();
    if api.token_auth {
        ext.insert(keys.token_auth.to_owned(), true.into());
    }
    if let Some(oauth) = &api.oauth {
        let mut settings = Map::new();
        for (key, secs) in [
            (keys.access_ttl, oauth.access_token_ttl_secs),
            (keys.refresh_ttl, oauth.refresh_token_ttl_secs),
            (keys.code_ttl, oauth.code_ttl_secs),
        ] {
            if secs != 0 {
                settings.insert(key.to_owned(), secs.into());
            }
        }
        if let Some(status) = oauth.error_status {
            settings.insert(keys.error_status.to_owned(), status.into());
        }
        if !settings.is_empty() {
            ext.insert("oauth".to_owned(), settings.into());
        }
    }
    let tls = &api.upstream_tls;
    if !tls.is_default() {
        ext.insert(
            keys.upstream_tls.to_owned(),
            json!({ keys.tls_ca: tls.ca_pem, keys.tls_cert: tls.client_cert_file, keys.tls_key: tls.client_key_file }),
        );
    }
    ext
}

/// Reads the extension's `oauth` block into the imported OAuth settings; warns when the API
/// has no authorization server for them to apply to.
pub(crate) fn read_oauth(
    ext: &Obj<'_>,
    settings: Option<&mut OAuthSettings>,
    keys: &ExtensionKeys,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    let Some(o) = ext.obj("oauth")? else { return Ok(()) };
    match settings {
        Some(s) => {
            s.access_token_ttl_secs = o.u64(keys.access_ttl)?.unwrap_or(0);
            s.refresh_token_ttl_secs = o.u64(keys.refresh_ttl)?.unwrap_or(0);
            s.code_ttl_secs = o.u64(keys.code_ttl)?.unwrap_or(0);
            s.error_status = o
                .u64(keys.error_status)?
                .map(|status| {
                    u16::try_from(status)
                        .map_err(|_| ImportError::new(o.at(keys.error_status), "must be a 4xx status"))
                })
                .transpose()?;
            w.unmapped(&o, &[keys.access_ttl, keys.refresh_ttl, keys.code_ttl, keys.error_status]);
        }
        None if !o.is_default() => w.add(
            o.path(),
            "the API has no OAuth authorization server, so these settings do not apply; ignored",
        ),
        None => {}
    }
    Ok(())
}

/// Reads the extension's upstream TLS block (Tyk names upstream certificates by id in its own
/// store, so they travel here).
pub(crate) fn read_upstream_tls(
    ext: &Obj<'_>,
    keys: &ExtensionKeys,
    w: &mut Warnings,
) -> Result<UpstreamTls, ImportError> {
    let Some(t) = ext.obj(keys.upstream_tls)? else { return Ok(UpstreamTls::default()) };
    w.unmapped(&t, &[keys.tls_ca, keys.tls_cert, keys.tls_key]);
    Ok(UpstreamTls {
        ca_pem: t.str(keys.tls_ca)?.unwrap_or_default().to_owned(),
        client_cert_file: t.str(keys.tls_cert)?.unwrap_or_default().to_owned(),
        client_key_file: t.str(keys.tls_key)?.unwrap_or_default().to_owned(),
    })
}
