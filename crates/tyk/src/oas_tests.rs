//! Tyk OAS import: each warning and each refusal, and that they name their JSON paths.

use serde_json::{Value, json};

use super::*;
use gatehouse_model::GrantType;

const SCHEME: &str = "/x-tyk-api-gateway/server/authentication/securitySchemes/oauth";

/// An OAuth API as Tyk documents it, which imports without warnings.
fn oauth_doc() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Pets", "version": "1.0.0" },
        "paths": {},
        "security": [{ "oauth": [] }],
        "components": { "securitySchemes": { "oauth": { "type": "oauth2", "flows": {
            "authorizationCode": { "authorizationUrl": "/oauth/authorize", "tokenUrl": "/oauth/token", "scopes": {} }
        } } } },
        "x-tyk-api-gateway": {
            "info": { "id": "pets", "name": "Pets API", "state": { "active": true } },
            "server": {
                "listenPath": { "value": "/pets/", "strip": true },
                "authentication": { "enabled": true, "securitySchemes": { "oauth": {
                    "enabled": true,
                    "allowedAuthorizeTypes": ["code"],
                    "authLoginRedirect": "http://idp/login",
                    "header": { "enabled": true, "name": "Authorization" }
                } } }
            },
            "upstream": { "url": "http://pets:8080" }
        }
    })
}

/// Sets the member at `pointer` (its parent must exist). Shared with `token_auth_tests`.
pub(crate) fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent}"))
        .as_object_mut()
        .unwrap()
        .insert(key.into(), value);
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
}

fn warnings_of(doc: &Value) -> Vec<String> {
    import_oas(doc).unwrap_or_else(|e| panic!("{e}")).warnings
}

fn error_of(doc: &Value) -> ImportError {
    import_oas(doc).expect_err("the import should fail")
}

/// Exactly one warning, at `path`.
fn assert_one_warning(doc: &Value, path: &str) -> String {
    let w = warnings_of(doc);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0].starts_with(&format!("{path}: ")), "{w:#?}");
    w[0].clone()
}

#[test]
fn the_base_document_imports_cleanly() {
    let imported = import_oas(&oauth_doc()).unwrap();
    assert_eq!(imported.warnings, Vec::<String>::new());
    assert_eq!(imported.api.api_id, "pets");
    assert_eq!(imported.api.name, "Pets API");
    assert_eq!(imported.api.oauth.unwrap().allowed_grant_types, [GrantType::AuthorizationCode]);
}

#[test]
fn every_supported_flow_becomes_a_grant() {
    let mut doc = oauth_doc();
    let flows = "/components/securitySchemes/oauth/flows";
    set(&mut doc, &format!("{flows}/password"), json!({ "tokenUrl": "/oauth/token", "scopes": {} }));
    set(&mut doc, &format!("{flows}/clientCredentials"), json!({ "tokenUrl": "/oauth/token" }));
    set(&mut doc, &format!("{SCHEME}/refreshToken"), json!(true));
    let api = import_oas(&doc).unwrap().api;
    assert_eq!(api.oauth.unwrap().allowed_grant_types, GrantType::ALL);
}

#[test]
fn the_implicit_flow_is_reported_not_imported() {
    let mut doc = oauth_doc();
    set(
        &mut doc,
        "/components/securitySchemes/oauth/flows/implicit",
        json!({ "authorizationUrl": "/oauth/authorize" }),
    );
    let w = assert_one_warning(&doc, "components.securitySchemes.oauth.flows.implicit");
    assert!(w.contains("RFC 9700"), "{w}");
    let oauth = import_oas(&doc).unwrap().api.oauth.unwrap();
    assert_eq!(oauth.allowed_grant_types, [GrantType::AuthorizationCode]);
}

#[test]
fn the_token_authorize_type_is_reported_and_dropped() {
    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/allowedAuthorizeTypes"), json!(["code", "token"]));
    let w = assert_one_warning(
        &doc,
        "x-tyk-api-gateway.server.authentication.securitySchemes.oauth.allowedAuthorizeTypes[1]",
    );
    assert!(w.contains("implicit"), "{w}");
    assert_eq!(import_oas(&doc).unwrap().api.oauth.unwrap().allowed_authorize_types, ["code"]);
}

