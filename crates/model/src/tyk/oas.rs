//! Tyk OAS import: an OpenAPI 3 document whose `x-tyk-api-gateway` extension says how Tyk
//! serves it. The OpenAPI part is documentation, except `components.securitySchemes`, which
//! tells Tyk (and us) what kind each enabled security scheme is and which OAuth flows it offers.

use serde_json::Value;

use super::path::{Obj, Warnings, is_default, missing};
use super::{FieldPaths, ImportError, Imported, oas_auth, validated};
use crate::{Api, OAuthSettings, Upstream};

/// The Tyk extension holding everything Tyk needs beyond OpenAPI.
pub(super) const TYK: &str = "x-tyk-api-gateway";

/// Gatehouse's own extension, for the OAuth settings Tyk keeps in gateway configuration rather
/// than in the API definition (token lifetimes, error status). [`super::export_oas`] writes it
/// only when they differ from the defaults, so exports of ordinary APIs are plain Tyk OAS; Tyk
/// ignores it.
pub(super) const EXTENSION: &str = "x-gatehouse";
pub(super) const ACCESS_TTL: &str = "accessTokenTtlSeconds";
pub(super) const REFRESH_TTL: &str = "refreshTokenTtlSeconds";
pub(super) const CODE_TTL: &str = "codeTtlSeconds";
pub(super) const ERROR_STATUS: &str = "errorStatusCode";

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

    let (api_id, name) = import_info(&root, &tyk, &mut w)?;

    let server = tyk.require_obj("server")?;
    let listen = server.require_obj("listenPath")?;
    let listen_path = listen.require_str("value")?.to_owned();
    let strip_listen_path = listen.flag("strip")?;
    w.unmapped(&listen, &["value", "strip"]);

    let mut oauth = oas_auth::import(&root, &server, &mut w)?;
    // `slug` has been unused by Tyk since 5.3; it only survives in old definitions.
    w.unmapped(&server, &["listenPath", "authentication", "slug"]);

    let upstream_obj = tyk.require_obj("upstream")?;
    let url_path = upstream_obj.at("url");
    // Without a URL Tyk needs load balancing, which Gatehouse does not have: say so.
    let url = upstream_obj
        .str("url")?
        .ok_or_else(|| missing(&url_path, "a string (load balancing is not supported)"))?;
    let upstream: Upstream =
        url.parse().map_err(|e: crate::ValidationError| ImportError::new(url_path, e.message))?;
    w.unmapped(&upstream_obj, &["url"]);

    w.unmapped(&tyk, &["info", "server", "upstream"]);

    apply_extension(&root, oauth.as_mut().map(|(settings, _)| settings), &mut w)?;

    let scheme = oauth.as_ref().map_or_else(String::new, |(_, scheme)| scheme.clone());
    let paths = FieldPaths {
        api_id: format!("{TYK}.info.id"),
        listen_path: listen.at("value"),
        auth_login_redirect: format!("{scheme}.authLoginRedirect"),
        allowed_authorize_types: format!("{scheme}.allowedAuthorizeTypes"),
        notifications_url: format!("{scheme}.notifications.onKeyChangeUrl"),
    };
    let api = Api {
        api_id,
        name,
        listen_path,
        strip_listen_path,
        upstream,
        oauth: oauth.map(|(settings, _)| settings),
        token_auth: false,
        credentials: Default::default(),
        versioning: None,
        upstream_tls: Default::default(),
    };
    Ok(Imported { api: validated(api, &paths)?, warnings: w.into_vec() })
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

/// Reads `x-gatehouse` (see [`EXTENSION`]) into the imported OAuth settings.
fn apply_extension(
    root: &Obj<'_>,
    settings: Option<&mut OAuthSettings>,
    w: &mut Warnings,
) -> Result<(), ImportError> {
    let Some(ext) = root.obj(EXTENSION)? else { return Ok(()) };
    if let Some(o) = ext.obj("oauth")? {
        match settings {
            Some(s) => {
                s.access_token_ttl_secs = o.u64(ACCESS_TTL)?.unwrap_or(0);
                s.refresh_token_ttl_secs = o.u64(REFRESH_TTL)?.unwrap_or(0);
                s.code_ttl_secs = o.u64(CODE_TTL)?.unwrap_or(0);
                s.error_status = o
                    .u64(ERROR_STATUS)?
                    .map(|status| {
                        u16::try_from(status)
                            .map_err(|_| ImportError::new(o.at(ERROR_STATUS), "must be a 4xx status"))
                    })
                    .transpose()?;
                w.unmapped(&o, &[ACCESS_TTL, REFRESH_TTL, CODE_TTL, ERROR_STATUS]);
            }
            None if !o.is_default() => {
                w.add(o.path(), "the API is keyless, so these OAuth settings do not apply; ignored");
            }
            None => {}
        }
    }
    w.unmapped(&ext, &["oauth"]);
    Ok(())
}
