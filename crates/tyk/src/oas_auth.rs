//! `x-tyk-api-gateway.server.authentication` of a Tyk OAS definition: Tyk as the OAuth 2.0
//! authorization server becomes [`OAuthSettings`], an `authToken` (OpenAPI `apiKey`) scheme
//! becomes `token_auth` (bearer tokens an OAuth API issued, when their policy grants this API:
//! Tyk's multi-API access); any other authentication method is refused, because Gatehouse would
//! otherwise serve the API without it.

use crate::credentials::{self, ApiKeySource, SourcePaths};
use crate::imported::ImportError;
use crate::oauth::{authorize_types, canonical_grants, notifications};
use crate::path::{Obj, Warnings, join};
use gatehouse_model::{CredentialLocation, GrantType, Notifications, OAuthSettings};

/// Where Tyk (and Gatehouse) serve the OAuth endpoints, relative to the listen path. Tyk writes
/// these relative URLs into the OpenAPI flows; anything else there documents endpoints that do
/// not exist.
pub(crate) const AUTHORIZE_URL: &str = "/oauth/authorize";
pub(crate) const TOKEN_URL: &str = "/oauth/token";

/// What `authentication` says.
#[derive(Default)]
pub(crate) struct Auth {
    /// The API's authorization server, when its enabled scheme is `oauth2`.
    pub oauth: Option<OAuthSettings>,
    /// The enabled scheme is Tyk's auth token (`token_auth`).
    pub token: bool,
    /// The path of the enabled Tyk scheme; empty when there is none.
    pub scheme_path: String,
    pub credentials: CredentialLocation,
    pub source_paths: Option<SourcePaths>,
    /// `authentication.enabled` is literally `false`: keyless on purpose, not by omission.
    pub disabled: bool,
}

/// The enabled scheme's kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    OAuth,
    Token,
}

/// Reads `authentication`. `token_auth`: whether `x-gatehouse.tokenAuth` is true, which says
/// that an `apiKey` scheme is Gatehouse's own export of a `token_auth` API (no warning needed).
pub(crate) fn import(
    root: &Obj<'_>,
    server: &Obj<'_>,
    token_auth: bool,
    w: &mut Warnings,
) -> Result<Auth, ImportError> {
    let Some(auth) = server.obj("authentication")? else { return Ok(Auth::default()) };
    if !auth.flag("enabled")? {
        // Tyk serves the API keyless and ignores the rest of `authentication`; so do we.
        return Ok(Auth { disabled: auth.bool("enabled")? == Some(false), ..Auth::default() });
    }
    refuse_other_methods(&auth)?;
    let (kind, scheme, component) = enabled_scheme(root, &auth)?;
    let api_key = match kind {
        Kind::OAuth => None,
        Kind::Token => Some(ApiKeySource {
            place: component.str("in")?.unwrap_or_default(),
            name: component.str("name")?.unwrap_or_default(),
            path: component.at("name"),
        }),
    };
    let (mut credentials, source_paths) = credentials::from_oas_scheme(&scheme, api_key, w)?;
    credentials.strip = auth.flag("stripAuthorizationData")?;

    let oauth = match kind {
        Kind::OAuth => Some(oauth_settings(&scheme, &component, w)?),
        Kind::Token => {
            refuse_signatures(&scheme)?;
            if !token_auth {
                w.add(scheme.path(), crate::credentials::TOKEN_AUTH_MAPPED);
            }
            w.unmapped(&scheme, &["enabled", "header", "query", "cookie"]);
            None
        }
    };
    // A base identity provider only chooses between several methods; with one it is moot.
    let base = auth.str("baseIdentityProvider")?.unwrap_or_default();
    let expected = if kind == Kind::OAuth { "oauth_key" } else { "auth_token" };
    if !base.is_empty() && base != expected {
        w.add(&auth.at("baseIdentityProvider"), "Gatehouse identifies sessions by their token; ignored");
    }
    // "legacy" is Tyk's default mode; "compliant" only matters with several security requirements.
    let mode = auth.str("securityProcessingMode")?.unwrap_or_default();
    if !mode.is_empty() && mode != "legacy" {
        w.add(&auth.at("securityProcessingMode"), "Gatehouse applies the single scheme; ignored");
    }
    w.unmapped(
        &auth,
        &[
            "enabled",
            "securitySchemes",
            "stripAuthorizationData",
            "baseIdentityProvider",
            "securityProcessingMode",
        ],
    );
    Ok(Auth {
        oauth,
        token: kind == Kind::Token,
        scheme_path: scheme.path().to_owned(),
        credentials,
        source_paths: Some(source_paths),
        disabled: false,
    })
}

