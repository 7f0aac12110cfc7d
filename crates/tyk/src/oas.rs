//! Tyk OAS import: an OpenAPI 3 document whose `x-tyk-api-gateway` extension says how Tyk
//! serves it. The OpenAPI part is documentation, except `components.securitySchemes`, which
//! tells Tyk (and us) what kind each enabled security scheme is and which OAuth flows it offers.

use serde_json::Value;

use crate::imported::{ImportError, Imported};
use crate::path::{Obj, Warnings, is_default, missing};
use crate::validate::{FieldPaths, extension_paths, validated};
use crate::{extension, oas_auth};
use gatehouse_model::{Api, Upstream, UpstreamTls, Versioning};

/// The Tyk extension holding everything Tyk needs beyond OpenAPI.
pub(crate) const TYK: &str = "x-tyk-api-gateway";

/// Gatehouse's own extension, for the settings Tyk keeps in gateway configuration rather than
/// in the API definition (token lifetimes, error status) or has no place for (see the module
/// doc of `tyk`). [`crate::export_oas`] writes it only when one of them is not the default, so
/// exports of ordinary APIs are plain Tyk OAS; Tyk ignores it.
pub(crate) const EXTENSION: &str = "x-gatehouse";
pub(crate) const VERSIONING: &str = "versioning";
/// Keys of `x-gatehouse.versioning` (the other keys of `x-gatehouse`: [`extension::OAS`]).
pub(crate) const V_LOCATION: &str = "location";
pub(crate) const V_KEY: &str = "key";
pub(crate) const V_DEFAULT: &str = "defaultVersion";
pub(crate) const V_VERSIONS: &str = "versions";
pub(crate) const V_STRIP: &str = "stripVersioningData";

