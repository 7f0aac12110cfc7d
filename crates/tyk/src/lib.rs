//! `gatehouse-tyk`: importing API definitions written for Tyk into Gatehouse's domain types
//! ([`gatehouse_model`]), and exporting Gatehouse's as Tyk OAS and Classic.
//!
//! # Layout
//! - `lib.rs`: [`Imported`], [`ImportError`], [`parse_json`], and what both importers share
//!   (validation at JSON paths, canonical grants, authorize types, the notification webhook).
//! - `path.rs`: walking JSON objects with their paths, typed reads, the "unmapped field" warnings.
//! - `oas.rs`: Tyk OAS import ([`import_oas`]): the document, `x-tyk-api-gateway`, versioning.
//! - `oas_auth.rs`: Tyk OAS authentication: security schemes, OAuth flows, `authToken`.
//! - `export.rs`: Tyk OAS export ([`export_oas`]).
//! - `classic.rs`: Tyk Classic import ([`import_classic`]), `version_data` included.
//! - `classic_export.rs`: Tyk Classic export ([`export_classic`]).
//! - `credentials.rs`: where tokens are read from (header, query parameter, cookie), both forms.
//! - `extension.rs`: Gatehouse's own block (`x-gatehouse`, `gatehouse`), its keys per form,
//!   written and read once for both.
//! - `oas_tests.rs`, `classic_tests.rs`: each importer's unit tests; `roundtrip_tests.rs`: the
//!   export → import property tests (proptest). `tests/tyk_import.rs`: Tyk's own OAuth example.
//!
//! # Nothing dropped silently
//! Tyk users migrate by handing Gatehouse the definitions they already have: Tyk OAS (an
//! OpenAPI 3 document carrying `x-tyk-api-gateway`) or Tyk Classic (bare, or wrapped in
//! `{"api_definition": …}` as the Dashboard takes it). Gatehouse supports a small part of what
//! those formats can say, so the import never drops a setting silently: every field it does not
//! carry over comes back as a warning naming its JSON path, and every setting whose loss would
//! weaken security (another authentication method: Gatehouse would serve the API keyless) is an
//! [`ImportError`].
//!
//! Everything here is pure: text in, values out. The imported [`Api`] has passed
//! [`Api::validate`] (so its listen path is normalised), except that `api_id` stays empty when
//! the definition has none: the control plane assigns one.
//!
//! # Export → import is the identity
//! Every setting of an [`Api`] survives [`export_oas`] → [`import_oas`] and [`export_classic`]
//! → [`import_classic`] without warnings (a property test in `roundtrip_tests.rs` checks it over
//! generated APIs). Where Tyk's format has a place for a setting, the export uses it:
//!
//! | Setting | Tyk OAS | Tyk Classic |
//! |---|---|---|
//! | listen path, strip | `server.listenPath` | `proxy.listen_path`, `strip_listen_path` |
//! | upstream URL | `upstream.url` | `proxy.target_url` |
//! | OAuth grants | OpenAPI `flows` + `refreshToken` | `oauth_meta.allowed_access_types` |
//! | authorize types, login redirect, webhook | the `oauth` scheme | `oauth_meta`, `notifications` |
//! | `token_auth` (no `oauth`) | an `authToken` scheme (OpenAPI `apiKey`) | `use_standard_auth` |
//! | credential header, query parameter, cookie | the scheme's `header`, `query`, `cookie` | `auth_configs.<oauth\|authToken>` |
//! | `strip_auth_data` | `authentication.stripAuthorizationData` | `strip_auth_data` |
//! | keyless | `authentication.enabled: false` | `use_keyless: true` |
//! | versioning | `x-gatehouse.versioning` | `definition` + `version_data` |
//!
//! What Tyk keeps elsewhere or has no place for travels in Gatehouse's own extension, which Tyk
//! ignores and the importers read back: `x-gatehouse` in an OAS document (camelCase keys),
//! `gatehouse` in a Classic definition (snake_case keys). It carries `tokenAuth`/`token_auth`
//! (Tyk's auth tokens are not Gatehouse's: an apiKey scheme or `use_standard_auth` imports only
//! when the extension says it means `token_auth`, and is refused otherwise), the token lifetimes
//! and error status (`oauth`), the upstream CA bundle and client certificate paths
//! (`upstreamTls`/`upstream_tls`: Tyk names certificates by id in its own store), and in OAS the
//! versioning (Tyk OAS versions are separate APIs, Gatehouse's are names on one API).
//!
//! The round trip normalises what means the same: grants come back in one canonical order
//! without repeats, `allowed_authorize_types` without repeats, a credential header named
//! `Authorization` in any case as the default (empty), and Classic version names (JSON object
//! keys) sorted and without repeats. An API without a name does not export to a definition Tyk
//! accepts, and its import is refused naming `info.name` / `name`.
//!
//! # Keyless only on purpose
//! [`Imported::explicitly_keyless`] tells the control plane whether a keyless result is what the
//! document says (`authentication.enabled: false`, `use_keyless: true`) or only what is left
//! when its authentication is missing; the control plane refuses to replace a protected API by
//! the latter unless the caller opts in.

mod classic;
mod classic_export;
mod credentials;
mod export;
mod extension;
mod oas;
mod oas_auth;
mod path;

#[cfg(test)]
mod classic_tests;
#[cfg(test)]
mod oas_tests;
#[cfg(test)]
mod roundtrip_tests;

