//! Tyk Classic export: a bare `api_definition` that Tyk can load and that
//! [`crate::import_classic`] turns back into the same [`Api`](gatehouse_model::Api) without warnings (the crate doc
//! lists where each setting goes and what the round trip normalises).

use serde_json::{Map, Value, json};

use crate::classic::{GATEHOUSE, OAUTH_CONFIG, TOKEN_CONFIG};
use crate::{credentials, extension};
use gatehouse_model::{Api, VersionLocation};

/// Writes `api` as a Tyk Classic API definition. Its authentication is always stated:
/// `use_keyless`, `use_oauth2` or (for `token_auth` alone) `use_standard_auth`.
pub fn export_classic(api: &Api) -> Value {
    let mut def = json!({
        "name": api.name,
        "active": true,
        "proxy": {
            "listen_path": api.listen_path,
            "strip_listen_path": api.strip_listen_path,
            "target_url": api.upstream.to_string(),
        },
        "use_keyless": !api.requires_token(),
        "use_oauth2": api.oauth.is_some(),
        "use_standard_auth": api.token_auth && api.oauth.is_none(),
    });
    if !api.api_id.is_empty() {
        def["api_id"] = api.api_id.clone().into();
    }
    if api.requires_token() {
        let method = if api.oauth.is_some() { OAUTH_CONFIG } else { TOKEN_CONFIG };
        def["auth_configs"] = json!({ method: credentials::to_classic(&api.credentials) });
        def["strip_auth_data"] = api.credentials.strip.into();
    }
    if let Some(oauth) = &api.oauth {
        let grants: Vec<&str> = oauth.allowed_grant_types.iter().map(|g| g.as_str()).collect();
        def["oauth_meta"] = json!({
            "allowed_access_types": grants,
            "allowed_authorize_types": oauth.allowed_authorize_types,
            "auth_login_redirect": oauth.auth_login_redirect,
        });
        if let Some(n) = &oauth.notifications {
            def["notifications"] =
                json!({ "oauth_on_keychange_url": n.url, "shared_secret": n.shared_secret });
        }
    }
    versions(api, &mut def);
    if let Some(ext) = extension(api) {
        def[GATEHOUSE] = ext;
    }
    def
}

/// `definition` and `version_data`; an unversioned API as Tyk writes one.
fn versions(api: &Api, def: &mut Value) {
    let Some(v) = &api.versioning else {
        def["version_data"] =
            json!({ "not_versioned": true, "versions": { "Default": { "name": "Default" } } });
        return;
    };
    let location = match v.location {
        VersionLocation::Header => "header",
        VersionLocation::QueryParam => "url-param",
        VersionLocation::UrlSegment => "url",
    };
    def["definition"] = json!({ "location": location, "key": v.key, "strip_versioning_data": v.strip });
    let versions: Map<String, Value> =
        v.versions.iter().map(|name| (name.clone(), json!({ "name": name }))).collect();
    def["version_data"] =
        json!({ "not_versioned": false, "default_version": v.default_version, "versions": versions });
}

/// `gatehouse`, only when some setting Tyk has no place for is not the default. (Classic's
/// versioning has Tyk's own `version_data`.)
fn extension(api: &Api) -> Option<Value> {
    let ext = extension::write(api, &extension::CLASSIC);
    (!ext.is_empty()).then_some(Value::Object(ext))
}