#[test]
fn flow_urls_other_than_tyks_are_reported() {
    let mut doc = oauth_doc();
    let flow = "/components/securitySchemes/oauth/flows/authorizationCode";
    set(&mut doc, &format!("{flow}/tokenUrl"), json!("https://idp.example/token"));
    assert_one_warning(&doc, "components.securitySchemes.oauth.flows.authorizationCode.tokenUrl");
    let mut doc = oauth_doc();
    set(&mut doc, &format!("{flow}/authorizationUrl"), json!("/authorize"));
    assert_one_warning(&doc, "components.securitySchemes.oauth.flows.authorizationCode.authorizationUrl");
}

#[test]
fn credential_locations_import_from_the_scheme() {
    let base = "x-tyk-api-gateway.server.authentication.securitySchemes.oauth";
    let imported = |doc: &Value| {
        let imported = import_oas(doc).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(imported.warnings, Vec::<String>::new());
        imported.api.credentials
    };
    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/header/name"), json!("authorization"));
    assert_eq!(imported(&doc).header_name, "", "Authorization in any case is the default");

    set(&mut doc, &format!("{SCHEME}/header/name"), json!("X-Api-Token"));
    set(&mut doc, &format!("{SCHEME}/query"), json!({ "enabled": true, "name": "token" }));
    set(&mut doc, &format!("{SCHEME}/cookie"), json!({ "enabled": true }));
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/stripAuthorizationData", json!(true));
    let expected = gatehouse_model::CredentialLocation {
        header_name: "X-Api-Token".into(),
        query_param: "token".into(),
        // As in Tyk, an unnamed source takes the header's name.
        cookie_name: "X-Api-Token".into(),
        strip: true,
    };
    assert_eq!(imported(&doc), expected);

    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/query"), json!({ "enabled": false, "name": "token" }));
    assert_eq!(imported(&doc).query_param, "", "a disabled source changes nothing");

    let mut doc = oauth_doc();
    remove(&mut doc, &format!("{SCHEME}/header"));
    assert_one_warning(&doc, &format!("{base}.header"));

    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/query"), json!({ "enabled": true, "name": "a b" }));
    assert_eq!(error_of(&doc).path, format!("{base}.query.name"));
}

#[test]
fn an_api_key_scheme_under_another_name_imports_as_token_auth() {
    let mut doc = oauth_doc();
    set(
        &mut doc,
        "/components/securitySchemes/oauth",
        json!({ "type": "apiKey", "in": "header", "name": "X-Key" }),
    );
    set(&mut doc, &format!("{SCHEME}/header/name"), json!("X-Key"));
    let imported = import_oas(&doc).unwrap();
    assert!(imported.api.token_auth && imported.api.oauth.is_none());
    assert_eq!(imported.api.credentials.header_name, "X-Key");
    // Tyk's standalone keys do not come along; the OAuth-only fields say nothing to a token.
    let paths: Vec<&str> = imported.warnings.iter().map(|w| w.split_once(": ").unwrap().0).collect();
    let scheme = "x-tyk-api-gateway.server.authentication.securitySchemes.oauth";
    assert_eq!(
        paths,
        [scheme.to_owned(), format!("{scheme}.allowedAuthorizeTypes"), format!("{scheme}.authLoginRedirect")]
    );
    // Gatehouse's own export says what it means: no warning about keys.
    set(&mut doc, "/x-gatehouse", json!({ "tokenAuth": true }));
    assert_eq!(import_oas(&doc).unwrap().warnings.len(), 2);

    set(&mut doc, "/x-tyk-api-gateway/server/authentication/enabled", json!(false));
    assert_eq!(error_of(&doc).path, "x-gatehouse.tokenAuth");
}

#[test]
fn only_an_explicitly_disabled_authentication_is_keyless_on_purpose() {
    let mut doc = oauth_doc();
    assert!(!import_oas(&doc).unwrap().explicitly_keyless);
    set(&mut doc, "/x-tyk-api-gateway/server/authentication", json!({ "enabled": false }));
    assert!(import_oas(&doc).unwrap().explicitly_keyless);
    set(&mut doc, "/x-tyk-api-gateway/server/authentication", json!({}));
    assert!(!import_oas(&doc).unwrap().explicitly_keyless, "enabled left out is not said");
    remove(&mut doc, "/x-tyk-api-gateway/server/authentication");
    let imported = import_oas(&doc).unwrap();
    assert!(imported.api.oauth.is_none() && !imported.explicitly_keyless, "a lost block is not said");
}

