//! Tyk Classic import: OAuth and keyless definitions, refusals and warnings by path.

use serde_json::{Value, json};

use super::*;
use gatehouse_model::{CredentialLocation, GrantType, VersionLocation};

/// A Classic OAuth definition with the defaults the Dashboard writes, which imports cleanly.
fn classic() -> Value {
    json!({
        "id": "65f1c0ffee", "name": "Pets", "slug": "pets", "api_id": "pets", "org_id": "default",
        "use_keyless": false, "use_oauth2": true, "use_basic_auth": false, "use_standard_auth": false,
        "enable_jwt": false, "use_openid": false, "enable_signature_checking": false,
        "use_mutual_tls_auth": false, "use_go_plugin_auth": false, "enable_coprocess_auth": false,
        "external_oauth": { "enabled": false, "providers": [] },
        "oauth_meta": {
            "allowed_access_types": ["authorization_code", "refresh_token", "client_credentials", "password"],
            "allowed_authorize_types": ["code"],
            "auth_login_redirect": "http://idp/login"
        },
        "notifications": { "shared_secret": "s", "oauth_on_keychange_url": "http://hooks/tyk" },
        "auth": { "auth_header_name": "Authorization", "use_param": false, "use_cookie": false },
        "auth_configs": { "oauth": { "auth_header_name": "Authorization" }, "authToken": { "auth_header_name": "X-Key" } },
        "strip_auth_data": false,
        "hmac_allowed_clock_skew": -1,
        "jwt_signing_method": "",
        "definition": { "location": "header", "key": "x-api-version" },
        "version_data": { "not_versioned": true, "default_version": "Default", "versions": { "Default": {
            "name": "Default", "use_extended_paths": true, "expires": "",
            "extended_paths": { "white_list": [], "transform": [] }, "global_headers": {}
        } } },
        "proxy": { "listen_path": "/pets/", "target_url": "http://pets:8080/", "strip_listen_path": true,
                   "preserve_host_header": false, "target_list": [], "transport": { "ssl_min_version": 0 } },
        "cache_options": { "enable_cache": true, "cache_timeout": 60, "cache_all_safe_requests": false },
        "CORS": { "enable": false, "allowed_origins": ["*"], "max_age": 24 },
        "custom_middleware": { "pre": [], "post": [], "driver": "otto", "auth_check": { "name": "" } },
        "disable_rate_limit": true, "do_not_track": true,
        "active": true
    })
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent}"))
        .as_object_mut()
        .unwrap()
        .insert(key.into(), value);
}

fn warning_paths(doc: &Value) -> Vec<String> {
    let imported = import_classic(doc).unwrap_or_else(|e| panic!("{e}"));
    imported.warnings.iter().map(|w| w.split_once(": ").unwrap().0.to_owned()).collect()
}

#[test]
fn a_dashboard_style_definition_imports_cleanly() {
    let Imported { api, warnings, .. } = import_classic(&classic()).unwrap();
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(
        (api.api_id.as_str(), api.name.as_str(), api.listen_path.as_str()),
        ("pets", "Pets", "/pets/")
    );
    assert!(api.strip_listen_path);
    assert_eq!(api.upstream.to_string(), "http://pets:8080");
    let oauth = api.oauth.unwrap();
    assert_eq!(oauth.allowed_grant_types, GrantType::ALL, "in canonical order");
    assert_eq!(oauth.allowed_authorize_types, ["code"]);
    assert_eq!(oauth.auth_login_redirect, "http://idp/login");
    assert_eq!(oauth.notifications.unwrap().url, "http://hooks/tyk");
}

#[test]
fn wrapped_definitions_name_paths_inside_the_wrapper() {
    let mut def = classic();
    set(&mut def, "/proxy/target_url", json!(42));
    let err = import_classic(&json!({ "api_definition": def, "hook_references": [] })).unwrap_err();
    assert_eq!(err.to_string(), "api_definition.proxy.target_url: expected a string, found a number");
    let err = import_classic(&json!({ "api_definition": [] })).unwrap_err();
    assert_eq!(err.path, "api_definition");
}