fn oauth_settings(
    scheme: &Obj<'_>,
    component: &Obj<'_>,
    w: &mut Warnings,
) -> Result<OAuthSettings, ImportError> {
    let mut grants = grants_from_flows(&component.require_obj("flows")?, w)?;
    if scheme.flag("refreshToken")? {
        grants.push(GrantType::RefreshToken);
    }
    canonical_grants(&mut grants);
    let allowed_authorize_types = authorize_types(scheme.strings("allowedAuthorizeTypes")?, w);
    let notifications = import_notifications(scheme, w)?;
    w.unmapped(
        scheme,
        &[
            "enabled",
            "allowedAuthorizeTypes",
            "authLoginRedirect",
            "refreshToken",
            "notifications",
            "header",
            "query",
            "cookie",
        ],
    );
    Ok(OAuthSettings {
        allowed_grant_types: grants,
        allowed_authorize_types,
        auth_login_redirect: scheme.str("authLoginRedirect")?.unwrap_or_default().to_owned(),
        // Tyk keeps lifetimes in gateway configuration; 0 means Gatehouse's defaults, which are
        // Tyk's defaults. `x-gatehouse.oauth` may set them.
        access_token_ttl_secs: 0,
        refresh_token_ttl_secs: 0,
        code_ttl_secs: 0,
        notifications,
        error_status: None,
    })
}

/// Authentication methods configured beside the security schemes. Dropping any of them would
/// weaken the API's protection, so they stop the import.
fn refuse_other_methods(auth: &Obj<'_>) -> Result<(), ImportError> {
    for (key, method) in [
        ("hmac", "HMAC request signing"),
        ("oidc", "OpenID Connect"),
        ("custom", "custom plugin"),
        ("certificateAuth", "client certificate"),
    ] {
        if let Some(config) = auth.obj(key)?
            && config.flag("enabled")?
        {
            return Err(ImportError::new(
                config.at("enabled"),
                format!(
                    "{method} authentication is not supported: Gatehouse authenticates with its own \
                     OAuth 2.0 tokens only, and importing without it would weaken the API's protection"
                ),
            ));
        }
    }
    Ok(())
}

/// An auth token scheme whose requests must also carry a signature: Gatehouse checks none, so
/// importing it would accept requests Tyk refuses.
fn refuse_signatures(scheme: &Obj<'_>) -> Result<(), ImportError> {
    match scheme.obj("signatureValidation")? {
        Some(signature) if signature.flag("enabled")? => {
            Err(ImportError::new(signature.at("enabled"), crate::credentials::SIGNATURES_REFUSED))
        }
        _ => Ok(()),
    }
}

/// The one enabled Tyk scheme, its kind and its OpenAPI counterpart, which must be of type
/// `oauth2` (Tyk OAuth) or `apiKey` (Tyk's auth token).
fn enabled_scheme<'a>(root: &Obj<'a>, auth: &Obj<'a>) -> Result<(Kind, Obj<'a>, Obj<'a>), ImportError> {
    let mut found: Option<(&str, Kind, Obj<'a>, Obj<'a>)> = None;
    if let Some(schemes) = auth.obj("securitySchemes")? {
        for (name, _) in schemes.entries() {
            let Some(scheme) = schemes.obj(name)? else { continue };
            if !scheme.flag("enabled")? {
                continue;
            }
            let component = openapi_scheme(root, name)?.ok_or_else(|| {
                ImportError::new(
                    join("components.securitySchemes", name),
                    format!(
                        "is required: the enabled scheme {name:?} of {} needs an OpenAPI security \
                         scheme saying what kind it is",
                        schemes.path()
                    ),
                )
            })?;
            let kind = match component.require_str("type")? {
                "oauth2" => Kind::OAuth,
                "apiKey" => Kind::Token,
                other => {
                    return Err(ImportError::new(
                        scheme.path(),
                        format!(
                            "{} authentication is not supported: Gatehouse accepts its own OAuth 2.0 \
                             tokens only (OpenAPI type oauth2, or apiKey for Tyk's auth token), and \
                             importing the API without it would serve it without authentication",
                            describe(other, &component)?
                        ),
                    ));
                }
            };
            if scheme.get("providers").is_some_and(|p| !crate::path::is_default(p)) {
                return Err(ImportError::new(
                    scheme.at("providers"),
                    "external OAuth (validating another server's tokens) is not supported: Gatehouse \
                     accepts only the tokens it issues",
                ));
            }
            if let Some((first, ..)) = &found {
                return Err(ImportError::new(
                    scheme.path(),
                    format!(
                        "a second enabled scheme (besides {first:?}): Gatehouse supports one \
                         authentication scheme per API"
                    ),
                ));
            }
            found = Some((name, kind, scheme, component));
        }
    }
    let (_, kind, scheme, component) = found.ok_or_else(|| {
        ImportError::new(
            auth.at("securitySchemes"),
            "authentication is enabled but no security scheme is: enable the oauth2 or the auth \
             token (apiKey) scheme the API is meant to use, or set authentication.enabled to false \
             for a keyless API",
        )
    })?;
    Ok((kind, scheme, component))
}