#[test]
fn other_authentication_schemes_stop_the_import() {
    for (component, what) in [
        (json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }), "JWT"),
        (json!({ "type": "http", "scheme": "basic" }), "basic"),
    ] {
        let mut doc = oauth_doc();
        set(&mut doc, "/components/securitySchemes/oauth", component);
        let err = error_of(&doc);
        assert_eq!(err.path, "x-tyk-api-gateway.server.authentication.securitySchemes.oauth", "{err}");
        assert!(err.message.starts_with(what) && err.message.contains("without authentication"), "{err}");
    }
}

#[test]
fn a_second_enabled_scheme_of_another_kind_stops_the_import() {
    let mut doc = oauth_doc();
    set(
        &mut doc,
        "/components/securitySchemes/key",
        json!({ "type": "apiKey", "in": "header", "name": "X-Key" }),
    );
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/securitySchemes/key", json!({ "enabled": true }));
    // Either one is refused as the second (the schemes are read in name order).
    let err = error_of(&doc);
    assert_eq!(err.path, "x-tyk-api-gateway.server.authentication.securitySchemes.oauth");
    assert!(err.message.contains("a second enabled scheme (besides \"key\")"), "{err}");
    // Disabled, it is inert in Tyk too.
    set(
        &mut doc,
        "/x-tyk-api-gateway/server/authentication/securitySchemes/key",
        json!({ "enabled": false }),
    );
    assert_eq!(warnings_of(&doc), Vec::<String>::new());
}

#[test]
fn other_authentication_methods_and_missing_schemes_stop_the_import() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/hmac", json!({ "enabled": true }));
    assert_eq!(error_of(&doc).path, "x-tyk-api-gateway.server.authentication.hmac.enabled");

    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/enabled"), json!(false));
    let err = error_of(&doc);
    assert_eq!(err.path, "x-tyk-api-gateway.server.authentication.securitySchemes");
    assert!(err.message.contains("no security scheme is"), "{err}");

    let mut doc = oauth_doc();
    remove(&mut doc, "/components");
    assert_eq!(error_of(&doc).path, "components.securitySchemes.oauth");

    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/providers"), json!([{ "jwt": { "enabled": true } }]));
    assert_eq!(
        error_of(&doc).path,
        "x-tyk-api-gateway.server.authentication.securitySchemes.oauth.providers"
    );
}

#[test]
fn disabled_authentication_is_keyless() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/enabled", json!(false));
    let imported = import_oas(&doc).unwrap();
    assert_eq!(imported.api.oauth, None);
    assert_eq!(imported.warnings, Vec::<String>::new());
    remove(&mut doc, "/x-tyk-api-gateway/server/authentication");
    assert_eq!(import_oas(&doc).unwrap().api.oauth, None);
}

#[test]
fn an_inactive_api_is_imported_active_with_a_warning() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/info/state/active", json!(false));
    let w = assert_one_warning(&doc, "x-tyk-api-gateway.info.state.active");
    assert!(w.contains("imported it active"), "{w}");
}

#[test]
fn unmapped_tyk_features_are_reported_by_path() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/middleware", json!({ "global": { "cors": { "enabled": true } } }));
    set(&mut doc, "/x-tyk-api-gateway/server/gatewayTags", json!({ "enabled": true, "tags": ["edge"] }));
    set(
        &mut doc,
        "/x-tyk-api-gateway/server/customDomain",
        json!({ "enabled": true, "name": "api.example" }),
    );
    set(
        &mut doc,
        "/x-tyk-api-gateway/upstream/rateLimit",
        json!({ "enabled": true, "rate": 10, "per": "1s" }),
    );
    set(&mut doc, "/x-tyk-api-gateway/somethingNew", json!({ "a": 1 }));
    set(&mut doc, &format!("{SCHEME}/scopeCheck"), json!({ "enabled": true }));
    let mut paths: Vec<String> =
        warnings_of(&doc).iter().map(|w| w.split_once(": ").unwrap().0.to_owned()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "x-tyk-api-gateway.middleware",
            "x-tyk-api-gateway.server.authentication.securitySchemes.oauth.scopeCheck",
            "x-tyk-api-gateway.server.customDomain",
            "x-tyk-api-gateway.server.gatewayTags",
            "x-tyk-api-gateway.somethingNew",
            "x-tyk-api-gateway.upstream.rateLimit",
        ]
    );
}