use serde_json::Value;

use gatehouse_model::{Api, GrantType, Notifications, ValidationError};
use path::{Obj, Warnings};

pub use classic::import_classic;
pub use classic_export::export_classic;
pub use export::export_oas;
pub use oas::import_oas;

/// An API definition converted from Tyk's format, with every field Gatehouse does not support
/// reported (never silently dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub api: Api,
    /// Each one `"<json path>: <why it is not supported / what Gatehouse does instead>"`.
    pub warnings: Vec<String>,
    /// The API is keyless because the definition says so (`authentication.enabled: false` in
    /// Tyk OAS, `use_keyless: true` in Classic), not because its authentication is missing.
    /// Only such an import may replace a protected API without the caller's opt-in.
    pub explicitly_keyless: bool,
}

/// A definition Gatehouse cannot import, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImportError {
    /// A JSON path such as `x-tyk-api-gateway.server.listenPath.value`, or `line 52, column 9`
    /// for a syntax error.
    pub path: String,
    pub message: String,
}

impl ImportError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Parses JSON text, with errors that name the line and column (serde_json's), e.g. for the
/// trailing comma that Tyk's own documentation example carries.
pub fn parse_json(text: &str) -> Result<Value, ImportError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C" to its message; the position goes into
        // `path` instead, so the message reads once.
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        let message = if message == "trailing comma" {
            "trailing comma: JSON allows no comma before a closing } or ]; remove it".to_owned()
        } else {
            message.to_owned()
        };
        ImportError::new(format!("line {}, column {}", e.line(), e.column()), message)
    })
}

/// Where each field [`Api::validate`] can complain about came from in the source document, so
/// its errors point at the JSON the admin wrote rather than at Gatehouse's field names.
struct FieldPaths {
    api_id: String,
    listen_path: String,
    auth_login_redirect: String,
    allowed_authorize_types: String,
    notifications_url: String,
    /// Where the credential header, query parameter and cookie names came from.
    header_name: String,
    query_param: String,
    cookie_name: String,
    /// Other domain fields and their paths in this format: a field `f` also renames `f[i]`.
    more: Vec<(&'static str, String)>,
}

/// Runs the domain validation on an imported API and reports failures at their JSON paths.
///
/// An empty `api_id` is legal here (the control plane generates one), so validation runs with a
/// placeholder id and the empty id is put back afterwards.
fn validated(mut api: Api, paths: &FieldPaths) -> Result<Api, ImportError> {
    let generate_id = api.api_id.is_empty();
    if generate_id {
        api.api_id = "imported".to_owned();
    }
    let mut api = api.validate().map_err(|e| translate(e, paths))?;
    if generate_id {
        api.api_id.clear();
    }
    Ok(api)
}

fn translate(e: ValidationError, paths: &FieldPaths) -> ImportError {
    let path = match e.field.as_str() {
        "api_id" => paths.api_id.clone(),
        "listen_path" => paths.listen_path.clone(),
        "oauth.auth_login_redirect" => paths.auth_login_redirect.clone(),
        "oauth.allowed_authorize_types" => paths.allowed_authorize_types.clone(),
        "oauth.notifications.url" => paths.notifications_url.clone(),
        "auth_header_name" => paths.header_name.clone(),
        "auth_query_param" => paths.query_param.clone(),
        "auth_cookie_name" => paths.cookie_name.clone(),
        other => paths
            .more
            .iter()
            .find_map(|(field, path)| {
                other
                    .strip_prefix(field)
                    .filter(|rest| rest.is_empty() || rest.starts_with('['))
                    .map(|rest| format!("{path}{rest}"))
            })
            .unwrap_or_else(|| other.to_owned()),
    };
    ImportError::new(path, e.message)
}

/// Sorts grants into one canonical order, whatever the document's, and drops repeats: imports
/// that mean the same compare equal.
fn canonical_grants(grants: &mut Vec<GrantType>) {
    grants.sort_by_key(|g| GrantType::ALL.iter().position(|x| x == g));
    grants.dedup();
}

/// The `response_type`s of `/oauth/authorize`: only `code` survives.
fn authorize_types(items: Vec<(String, &str)>, w: &mut Warnings) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for (path, t) in items {
        match t {
            "code" if types.is_empty() => types.push("code".to_owned()),
            "code" => {}
            "token" => w.add(
                &path,
                "the implicit grant (response_type=token) is not imported: it is unsafe (RFC 9700 \
                 §2.1.2); clients should use the authorization code grant with PKCE",
            ),
            other => w.add(&path, format!("unknown authorize type {other:?}; ignored")),
        }
    }
    types
}

/// Tyk's token notification webhook; an empty URL means none (as in Tyk).
fn notifications(
    obj: &Obj<'_>,
    url_key: &str,
    secret_key: &str,
    w: &mut Warnings,
) -> Result<Option<Notifications>, ImportError> {
    let url = obj.str(url_key)?.unwrap_or_default();
    let shared_secret = obj.str(secret_key)?.unwrap_or_default();
    if url.is_empty() {
        if !shared_secret.is_empty() {
            w.add(&obj.at(secret_key), format!("ignored: there is no {url_key} to send notifications to"));
        }
        return Ok(None);
    }
    Ok(Some(Notifications { url: url.to_owned(), shared_secret: shared_secret.to_owned() }))
}
