//! Tyk Classic import: the flat `api_definition` of Tyk Gateway's files and the Dashboard API.
//!
//! Classic definitions written by the Dashboard carry every field at its default, so the
//! "unmapped field" check relies on [`is_default`] to keep quiet about those; the fields below
//! that are ignored even when set are bookkeeping, or configure an authentication method that is
//! switched off (switched on, it stops the import).
//!
//! `gatehouse` is Gatehouse's own block, which Tyk ignores (see the crate doc):
//! `token_auth`, `oauth` (token lifetimes, error status) and `upstream_tls`.

use serde_json::Value;

use crate::credentials::{self, SourcePaths};
use crate::extension;
use crate::imported::{ImportError, Imported};
use crate::oauth::{authorize_types, canonical_grants, notifications};
use crate::path::{Obj, Warnings, is_default, join, unsupported};
use crate::validate::{FieldPaths, extension_paths, validated};
use gatehouse_model::{
    Api, CredentialLocation, GrantType, OAuthSettings, Upstream, UpstreamTls, ValidationError, Versioning,
};

/// Gatehouse's own block in a Classic definition (its keys: [`extension::CLASSIC`]).
pub(crate) const GATEHOUSE: &str = "gatehouse";
/// Tyk's names of the auth configs in `auth_configs`.
pub(crate) const OAUTH_CONFIG: &str = "oauth";
pub(crate) const TOKEN_CONFIG: &str = "authToken";

/// Authentication switches other than OAuth, auth tokens and keyless, with the method's name.
/// Dropping any of them would leave the API less protected than in Tyk, so each stops the import.
const OTHER_METHODS: [(&str, &str); 8] = [
    ("use_basic_auth", "basic"),
    ("enable_jwt", "JWT"),
    ("use_openid", "OpenID Connect"),
    ("enable_signature_checking", "HMAC request signing"),
    ("use_mutual_tls_auth", "mutual TLS"),
    ("use_go_plugin_auth", "Go plugin"),
    ("enable_coprocess_auth", "custom plugin"),
    ("custom_plugin_auth_enabled", "custom plugin"),
];

/// Top-level fields read by this import.
const MAPPED: [&str; 13] = [
    GATEHOUSE,
    "use_standard_auth",
    "api_id",
    "name",
    "proxy",
    "active",
    "use_keyless",
    "use_oauth2",
    "oauth_meta",
    "notifications",
    "auth",
    "auth_configs",
    "strip_auth_data",
];

/// Top-level fields ignored whatever their value:
/// - bookkeeping: `id` (database id), `org_id` (Gatehouse has no organisations), `slug` (unused
///   by Tyk since 5.3), `is_oas`;
/// - settings of the refused authentication methods, inert while those are off:
///   `basic_auth`, `openid_options`, `external_oauth`, `hmac_allowed_*`, `client_certificates`
///   (the mTLS auth allow-list), `base_identity_provided_by` (picks among several methods),
///   `scopes` and `idp_client_id_mapping_disabled` (JWT/OIDC), and every `jwt_*` field;
/// - switches that turn off features Gatehouse does not have (so it behaves as they ask):
///   `disable_rate_limit`, `disable_quota`, `dont_set_quota_on_create`, `do_not_track`,
///   `custom_middleware_bundle_disabled`, `config_data_disabled`, `tags_disabled`;
/// - fields with their own check below: `definition` and `version_data` (versioning),
///   `cache_options`, `custom_middleware`.
const IGNORED: [&str; 23] = [
    "id",
    "org_id",
    "slug",
    "is_oas",
    "definition",
    "basic_auth",
    "openid_options",
    "external_oauth",
    "hmac_allowed_clock_skew",
    "hmac_allowed_algorithms",
    "client_certificates",
    "base_identity_provided_by",
    "scopes",
    "idp_client_id_mapping_disabled",
    "disable_rate_limit",
    "disable_quota",
    "dont_set_quota_on_create",
    "do_not_track",
    "custom_middleware_bundle_disabled",
    "config_data_disabled",
    "tags_disabled",
    "version_data",
    "cache_options",
];