/// Tyk OAS (OpenAPI 3 document with `x-tyk-api-gateway`).
pub fn import_oas(doc: &Value) -> Result<Imported, ImportError> {
    let root = Obj::root(doc)?;
    let mut w = Warnings::default();
    let tyk = root.obj(TYK)?.ok_or_else(|| {
        ImportError::new(
            TYK,
            "is required: a Tyk OAS API definition is an OpenAPI document carrying x-tyk-api-gateway \
             (Tyk Classic definitions have their own import)",
        )
    })?;
    // Other Tyk extensions (e.g. x-tyk-streaming) configure whole features of their own.
    for (key, value) in root.entries() {
        if key.starts_with("x-tyk") && key != TYK && !is_default(value) {
            w.add(&root.at(key), "this Tyk extension is not supported by Gatehouse; ignored");
        }
    }
    let ext = root.obj(EXTENSION)?;
    let token_auth = match &ext {
        Some(ext) => ext.flag(extension::OAS.token_auth)?,
        None => false,
    };

    let (api_id, name) = import_info(&root, &tyk, &mut w)?;

    let server = tyk.require_obj("server")?;
    let listen = server.require_obj("listenPath")?;
    let listen_path = listen.require_str("value")?.to_owned();
    let strip_listen_path = listen.flag("strip")?;
    w.unmapped(&listen, &["value", "strip"]);

    let mut auth = oas_auth::import(&root, &server, token_auth, &mut w)?;
    let token_auth = token_auth || auth.token;
    if token_auth && auth.disabled {
        return Err(ImportError::new(
            format!("{EXTENSION}.{}", extension::OAS.token_auth),
            format!(
                "requires a token, but {TYK}.server.authentication.enabled is false: say which one you mean"
            ),
        ));
    }
    // `slug` has been unused by Tyk since 5.3; it only survives in old definitions.
    w.unmapped(&server, &["listenPath", "authentication", "slug"]);

    let upstream_obj = tyk.require_obj("upstream")?;
    let url_path = upstream_obj.at("url");
    // Without a URL Tyk needs load balancing, which Gatehouse does not have: say so.
    let url = upstream_obj
        .str("url")?
        .ok_or_else(|| missing(&url_path, "a string (load balancing is not supported)"))?;
    let upstream: Upstream =
        url.parse().map_err(|e: gatehouse_model::ValidationError| ImportError::new(url_path, e.message))?;
    w.unmapped(&upstream_obj, &["url"]);

    w.unmapped(&tyk, &["info", "server", "upstream"]);

    let mut versioning = None;
    let mut upstream_tls = UpstreamTls::default();
    if let Some(ext) = &ext {
        extension::read_oauth(ext, auth.oauth.as_mut(), &extension::OAS, &mut w)?;
        versioning = import_versioning(ext, &mut w)?;
        upstream_tls = extension::read_upstream_tls(ext, &extension::OAS, &mut w)?;
        w.unmapped(ext, &[extension::OAS.token_auth, "oauth", VERSIONING, extension::OAS.upstream_tls]);
    }

    let scheme = &auth.scheme_path;
    let at_ext = |key: &str, inner: &str| format!("{EXTENSION}.{key}.{inner}");
    let sources = auth.source_paths.take();
    let paths = FieldPaths {
        api_id: format!("{TYK}.info.id"),
        listen_path: listen.at("value"),
        auth_login_redirect: format!("{scheme}.authLoginRedirect"),
        allowed_authorize_types: format!("{scheme}.allowedAuthorizeTypes"),
        notifications_url: format!("{scheme}.notifications.onKeyChangeUrl"),
        sources,
        more: [
            extension_paths(&extension::OAS, at_ext),
            vec![
                ("versioning.versions", at_ext(VERSIONING, V_VERSIONS)),
                ("versioning.default_version", at_ext(VERSIONING, V_DEFAULT)),
                ("versioning.key", at_ext(VERSIONING, V_KEY)),
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
        oauth: auth.oauth,
        token_auth,
        credentials: auth.credentials,
        versioning: versioning.map(Box::new),
        upstream_tls: Box::new(upstream_tls),
    };
    let explicitly_keyless = auth.disabled && !api.requires_token();
    Ok(Imported { api: validated(api, &paths)?, warnings: w.into_vec(), explicitly_keyless })
}

/// The API's id and name, warning about the states Gatehouse does not have.
fn import_info(root: &Obj<'_>, tyk: &Obj<'_>, w: &mut Warnings) -> Result<(String, String), ImportError> {
    let info = tyk.obj("info")?;
    let mut api_id = String::new();
    let mut name = String::new();
    if let Some(info) = &info {
        api_id = info.str("id")?.unwrap_or_default().to_owned();
        name = info.str("name")?.unwrap_or_default().to_owned();
        if let Some(state) = info.obj("state")? {
            if state.bool("active")? == Some(false) {
                w.add(
                    &state.at("active"),
                    "the API is inactive in Tyk; Gatehouse has no inactive state and imported it active \
                     (delete it if it must not serve)",
                );
            }
            w.unmapped(&state, &["active"]);
        }
        // `dbId` and `orgId` are the Dashboard's database and organisation bookkeeping;
        // Gatehouse has neither, and they change nothing about how the API is served.
        w.unmapped(info, &["id", "name", "state", "dbId", "orgId"]);
    }
    if name.is_empty() {
        // Tyk requires the name, but the OpenAPI title says the same for hand-written documents.
        let title = root.obj("info")?.map(|i| i.str("title")).transpose()?.flatten();
        name = title.filter(|t| !t.is_empty()).map(str::to_owned).ok_or_else(|| {
            missing(&format!("{TYK}.info.name"), "a non-empty string (or an OpenAPI info.title)")
        })?;
    }
    Ok((api_id, name))
}

/// `x-gatehouse.versioning`: Tyk OAS versions are separate APIs, so Gatehouse's named versions
/// of one API travel here.
fn import_versioning(ext: &Obj<'_>, w: &mut Warnings) -> Result<Option<Versioning>, ImportError> {
    let Some(v) = ext.obj(VERSIONING)? else { return Ok(None) };
    let location = v.require_str(V_LOCATION)?;
    let location = location.parse().map_err(|()| {
        ImportError::new(v.at(V_LOCATION), format!("{location:?} is not header, query_param or url_segment"))
    })?;
    let versions = v.strings(V_VERSIONS)?.into_iter().map(|(_, name)| name.to_owned()).collect();
    w.unmapped(&v, &[V_LOCATION, V_KEY, V_DEFAULT, V_VERSIONS, V_STRIP]);
    Ok(Some(Versioning {
        location,
        key: v.str(V_KEY)?.unwrap_or_default().to_owned(),
        default_version: v.str(V_DEFAULT)?.unwrap_or_default().to_owned(),
        versions,
        strip: v.flag(V_STRIP)?,
    }))
}