fn openapi_scheme<'a>(root: &Obj<'a>, name: &str) -> Result<Option<Obj<'a>>, ImportError> {
    let Some(components) = root.obj("components")? else { return Ok(None) };
    let Some(schemes) = components.obj("securitySchemes")? else { return Ok(None) };
    schemes.obj(name)
}

/// Names an OpenAPI security scheme the way Tyk's documentation does.
fn describe(kind: &str, component: &Obj<'_>) -> Result<String, ImportError> {
    Ok(match kind {
        "http" => match component.str("scheme")?.unwrap_or_default().to_ascii_lowercase().as_str() {
            "basic" => "basic (OpenAPI http basic)".to_owned(),
            "bearer" => "JWT / bearer token (OpenAPI http bearer)".to_owned(),
            other => format!("OpenAPI http {other:?}"),
        },
        "openIdConnect" => "OpenID Connect".to_owned(),
        "mutualTLS" => "mutual TLS".to_owned(),
        other => format!("OpenAPI type {other:?}"),
    })
}

/// The grants named by the OpenAPI flows, warning about flows and URLs Gatehouse does not serve.
fn grants_from_flows(flows: &Obj<'_>, w: &mut Warnings) -> Result<Vec<GrantType>, ImportError> {
    let mut grants = Vec::new();
    for (name, _) in flows.entries() {
        let Some(flow) = flows.obj(name)? else { continue };
        let grant = match name {
            "authorizationCode" => {
                check_url(&flow, "authorizationUrl", AUTHORIZE_URL, w)?;
                GrantType::AuthorizationCode
            }
            "clientCredentials" => GrantType::ClientCredentials,
            "password" => GrantType::Password,
            "implicit" => {
                w.add(
                    flow.path(),
                    "the implicit flow is not imported: it is unsafe (RFC 9700 §2.1.2); clients should \
                     use authorizationCode with PKCE",
                );
                continue;
            }
            _ => {
                w.add(flow.path(), "unknown OAuth flow; ignored");
                continue;
            }
        };
        grants.push(grant);
        check_url(&flow, "tokenUrl", TOKEN_URL, w)?;
        // Refreshing happens at the token endpoint too.
        check_url(&flow, "refreshUrl", TOKEN_URL, w)?;
    }
    Ok(grants)
}

/// Absent URLs are fine (the documentation is just thinner); other URLs than Tyk's would
/// document endpoints Gatehouse does not serve.
fn check_url(flow: &Obj<'_>, key: &str, expected: &str, w: &mut Warnings) -> Result<(), ImportError> {
    match flow.str(key)? {
        Some(url) if !url.is_empty() && url != expected => {
            w.add(
                &flow.at(key),
                format!(
                    "{url:?} is not imported: Gatehouse serves this endpoint at {expected:?} under the \
                     listen path, as Tyk does"
                ),
            );
        }
        _ => {}
    }
    Ok(())
}

fn import_notifications(scheme: &Obj<'_>, w: &mut Warnings) -> Result<Option<Notifications>, ImportError> {
    let Some(n) = scheme.obj("notifications")? else { return Ok(None) };
    w.unmapped(&n, &["onKeyChangeUrl", "sharedSecret"]);
    notifications(&n, "onKeyChangeUrl", "sharedSecret", w)
}