/// Tyk Classic, bare or wrapped as the Dashboard takes it: `{"api_definition": {...}}`.
pub fn import_classic(doc: &Value) -> Result<Imported, ImportError> {
    let outer = Obj::root(doc)?;
    let mut w = Warnings::default();
    let def = match outer.obj("api_definition")? {
        Some(def) => {
            // The rest of the Dashboard's wrapper is its own bookkeeping (ownership, sorting,
            // the UI model), except webhooks, which it keeps as `hook_references`.
            w.unmapped(
                &outer,
                &["api_definition", "api_model", "is_site", "sort_by", "user_owners", "user_group_owners"],
            );
            def
        }
        None => outer,
    };
    if def.get("x-tyk-api-gateway").is_some() || def.get("openapi").is_some() {
        return Err(ImportError::new(def.path(), "this is a Tyk OAS definition: import it as Tyk OAS"));
    }

    let api_id = def.str("api_id")?.unwrap_or_default().to_owned();
    let name = def.str("name")?.unwrap_or_default().to_owned();
    if name.is_empty() {
        return Err(ImportError::new(def.at("name"), "is required: expected a non-empty string"));
    }
    if def.bool("active")? == Some(false) {
        w.add(
            &def.at("active"),
            "the API is inactive in Tyk; Gatehouse has no inactive state and imported it active \
             (delete it if it must not serve)",
        );
    }

    let proxy = def.require_obj("proxy")?;
    let listen_path = proxy.require_str("listen_path")?.to_owned();
    let strip_listen_path = proxy.flag("strip_listen_path")?;
    let target = proxy.require_str("target_url")?;
    let upstream: Upstream =
        target.parse().map_err(|e: ValidationError| ImportError::new(proxy.at("target_url"), e.message))?;
    w.unmapped(&proxy, &["listen_path", "strip_listen_path", "target_url"]);

    let ext = def.obj(GATEHOUSE)?;
    let token_auth = match &ext {
        Some(ext) => ext.flag(extension::CLASSIC.token_auth)?,
        None => false,
    };
    for (key, method) in OTHER_METHODS {
        if def.flag(key)? {
            return Err(refused(def.at(key), method));
        }
    }
    if let Some(external) = def.obj("external_oauth")?
        && external.flag("enabled")?
    {
        return Err(refused(external.at("enabled"), "external OAuth"));
    }
    let keyless = def.flag("use_keyless")?;
    if keyless && token_auth {
        return Err(ImportError::new(
            join(&def.at(GATEHOUSE), extension::CLASSIC.token_auth),
            "requires a token, but use_keyless is true: say which one you mean",
        ));
    }
    // Tyk's auth token: Gatehouse's token_auth (multi-API access), which Gatehouse's own
    // export also says in its block; from Tyk, the standalone keys do not come along.
    let standard_auth = def.flag("use_standard_auth")?;
    if keyless && standard_auth {
        return Err(ImportError::new(
            def.at("use_standard_auth"),
            "use_keyless and use_standard_auth are both true, and Tyk serves the API keyless: set \
             the one you do not mean to false",
        ));
    }
    if standard_auth && !token_auth {
        w.add(&def.at("use_standard_auth"), credentials::TOKEN_AUTH_MAPPED);
    }
    let token_auth = token_auth || standard_auth;
    let mut oauth = match (keyless, def.flag("use_oauth2")?) {
        (true, false) => None,
        (false, true) => Some(oauth_settings(&def, &mut w)?),
        (false, false) if standard_auth => None,
        (true, true) => {
            return Err(ImportError::new(
                def.at("use_oauth2"),
                "use_keyless and use_oauth2 are both true, and Tyk serves the API keyless: set the \
                 one you do not mean to false",
            ));
        }
        (false, false) => {
            return Err(ImportError::new(
                def.at("use_keyless"),
                "no authentication method is enabled and use_keyless is not true, so Tyk falls back \
                 to its auth tokens: say so with use_standard_auth (Gatehouse's token_auth), or set \
                 use_oauth2 or use_keyless to true",
            ));
        }
    };
    let (credentials, sources) = if keyless {
        // Tyk reads no credential of a keyless API, and neither does Gatehouse.
        (CredentialLocation::default(), None)
    } else {
        let method = if oauth.is_some() { OAUTH_CONFIG } else { TOKEN_CONFIG };
        let (credentials, sources) = import_credentials(&def, method, &mut w)?;
        (credentials, Some(sources))
    };
    let mut upstream_tls = UpstreamTls::default();
    if let Some(ext) = &ext {
        extension::read_oauth(ext, oauth.as_mut(), &extension::CLASSIC, &mut w)?;
        upstream_tls = extension::read_upstream_tls(ext, &extension::CLASSIC, &mut w)?;
        w.unmapped(ext, &[extension::CLASSIC.token_auth, "oauth", extension::CLASSIC.upstream_tls]);
    }

    let versioning = import_versions(&def, &mut w)?;
    check_cache(&def, &mut w)?;
    if let Some(custom) = def.obj("custom_middleware")? {
        // `auth_check` and `id_extractor` belong to plugin authentication (refused above when
        // on); `driver` only says which runtime the listed plugins would use.
        w.unmapped(&custom, &["auth_check", "id_extractor", "driver"]);
    }
    for (key, value) in def.entries() {
        let handled = MAPPED.contains(&key)
            || IGNORED.contains(&key)
            || OTHER_METHODS.iter().any(|(k, _)| *k == key)
            || key.starts_with("jwt_")
            || key == "custom_middleware";
        if !handled && !is_default(value) {
            w.add(&def.at(key), unsupported(key));
        }
    }

    let ext_path = def.at(GATEHOUSE);
    let at_ext = |key: &str, inner: &str| join(&join(&ext_path, key), inner);
    let versions = join(&def.at("version_data"), "versions");
    let paths = FieldPaths {
        api_id: def.at("api_id"),
        listen_path: proxy.at("listen_path"),
        auth_login_redirect: join(&def.at("oauth_meta"), "auth_login_redirect"),
        allowed_authorize_types: join(&def.at("oauth_meta"), "allowed_authorize_types"),
        notifications_url: join(&def.at("notifications"), "oauth_on_keychange_url"),
        sources,
        more: [
            extension_paths(&extension::CLASSIC, at_ext),
            vec![
                ("versioning.versions", versions),
                ("versioning.default_version", join(&def.at("version_data"), "default_version")),
                ("versioning.key", join(&def.at("definition"), "key")),
            ],
        ]
        .concat(),
    };
    let api = Api {
        api_id,
        name,
        listen_path,
        strip_listen_path,
        upstream,
        oauth,
        token_auth,
        credentials,
        versioning: versioning.map(Box::new),
        upstream_tls: Box::new(upstream_tls),
    };
    // Classic import requires use_keyless for a keyless API: it is always on purpose.
    let explicitly_keyless = keyless;
    Ok(Imported { api: validated(api, &paths)?, warnings: w.into_vec(), explicitly_keyless })
}

