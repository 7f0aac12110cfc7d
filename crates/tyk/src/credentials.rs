//! Where a protected API's requests carry their token ([`CredentialLocation`]), in both Tyk
//! formats: a Tyk OAS security scheme's `header`, `query` and `cookie` sources (for an auth
//! token, also the OpenAPI `apiKey` scheme's `in` and `name`, which Tyk reads), and a Classic
//! auth config (`auth_header_name`, `use_param` + `param_name`, `use_cookie` + `cookie_name`).
//!
//! As in Tyk, an enabled query parameter or cookie without a name takes the header's name.
//! A header named `Authorization` (in any case) is the default and imports as such (empty).
//! Tyk can switch the header off; Gatehouse always reads it, which only ever accepts more
//! requests carrying a valid token, and says so in a warning.

use serde_json::{Map, Value, json};

use crate::imported::ImportError;
use crate::path::{Obj, Warnings};
use gatehouse_model::CredentialLocation;

/// The header Tyk and Gatehouse read when none is named.
const DEFAULT_HEADER: &str = "Authorization";

/// Where each name of a [`CredentialLocation`] came from, for validation errors.
pub(crate) struct SourcePaths {
    pub header: String,
    pub query: String,
    pub cookie: String,
}

/// The source an OpenAPI `apiKey` security scheme names (`in`, `name`): Tyk reads the auth token
/// there too, so a Tyk OAS auth token scheme often says nothing more than `enabled: true`.
pub(crate) struct ApiKeySource<'a> {
    /// `header`, `query` or `cookie`.
    pub place: &'a str,
    pub name: &'a str,
    /// The path of `name`, for validation errors.
    pub path: String,
}

/// A Tyk OAS scheme's sources (`X-Tyk-AuthSource`: `{enabled, name}` each). `api_key`: the
/// OpenAPI scheme's own source, read where Tyk's scheme names none of that kind.
pub(crate) fn from_oas_scheme(
    scheme: &Obj<'_>,
    api_key: Option<ApiKeySource<'_>>,
    w: &mut Warnings,
) -> Result<(CredentialLocation, SourcePaths), ImportError> {
    let mut location = CredentialLocation::default();
    let header_path = scheme.at("header");
    let mut paths = SourcePaths {
        header: format!("{header_path}.name"),
        query: scheme.at("query"),
        cookie: scheme.at("cookie"),
    };
    let fallback = |place: &str| api_key.as_ref().filter(|k| k.place == place);
    match scheme.obj("header")? {
        Some(header) if header.flag("enabled")? => {
            location.header_name = header_name(header.str("name")?.unwrap_or_default());
            w.unmapped(&header, &["enabled", "name"]);
        }
        Some(header) => w.add(&header.at("enabled"), HEADER_OFF),
        None => match fallback("header") {
            Some(key) => {
                location.header_name = header_name(key.name);
                paths.header.clone_from(&key.path);
            }
            None => w.add(&header_path, HEADER_ABSENT),
        },
    }
    for (key, path, name) in [
        ("query", &mut paths.query, &mut location.query_param),
        ("cookie", &mut paths.cookie, &mut location.cookie_name),
    ] {
        let Some(source) = scheme.obj(key)? else {
            if let Some(api_key) = fallback(key) {
                *name = source_name(api_key.name, &location.header_name);
                path.clone_from(&api_key.path);
            }
            continue;
        };
        w.unmapped(&source, &["enabled", "name"]);
        if source.flag("enabled")? {
            *name = source_name(source.str("name")?.unwrap_or_default(), &location.header_name);
            *path = source.at("name");
        }
    }
    Ok((location, paths))
}

/// The sources of a Tyk OAS scheme, with every name written out (no Tyk fallbacks).
pub(crate) fn to_oas_scheme(location: &CredentialLocation, scheme: &mut Map<String, Value>) {
    let header = if location.header_name.is_empty() { DEFAULT_HEADER } else { &location.header_name };
    scheme.insert("header".to_owned(), json!({ "enabled": true, "name": header }));
    for (key, name) in [("query", &location.query_param), ("cookie", &location.cookie_name)] {
        if !name.is_empty() {
            scheme.insert(key.to_owned(), json!({ "enabled": true, "name": name }));
        }
    }
}

/// A Classic auth config (`auth`, `auth_configs.oauth` or `auth_configs.authToken`). Its other
/// keys (signature validation, client certificates) belong to Tyk's own auth tokens.
pub(crate) fn from_classic(
    config: &Obj<'_>,
    w: &mut Warnings,
) -> Result<(CredentialLocation, SourcePaths), ImportError> {
    let mut location = CredentialLocation {
        header_name: header_name(config.str("auth_header_name")?.unwrap_or_default()),
        ..Default::default()
    };
    if config.flag("disable_header")? {
        w.add(&config.at("disable_header"), HEADER_OFF);
    }
    let mut paths = SourcePaths {
        header: config.at("auth_header_name"),
        query: config.at("param_name"),
        cookie: config.at("cookie_name"),
    };
    if config.flag("use_param")? {
        location.query_param =
            source_name(config.str("param_name")?.unwrap_or_default(), &location.header_name);
    }
    if config.flag("use_cookie")? {
        location.cookie_name =
            source_name(config.str("cookie_name")?.unwrap_or_default(), &location.header_name);
    }
    if location.query_param.is_empty() {
        paths.query = config.at("use_param");
    }
    if location.cookie_name.is_empty() {
        paths.cookie = config.at("use_cookie");
    }
    Ok((location, paths))
}

/// A Classic auth config, every name written out.
pub(crate) fn to_classic(location: &CredentialLocation) -> Value {
    let header = if location.header_name.is_empty() { DEFAULT_HEADER } else { &location.header_name };
    json!({
        "auth_header_name": header,
        "use_param": !location.query_param.is_empty(),
        "param_name": location.query_param,
        "use_cookie": !location.cookie_name.is_empty(),
        "cookie_name": location.cookie_name,
    })
}

fn header_name(name: &str) -> String {
    if name.eq_ignore_ascii_case(DEFAULT_HEADER) { String::new() } else { name.to_owned() }
}

/// Tyk reads an unnamed query parameter or cookie under the header's name.
fn source_name(name: &str, header_name: &str) -> String {
    match (name.is_empty(), header_name.is_empty()) {
        (false, _) => name.to_owned(),
        (true, false) => header_name.to_owned(),
        (true, true) => DEFAULT_HEADER.to_owned(),
    }
}

const HEADER_OFF: &str = "Tyk reads no header for this API; Gatehouse always reads the credential header \
                          (Authorization unless named)";
const HEADER_ABSENT: &str = "absent, so Tyk reads no header for this API; Gatehouse always reads the \
                             credential header (Authorization)";

/// The warning on a Tyk auth token imported as `token_auth`, in both forms: what carries over
/// (the API's protection), and what has no counterpart (Tyk's keys created on their own).
pub(crate) const TOKEN_AUTH_MAPPED: &str = "Tyk's auth token imports as token_auth: the API accepts bearer tokens issued by a Gatehouse \
     OAuth API whose policy grants this API (Tyk's multi-API access). Tyk's standalone keys \
     (created through its keys API) have no counterpart: clients get their tokens from an OAuth API";

/// Auth tokens whose requests must also be signed: Gatehouse verifies no signature, so it would
/// accept requests Tyk refuses.
pub(crate) const SIGNATURES_REFUSED: &str = "request signature validation is not supported: Gatehouse checks only the token, and importing \
     without the signature check would weaken the API's protection";