#[test]
fn defaults_and_bookkeeping_are_not_reported() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/middleware", json!({}));
    set(&mut doc, "/x-tyk-api-gateway/server/gatewayTags", json!({ "enabled": false, "tags": ["edge"] }));
    set(&mut doc, "/x-tyk-api-gateway/server/detailedActivityLogs", json!({ "enabled": false }));
    set(&mut doc, "/x-tyk-api-gateway/info/state/internal", json!(false));
    set(&mut doc, "/x-tyk-api-gateway/info/dbId", json!("65f1c0ffee"));
    set(&mut doc, "/x-tyk-api-gateway/info/orgId", json!("default"));
    set(&mut doc, "/x-tyk-api-gateway/server/slug", json!("pets"));
    set(&mut doc, "/servers", json!([{ "url": "http://tyk:8080/pets/" }]));
    assert_eq!(warnings_of(&doc), Vec::<String>::new());
}

#[test]
fn required_fields_are_named_with_their_expected_type() {
    let mut doc = oauth_doc();
    remove(&mut doc, "/x-tyk-api-gateway/server/listenPath/value");
    let err = error_of(&doc);
    assert_eq!(err.path, "x-tyk-api-gateway.server.listenPath.value");
    assert_eq!(err.message, "is required: expected a string");

    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/server/listenPath/strip", json!("yes"));
    let err = error_of(&doc);
    assert_eq!(
        err.to_string(),
        "x-tyk-api-gateway.server.listenPath.strip: expected a boolean, found a string"
    );

    let mut doc = oauth_doc();
    remove(&mut doc, "/x-tyk-api-gateway/upstream/url");
    assert_eq!(error_of(&doc).path, "x-tyk-api-gateway.upstream.url");

    let mut doc = oauth_doc();
    remove(&mut doc, "/x-tyk-api-gateway");
    assert_eq!(error_of(&doc).path, "x-tyk-api-gateway");

    assert_eq!(import_oas(&json!("text")).unwrap_err().path, "$");
}

#[test]
fn upstream_and_domain_rule_errors_name_the_json_path() {
    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/upstream/url", json!("ftp://pets:8443"));
    let err = error_of(&doc);
    assert_eq!(err.path, "x-tyk-api-gateway.upstream.url");
    assert!(err.message.contains("ftp"), "{err}");

    let mut doc = oauth_doc();
    set(&mut doc, "/x-tyk-api-gateway/server/listenPath/value", json!("pets"));
    assert_eq!(error_of(&doc).path, "x-tyk-api-gateway.server.listenPath.value");

    let mut doc = oauth_doc();
    remove(&mut doc, &format!("{SCHEME}/authLoginRedirect"));
    assert_eq!(
        error_of(&doc).path,
        "x-tyk-api-gateway.server.authentication.securitySchemes.oauth.authLoginRedirect"
    );
}

#[test]
fn the_name_falls_back_to_the_openapi_title() {
    let mut doc = oauth_doc();
    remove(&mut doc, "/x-tyk-api-gateway/info/name");
    assert_eq!(import_oas(&doc).unwrap().api.name, "Pets");
    remove(&mut doc, "/info/title");
    assert_eq!(error_of(&doc).path, "x-tyk-api-gateway.info.name");
}

#[test]
fn notifications_without_a_url_are_none() {
    let mut doc = oauth_doc();
    set(&mut doc, &format!("{SCHEME}/notifications"), json!({ "onKeyChangeUrl": "", "sharedSecret": "" }));
    let imported = import_oas(&doc).unwrap();
    assert_eq!(imported.warnings, Vec::<String>::new());
    assert_eq!(imported.api.oauth.unwrap().notifications, None);
}