/// Where requests carry their token: `auth_configs.<method>`, which Tyk reads, or the legacy
/// `auth` when there is none; and `strip_auth_data`.
fn import_credentials(
    def: &Obj<'_>,
    method: &str,
    w: &mut Warnings,
) -> Result<(CredentialLocation, SourcePaths), ImportError> {
    let legacy = def.obj("auth")?;
    let config = def.obj("auth_configs")?.map(|c| c.obj(method)).transpose()?.flatten();
    let (mut credentials, sources) = match (&config, &legacy) {
        (Some(config), legacy) => {
            let read = credentials::from_classic(config, w)?;
            if let Some(legacy) = legacy {
                // The legacy block may be what the admin believes is in force: say when it differs.
                let (old, _) = credentials::from_classic(legacy, &mut Warnings::default())?;
                if old != read.0 {
                    w.add(legacy.path(), format!("ignored: Tyk reads {}", config.path()));
                }
            }
            read
        }
        (None, Some(legacy)) => credentials::from_classic(legacy, w)?,
        (None, None) => {
            let empty = serde_json::Value::Object(Default::default());
            credentials::from_classic(&Obj::root(&empty)?, w)?
        }
    };
    if method == TOKEN_CONFIG
        && let Some(read) = config.as_ref().or(legacy.as_ref())
    {
        token_extras(read, w)?;
    }
    credentials.strip = def.flag("strip_auth_data")?;
    Ok((credentials, sources))
}

/// What an auth token config says beyond where the token is: a signature check (Gatehouse has
/// none, so it is refused) and certificate-bound keys (Tyk's own keys; nothing to carry over).
fn token_extras(config: &Obj<'_>, w: &mut Warnings) -> Result<(), ImportError> {
    if config.flag("validate_signature")? {
        return Err(ImportError::new(config.at("validate_signature"), credentials::SIGNATURES_REFUSED));
    }
    if config.flag("use_certificate")? {
        w.add(&config.at("use_certificate"), unsupported("use_certificate"));
    }
    Ok(())
}