#[test]
fn other_authentication_methods_stop_the_import() {
    for key in [
        "use_basic_auth",
        "enable_jwt",
        "use_openid",
        "enable_signature_checking",
        "use_mutual_tls_auth",
        "use_go_plugin_auth",
        "enable_coprocess_auth",
    ] {
        let mut doc = classic();
        set(&mut doc, &format!("/{key}"), json!(true));
        let err = import_classic(&json!({ "api_definition": doc })).unwrap_err();
        assert_eq!(err.path, format!("api_definition.{key}"));
        assert!(err.message.contains("not supported"), "{err}");
    }
    let mut doc = classic();
    set(&mut doc, "/external_oauth/enabled", json!(true));
    assert_eq!(import_classic(&doc).unwrap_err().path, "external_oauth.enabled");
}

#[test]
fn keyless_and_missing_authentication() {
    let mut doc = classic();
    set(&mut doc, "/use_oauth2", json!(false));
    set(&mut doc, "/use_keyless", json!(true));
    let imported = import_classic(&doc).unwrap();
    assert_eq!(imported.api.oauth, None);
    assert_eq!(imported.warnings, Vec::<String>::new(), "OAuth settings are inert when keyless");

    set(&mut doc, "/use_keyless", json!(false));
    let err = import_classic(&doc).unwrap_err();
    assert_eq!(err.path, "use_keyless");
    assert!(err.message.contains("auth tokens"), "{err}");

    set(&mut doc, "/use_keyless", json!(true));
    set(&mut doc, "/use_oauth2", json!(true));
    assert_eq!(import_classic(&doc).unwrap_err().path, "use_oauth2");
}

#[test]
fn unsupported_oauth_details_are_reported() {
    let mut doc = classic();
    set(&mut doc, "/oauth_meta/allowed_authorize_types", json!(["code", "token"]));
    set(&mut doc, "/active", json!(false));
    let mut paths = warning_paths(&doc);
    paths.sort();
    assert_eq!(paths, ["active", "oauth_meta.allowed_authorize_types[1]"]);
    let oauth = import_classic(&doc).unwrap().api.oauth.unwrap();
    assert_eq!(oauth.allowed_authorize_types, ["code"]);
}

#[test]
fn credentials_come_from_the_auth_config_tyk_reads() {
    let mut doc = classic();
    set(
        &mut doc,
        "/auth_configs/oauth",
        json!({ "auth_header_name": "X-Token", "use_param": true,
        "param_name": "access_token", "use_cookie": true, "cookie_name": "" }),
    );
    set(&mut doc, "/strip_auth_data", json!(true));
    let imported = import_classic(&doc).unwrap();
    let expected = CredentialLocation {
        header_name: "X-Token".into(),
        query_param: "access_token".into(),
        // As in Tyk, an unnamed cookie takes the header's name.
        cookie_name: "X-Token".into(),
        strip: true,
    };
    assert_eq!(imported.api.credentials, expected);
    // The legacy `auth` block says otherwise, and Tyk ignores it: so does Gatehouse, saying so.
    let w = imported.warnings;
    assert!(w.len() == 1 && w[0].starts_with("auth: ignored: Tyk reads auth_configs.oauth"), "{w:#?}");

    // Without auth_configs, the legacy block is what Tyk reads.
    doc.as_object_mut().unwrap().remove("auth_configs");
    set(&mut doc, "/auth/auth_header_name", json!("X-Legacy"));
    let imported = import_classic(&doc).unwrap();
    assert_eq!(imported.warnings, Vec::<String>::new());
    assert_eq!(imported.api.credentials.header_name, "X-Legacy");

    set(&mut doc, "/auth/auth_header_name", json!("bad header"));
    assert_eq!(import_classic(&doc).unwrap_err().path, "auth.auth_header_name");
}

#[test]
fn tyk_auth_tokens_import_as_token_auth() {
    let mut doc = classic();
    set(&mut doc, "/use_oauth2", json!(false));
    set(&mut doc, "/use_standard_auth", json!(true));
    let imported = import_classic(&doc).unwrap();
    assert!(imported.api.token_auth && imported.api.oauth.is_none() && imported.api.requires_token());
    assert_eq!(imported.api.credentials.header_name, "X-Key", "from auth_configs.authToken");
    // Tyk's standalone keys do not come along; the legacy block differs from the one Tyk reads.
    assert_eq!(warning_paths(&doc), ["use_standard_auth", "auth"]);
    // Gatehouse's own export says what it means.
    set(&mut doc, "/gatehouse", json!({ "token_auth": true }));
    assert_eq!(warning_paths(&doc), ["auth"]);

    set(&mut doc, "/use_keyless", json!(true));
    assert_eq!(import_classic(&doc).unwrap_err().path, "gatehouse.token_auth");
}

