//! Tyk OAS export: a complete document Tyk can import, and that [`crate::import_oas`] turns back
//! into the same [`Api`](gatehouse_model::Api) without warnings (the crate doc lists where each setting goes).
//!
//! Authentication is always written out: a protected API's scheme (`oauth`, or `authToken` for
//! `token_auth` alone) with its credential sources, a keyless API's `enabled: false`. A document
//! without it is one whose authentication was lost, which the control plane will not let replace
//! a protected API unasked.

use serde_json::{Map, Value, json};

use crate::oas::{EXTENSION, TYK, V_DEFAULT, V_KEY, V_LOCATION, V_STRIP, V_VERSIONS, VERSIONING};
use crate::oas_auth::{AUTHORIZE_URL, TOKEN_URL};
use crate::{credentials, extension};
use gatehouse_model::{Api, GrantType, OAuthSettings};

/// The security schemes' names in both the OpenAPI components and Tyk's extension; Tyk's own
/// examples call them so.
const OAUTH_SCHEME: &str = "oauth";
const TOKEN_SCHEME: &str = "authToken";

/// Writes `api` as a Tyk OAS API definition.
pub fn export_oas(api: &Api) -> Value {
    let mut info = json!({ "name": api.name, "state": { "active": true } });
    if !api.api_id.is_empty() {
        // Without an id Tyk generates one, as Gatehouse's control plane does.
        info["id"] = api.api_id.clone().into();
    }
    let mut doc = json!({
        "openapi": "3.0.3",
        // OpenAPI requires a version; versions of a Gatehouse API travel in x-gatehouse.
        "info": { "title": api.name, "version": "1.0.0" },
        "paths": {},
    });
    let authentication = if api.requires_token() {
        let (name, scheme, component) = match &api.oauth {
            Some(oauth) => {
                (OAUTH_SCHEME, oauth_scheme(oauth), json!({ "type": "oauth2", "flows": flows(oauth) }))
            }
            None => (
                TOKEN_SCHEME,
                Map::from_iter([("enabled".to_owned(), true.into())]),
                json!({ "type": "apiKey", "in": "header", "name": credential_header(api) }),
            ),
        };
        let mut scheme = scheme;
        credentials::to_oas_scheme(&api.credentials, &mut scheme);
        doc["components"] = json!({ "securitySchemes": { name: component } });
        doc["security"] = json!([{ name: [] }]);
        json!({
            "enabled": true,
            "stripAuthorizationData": api.credentials.strip,
            "securitySchemes": { name: scheme },
        })
    } else {
        // Said, not left out: an import tells a keyless API from one whose authentication was lost.
        json!({ "enabled": false })
    };
    let server = json!({
        "listenPath": { "value": api.listen_path, "strip": api.strip_listen_path },
        "authentication": authentication,
    });
    doc[TYK] = json!({
        "info": info,
        "server": server,
        "upstream": { "url": api.upstream.to_string() },
    });
    if let Some(extension) = extension(api) {
        doc[EXTENSION] = extension;
    }
    doc
}

fn credential_header(api: &Api) -> &str {
    if api.credentials.header_name.is_empty() { "Authorization" } else { &api.credentials.header_name }
}

/// Tyk's side of the OAuth scheme: how its authorization server behaves.
fn oauth_scheme(oauth: &OAuthSettings) -> Map<String, Value> {
    let mut scheme = Map::new();
    scheme.insert("enabled".to_owned(), true.into());
    scheme.insert("allowedAuthorizeTypes".to_owned(), json!(oauth.allowed_authorize_types));
    scheme.insert("refreshToken".to_owned(), oauth.allows(GrantType::RefreshToken).into());
    if !oauth.auth_login_redirect.is_empty() {
        scheme.insert("authLoginRedirect".to_owned(), oauth.auth_login_redirect.clone().into());
    }
    if let Some(n) = &oauth.notifications {
        scheme.insert(
            "notifications".to_owned(),
            json!({ "onKeyChangeUrl": n.url, "sharedSecret": n.shared_secret }),
        );
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

/// `x-gatehouse`, only when some setting Tyk has no place for is not the default.
fn extension(api: &Api) -> Option<Value> {
    let mut ext = extension::write(api, &extension::OAS);
    if let Some(v) = &api.versioning {
        ext.insert(
            VERSIONING.to_owned(),
            json!({
                V_LOCATION: v.location.as_str(),
                V_KEY: v.key,
                V_DEFAULT: v.default_version,
                V_VERSIONS: v.versions,
                V_STRIP: v.strip,
            }),
        );
    }
    (!ext.is_empty()).then_some(Value::Object(ext))
}