fn refused(path: String, method: &str) -> ImportError {
    ImportError::new(
        path,
        format!(
            "{method} authentication is not supported: Gatehouse authenticates with its own OAuth 2.0 \
             tokens only (use_oauth2, or use_standard_auth for tokens another OAuth API issued), and \
             importing without it would serve the API with weaker or no authentication"
        ),
    )
}

fn oauth_settings(def: &Obj<'_>, w: &mut Warnings) -> Result<OAuthSettings, ImportError> {
    let meta = def.obj("oauth_meta")?;
    let mut grants = Vec::new();
    let mut authorize = Vec::new();
    let mut auth_login_redirect = String::new();
    if let Some(meta) = &meta {
        for (path, t) in meta.strings("allowed_access_types")? {
            match t.parse::<GrantType>() {
                Ok(grant) => grants.push(grant),
                Err(()) => w.add(&path, format!("{t:?} is not a grant Gatehouse supports; ignored")),
            }
        }
        authorize = authorize_types(meta.strings("allowed_authorize_types")?, w);
        auth_login_redirect = meta.str("auth_login_redirect")?.unwrap_or_default().to_owned();
        w.unmapped(meta, &["allowed_access_types", "allowed_authorize_types", "auth_login_redirect"]);
    }
    canonical_grants(&mut grants);

    let notifications = match def.obj("notifications")? {
        Some(n) => {
            w.unmapped(&n, &["oauth_on_keychange_url", "shared_secret"]);
            notifications(&n, "oauth_on_keychange_url", "shared_secret", w)?
        }
        None => None,
    };

    Ok(OAuthSettings {
        allowed_grant_types: grants,
        allowed_authorize_types: authorize,
        auth_login_redirect,
        // Tyk keeps lifetimes and the error status in gateway configuration: Gatehouse's
        // defaults are Tyk's defaults.
        access_token_ttl_secs: 0,
        refresh_token_ttl_secs: 0,
        code_ttl_secs: 0,
        notifications,
        error_status: None,
    })
}

/// `version_data` and `definition`: an unversioned API imports as one; a versioned one keeps its
/// version names, default and location. Anything a version adds (its own upstream, expiry,
/// per-path rules) is reported.
fn import_versions(def: &Obj<'_>, w: &mut Warnings) -> Result<Option<Versioning>, ImportError> {
    let Some(data) = def.obj("version_data")? else { return Ok(None) };
    let mut names = Vec::new();
    if let Some(versions) = data.obj("versions")? {
        for (name, _) in versions.entries() {
            names.push(name.to_owned());
            let Some(version) = versions.obj(name)? else { continue };
            // Per-endpoint rules get one warning each: some (white_list, black_list) restrict
            // access, and an admin must see exactly which.
            if let Some(extended) = version.obj("extended_paths")? {
                w.unmapped(&extended, &[]);
            }
            w.unmapped(&version, &["name", "use_extended_paths", "extended_paths"]);
        }
    }
    w.unmapped(&data, &["not_versioned", "versions", "default_version"]);
    if data.flag("not_versioned")? {
        // `default_version` only names the single version, and `definition` is inert.
        return Ok(None);
    }
    let definition = def.require_obj("definition")?;
    let location = definition.str("location")?.unwrap_or("header");
    let location = location.parse().map_err(|()| {
        ImportError::new(definition.at("location"), format!("{location:?} is not header, url-param or url"))
    })?;
    let strip = definition.flag("strip_path")? || definition.flag("strip_versioning_data")?;
    w.unmapped(&definition, &["location", "key", "strip_path", "strip_versioning_data"]);
    Ok(Some(Versioning {
        location,
        key: definition.str("key")?.unwrap_or_default().to_owned(),
        default_version: data.str("default_version")?.unwrap_or_default().to_owned(),
        versions: names,
        strip,
    }))
}

/// Tyk caches only what `cache_all_safe_requests`, upstream cache-control headers or per-path
/// rules (reported with `version_data`) select; `enable_cache` with a timeout alone, which the
/// Dashboard writes by default, caches nothing.
fn check_cache(def: &Obj<'_>, w: &mut Warnings) -> Result<(), ImportError> {
    let Some(cache) = def.obj("cache_options")? else { return Ok(()) };
    if cache.flag("enable_cache")?
        && (cache.flag("cache_all_safe_requests")? || cache.flag("enable_upstream_cache_control")?)
    {
        w.add(cache.path(), "caching is not supported; every request reaches the upstream");
    }
    Ok(())
}
