//! Tyk's auth token (OAS `authToken` / `apiKey`, Classic `use_standard_auth`) imports as
//! `token_auth`, with where the token is read and whether it is stripped, and exports back to
//! the same Tyk form; what does not carry over is warned about or, when it would weaken the
//! API's protection, refused.

use serde_json::{Value, json};

use super::*;
use crate::oas_tests::set;
use gatehouse_model::CredentialLocation;

/// An Auth Token API as Tyk's documentation writes one: the OpenAPI `apiKey` scheme says where
/// the token is, Tyk's scheme only that it is enabled.
fn oas_token_doc() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Orders", "version": "1.0.0" },
        "paths": {},
        "security": [{ "authToken": [] }],
        "components": { "securitySchemes": {
            "authToken": { "type": "apiKey", "in": "header", "name": "Authorization" }
        } },
        "x-tyk-api-gateway": {
            "info": { "id": "orders", "name": "Orders", "state": { "active": true } },
            "server": {
                "listenPath": { "value": "/orders/", "strip": true },
                "authentication": { "enabled": true, "securitySchemes": { "authToken": { "enabled": true } } }
            },
            "upstream": { "url": "http://orders:8080" }
        }
    })
}

fn classic_token_def() -> Value {
    json!({
        "name": "Orders", "api_id": "orders",
        "use_keyless": false, "use_oauth2": false, "use_standard_auth": true,
        "auth_configs": { "authToken": { "auth_header_name": "Authorization" } },
        "strip_auth_data": false,
        "proxy": { "listen_path": "/orders/", "target_url": "http://orders:8080", "strip_listen_path": true },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

const OAS_SCHEME: &str = "x-tyk-api-gateway.server.authentication.securitySchemes.authToken";

/// The one warning of a Tyk auth token import: the standalone keys do not come along.
fn assert_only_the_keys_warning(warnings: &[String], path: &str) {
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].starts_with(&format!("{path}: ")), "{warnings:#?}");
    assert!(warnings[0].contains("token_auth") && warnings[0].contains("standalone keys"), "{warnings:#?}");
}

#[test]
fn a_tyk_oas_auth_token_imports_as_token_auth_with_one_warning() {
    let imported = import_oas(&oas_token_doc()).unwrap();
    assert!(imported.api.token_auth && imported.api.oauth.is_none() && imported.api.requires_token());
    assert!(!imported.explicitly_keyless);
    assert_eq!(
        imported.api.credentials,
        CredentialLocation::default(),
        "Authorization, from the apiKey scheme"
    );
    assert_only_the_keys_warning(&imported.warnings, OAS_SCHEME);
}

#[test]
fn a_tyk_oas_auth_token_keeps_its_header_query_cookie_and_strip() {
    // The OpenAPI scheme alone names the source.
    for (place, expected) in [
        ("header", CredentialLocation { header_name: "X-Api-Key".into(), ..Default::default() }),
        ("query", CredentialLocation { query_param: "X-Api-Key".into(), ..Default::default() }),
        ("cookie", CredentialLocation { cookie_name: "X-Api-Key".into(), ..Default::default() }),
    ] {
        let mut doc = oas_token_doc();
        set(&mut doc, "/components/securitySchemes/authToken/in", json!(place));
        set(&mut doc, "/components/securitySchemes/authToken/name", json!("X-Api-Key"));
        if place != "header" {
            // Tyk reads no header then; Gatehouse always does, and says so.
            set(
                &mut doc,
                "/x-tyk-api-gateway/server/authentication/securitySchemes/authToken/header",
                json!({ "enabled": true, "name": "Authorization" }),
            );
        }
        let imported = import_oas(&doc).unwrap();
        assert_eq!(imported.api.credentials, expected, "{place}");
        assert_only_the_keys_warning(&imported.warnings, OAS_SCHEME);
    }
    // Tyk's own sources, and stripAuthorizationData.
    let mut doc = oas_token_doc();
    let scheme = "/x-tyk-api-gateway/server/authentication/securitySchemes/authToken";
    set(
        &mut doc,
        scheme,
        json!({
            "enabled": true,
            "header": { "enabled": true, "name": "X-Token" },
            "query": { "enabled": true, "name": "token" },
            "cookie": { "enabled": true, "name": "tok" }
        }),
    );
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/stripAuthorizationData", json!(true));
    let imported = import_oas(&doc).unwrap();
    let expected = CredentialLocation {
        header_name: "X-Token".into(),
        query_param: "token".into(),
        cookie_name: "tok".into(),
        strip: true,
    };
    assert_eq!(imported.api.credentials, expected);
    assert_only_the_keys_warning(&imported.warnings, OAS_SCHEME);
}

#[test]
fn a_tyk_oas_auth_token_with_signatures_is_refused_with_certificates_warned() {
    let mut doc = oas_token_doc();
    set(
        &mut doc,
        "/x-tyk-api-gateway/server/authentication/securitySchemes/authToken/signatureValidation",
        json!({ "enabled": true, "algorithm": "MasherySHA256", "header": "Signature", "secret": "s" }),
    );
    let err = import_oas(&doc).unwrap_err();
    assert_eq!(err.path, format!("{OAS_SCHEME}.signatureValidation.enabled"));
    assert!(err.message.contains("weaken"), "{err}");

    // Keys bound to certificates are Tyk's own keys: a warning, nothing weaker.
    let mut doc = oas_token_doc();
    set(
        &mut doc,
        "/x-tyk-api-gateway/server/authentication/securitySchemes/authToken/enableClientCertificate",
        json!(true),
    );
    let w = import_oas(&doc).unwrap().warnings;
    assert!(
        w.iter().any(|w| w.starts_with(&format!("{OAS_SCHEME}.enableClientCertificate: Tyk's keys bound"))),
        "{w:#?}"
    );
}

#[test]
fn an_oas_token_auth_api_exports_to_the_same_tyk_form() {
    let mut doc = oas_token_doc();
    set(&mut doc, "/x-tyk-api-gateway/server/authentication/stripAuthorizationData", json!(true));
    set(&mut doc, "/components/securitySchemes/authToken/name", json!("X-Api-Key"));
    let api = import_oas(&doc).unwrap().api;
    let exported = export_oas(&api);
    assert_eq!(
        exported["components"]["securitySchemes"]["authToken"],
        json!({ "type": "apiKey", "in": "header", "name": "X-Api-Key" })
    );
    assert_eq!(exported["security"], json!([{ "authToken": [] }]));
    let auth = &exported["x-tyk-api-gateway"]["server"]["authentication"];
    assert_eq!(auth["enabled"], true);
    assert_eq!(auth["stripAuthorizationData"], true);
    assert_eq!(auth["securitySchemes"]["authToken"]["enabled"], true);
    assert_eq!(
        auth["securitySchemes"]["authToken"]["header"],
        json!({ "enabled": true, "name": "X-Api-Key" })
    );
    // Back again: the same API, and Gatehouse's own block says what the scheme means.
    let again = import_oas(&exported).unwrap();
    assert_eq!(again.api, api);
    assert_eq!(again.warnings, Vec::<String>::new());
}

#[test]
fn a_tyk_classic_auth_token_imports_as_token_auth_with_one_warning() {
    let mut def = classic_token_def();
    set(
        &mut def,
        "/auth_configs/authToken",
        json!({
            "auth_header_name": "X-Token", "use_param": true, "param_name": "token",
            "use_cookie": true, "cookie_name": "tok"
        }),
    );
    set(&mut def, "/strip_auth_data", json!(true));
    let imported = import_classic(&json!({ "api_definition": def })).unwrap();
    assert!(imported.api.token_auth && imported.api.oauth.is_none());
    let expected = CredentialLocation {
        header_name: "X-Token".into(),
        query_param: "token".into(),
        cookie_name: "tok".into(),
        strip: true,
    };
    assert_eq!(imported.api.credentials, expected);
    assert_only_the_keys_warning(&imported.warnings, "api_definition.use_standard_auth");

    // Exported, it is the same Tyk Classic form, and reads back without the warning.
    let exported = export_classic(&imported.api);
    assert_eq!(exported["use_standard_auth"], true);
    assert_eq!((&exported["use_oauth2"], &exported["use_keyless"]), (&json!(false), &json!(false)));
    assert_eq!(exported["strip_auth_data"], true);
    assert_eq!(exported["auth_configs"]["authToken"]["auth_header_name"], "X-Token");
    assert_eq!(exported["auth_configs"]["authToken"]["param_name"], "token");
    assert_eq!(exported["auth_configs"]["authToken"]["cookie_name"], "tok");
    let again = import_classic(&exported).unwrap();
    assert_eq!((again.api, again.warnings), (imported.api, vec![]));
}

#[test]
fn a_tyk_classic_auth_token_is_refused_where_it_would_weaken_or_contradict() {
    let mut def = classic_token_def();
    set(&mut def, "/use_keyless", json!(true));
    assert_eq!(import_classic(&def).unwrap_err().path, "use_standard_auth");

    let mut def = classic_token_def();
    set(&mut def, "/auth_configs/authToken/validate_signature", json!(true));
    let err = import_classic(&def).unwrap_err();
    assert_eq!(err.path, "auth_configs.authToken.validate_signature");

    // Keys bound to certificates are Tyk's own keys: a warning, nothing weaker.
    let mut def = classic_token_def();
    set(&mut def, "/auth_configs/authToken/use_certificate", json!(true));
    let imported = import_classic(&def).unwrap();
    let paths: Vec<&str> = imported.warnings.iter().map(|w| w.split_once(": ").unwrap().0).collect();
    assert_eq!(paths, ["use_standard_auth", "auth_configs.authToken.use_certificate"]);
}