#[test]
fn unmapped_features_are_reported_and_defaults_are_not() {
    let mut doc = classic();
    set(&mut doc, "/tags", json!(["edge"]));
    set(&mut doc, "/enable_ip_whitelisting", json!(true));
    set(&mut doc, "/allowed_ips", json!(["10.0.0.0/8"]));
    set(&mut doc, "/global_rate_limit", json!({ "rate": 10, "per": 1 }));
    set(&mut doc, "/proxy/enable_load_balancing", json!(true));
    set(&mut doc, "/custom_middleware/pre", json!([{ "name": "addHeader" }]));
    set(&mut doc, "/version_data/versions/Default/extended_paths/white_list", json!([{ "path": "/a" }]));
    set(&mut doc, "/cache_options/cache_all_safe_requests", json!(true));
    set(&mut doc, "/session_lifetime", json!(3600));
    let mut paths = warning_paths(&doc);
    paths.sort();
    assert_eq!(
        paths,
        [
            "allowed_ips",
            "cache_options",
            "custom_middleware.pre",
            "enable_ip_whitelisting",
            "global_rate_limit",
            "proxy.enable_load_balancing",
            "session_lifetime",
            "tags",
            "version_data.versions.Default.extended_paths.white_list",
        ]
    );
    let w = import_classic(&doc).unwrap().warnings;
    assert!(w.iter().any(|w| w.starts_with("allowed_ips: ") && w.contains("NOT ENFORCED")), "{w:#?}");
}

#[test]
fn versions_import_with_their_location_and_default() {
    let mut doc = classic();
    set(&mut doc, "/version_data/not_versioned", json!(false));
    set(&mut doc, "/version_data/default_version", json!("v1"));
    set(&mut doc, "/version_data/versions/v1", json!({ "name": "v1" }));
    set(&mut doc, "/version_data/versions/v2", json!({ "name": "v2", "override_target": "http://v2" }));
    doc["version_data"]["versions"].as_object_mut().unwrap().remove("Default");
    set(&mut doc, "/definition", json!({ "location": "url-param", "key": "version", "strip_path": true }));
    let imported = import_classic(&doc).unwrap();
    let v = imported.api.versioning.unwrap();
    assert_eq!(
        (v.location, v.key.as_str(), v.default_version.as_str()),
        (VersionLocation::QueryParam, "version", "v1")
    );
    assert_eq!((v.versions, v.strip), (vec!["v1".to_owned(), "v2".to_owned()], true));
    assert_eq!(imported.warnings.len(), 1, "{:#?}", imported.warnings);
    assert!(
        imported.warnings[0].starts_with("version_data.versions.v2.override_target"),
        "{:#?}",
        imported.warnings
    );

    set(&mut doc, "/definition/location", json!("cookie"));
    assert_eq!(import_classic(&doc).unwrap_err().path, "definition.location");
    set(&mut doc, "/definition/location", json!("url"));
    set(&mut doc, "/version_data/default_version", json!("v9"));
    assert_eq!(import_classic(&doc).unwrap_err().path, "version_data.default_version");
}

#[test]
fn an_unversioned_api_imports_unversioned() {
    assert_eq!(import_classic(&classic()).unwrap().api.versioning, None);
}

#[test]
fn required_fields_and_domain_rules_name_their_paths() {
    let mut doc = classic();
    doc["proxy"].as_object_mut().unwrap().remove("listen_path");
    let err = import_classic(&doc).unwrap_err();
    assert_eq!(err.to_string(), "proxy.listen_path: is required: expected a string");

    let mut doc = classic();
    set(&mut doc, "/proxy/target_url", json!("ftp://pets"));
    assert_eq!(import_classic(&doc).unwrap_err().path, "proxy.target_url");

    let mut doc = classic();
    set(&mut doc, "/oauth_meta/auth_login_redirect", json!(""));
    assert_eq!(import_classic(&doc).unwrap_err().path, "oauth_meta.auth_login_redirect");

    let mut doc = classic();
    set(&mut doc, "/api_id", json!("has space"));
    assert_eq!(import_classic(&doc).unwrap_err().path, "api_id");

    let mut doc = classic();
    set(&mut doc, "/name", json!(""));
    assert_eq!(import_classic(&doc).unwrap_err().path, "name");
}

#[test]
fn an_oas_document_is_pointed_at_the_oas_import() {
    let err = import_classic(&json!({ "openapi": "3.0.3", "x-tyk-api-gateway": {} })).unwrap_err();
    assert!(err.message.contains("Tyk OAS"), "{err}");
}
