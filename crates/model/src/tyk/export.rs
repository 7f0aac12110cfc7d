//! Tyk OAS export: a complete document Tyk can import, and that [`super::import_oas`] turns back
//! into the same [`Api`] without warnings.

use serde_json::{Map, Value, json};

use super::oas::{ACCESS_TTL, CODE_TTL, ERROR_STATUS, EXTENSION, REFRESH_TTL, TYK};
use super::oas_auth::{AUTHORIZE_URL, TOKEN_URL};
use crate::{Api, GrantType, OAuthSettings};

/// The security scheme's name in both the OpenAPI components and Tyk's extension; Tyk's own
/// examples call it so.
const SCHEME: &str = "oauth";

/// Writes `api` as a Tyk OAS API definition.
pub fn export_oas(api: &Api) -> Value {
    let mut info = json!({ "name": api.name, "state": { "active": true } });
    if !api.api_id.is_empty() {
        // Without an id Tyk generates one, as Gatehouse's control plane does.
        info["id"] = api.api_id.clone().into();
    }
    let mut server = json!({
        "listenPath": { "value": api.listen_path, "strip": api.strip_listen_path },
    });
    let mut tyk = json!({
        "info": info,
        "upstream": { "url": api.upstream.to_string() },
    });
    let mut doc = json!({
        "openapi": "3.0.3",
        // OpenAPI requires a version; Gatehouse does not version APIs.
        "info": { "title": api.name, "version": "1.0.0" },
        "paths": {},
    });
    if let Some(oauth) = &api.oauth {
        server["authentication"] = json!({
            "enabled": true,
            "securitySchemes": { SCHEME: tyk_scheme(oauth) },
        });
        doc["components"] = json!({
            "securitySchemes": { SCHEME: { "type": "oauth2", "flows": flows(oauth) } },
        });
        doc["security"] = json!([{ SCHEME: [] }]);
        if let Some(extension) = extension(oauth) {
            doc[EXTENSION] = extension;
        }
    }
    tyk["server"] = server;
    doc[TYK] = tyk;
    doc
}

/// Tyk's side of the OAuth scheme: how its authorization server behaves.
fn tyk_scheme(oauth: &OAuthSettings) -> Value {
    let mut scheme = json!({
        "enabled": true,
        "allowedAuthorizeTypes": oauth.allowed_authorize_types,
        "refreshToken": oauth.allows(GrantType::RefreshToken),
        "header": { "enabled": true, "name": "Authorization" },
    });
    if !oauth.auth_login_redirect.is_empty() {
        scheme["authLoginRedirect"] = oauth.auth_login_redirect.clone().into();
    }
    if let Some(n) = &oauth.notifications {
        scheme["notifications"] = json!({ "onKeyChangeUrl": n.url, "sharedSecret": n.shared_secret });
    }
    scheme
}

/// The OpenAPI flows, which is where Tyk takes the grant types from (all but refresh_token,
/// which is `refreshToken` on Tyk's side). The URLs are relative to the listen path, as Tyk
/// writes them.
fn flows(oauth: &OAuthSettings) -> Value {
    let mut flows = Map::new();
    for grant in &oauth.allowed_grant_types {
        let (name, flow) = match grant {
            GrantType::AuthorizationCode => (
                "authorizationCode",
                json!({ "authorizationUrl": AUTHORIZE_URL, "tokenUrl": TOKEN_URL, "scopes": {} }),
            ),
            GrantType::ClientCredentials => {
                ("clientCredentials", json!({ "tokenUrl": TOKEN_URL, "scopes": {} }))
            }
            GrantType::Password => ("password", json!({ "tokenUrl": TOKEN_URL, "scopes": {} })),
            GrantType::RefreshToken => continue,
        };
        flows.insert(name.to_owned(), flow);
    }
    Value::Object(flows)
}

/// `x-gatehouse`, only when some setting Tyk keeps outside API definitions is not the default.
fn extension(oauth: &OAuthSettings) -> Option<Value> {
    let mut settings = Map::new();
    for (key, secs) in [
        (ACCESS_TTL, oauth.access_token_ttl_secs),
        (REFRESH_TTL, oauth.refresh_token_ttl_secs),
        (CODE_TTL, oauth.code_ttl_secs),
    ] {
        if secs != 0 {
            settings.insert(key.to_owned(), secs.into());
        }
    }
    if let Some(status) = oauth.error_status {
        settings.insert(ERROR_STATUS.to_owned(), status.into());
    }
    (!settings.is_empty()).then(|| json!({ "oauth": settings }))
}
