//! Tyk's own "complete and valid" OAuth example, and export → import round trips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use gatehouse_model::test_util::ApiBuilder;
use gatehouse_model::{Api, GrantType, Notifications, OAuthSettings, VersionLocation, Versioning};
use gatehouse_tyk::{Imported, export_classic, export_oas, import_classic, import_oas, parse_json};

/// Verbatim from Tyk's OAuth 2.0 documentation, trailing comma included.
const SEED: &str = include_str!("fixtures/tyk-oas-oauth-seed.json");

fn seed_without_trailing_comma() -> String {
    let fixed = SEED.replacen("\"active\": true,\n", "\"active\": true\n", 1);
    assert_ne!(fixed, SEED, "the fixture lost its trailing comma");
    fixed
}

#[test]
fn the_seeds_trailing_comma_is_reported_by_line_and_column() {
    let err = parse_json(SEED).unwrap_err();
    // `"active": true,` is line 31; the comma is found when `}` follows on line 32.
    assert_eq!(err.path, "line 32, column 7");
    assert!(err.message.starts_with("trailing comma"), "{err}");
    assert!(err.to_string().contains("line 32, column 7"), "{err}");
}

#[test]
fn the_seed_imports_without_warnings() {
    let doc = parse_json(&seed_without_trailing_comma()).unwrap();
    let Imported { api, warnings, .. } = import_oas(&doc).unwrap();
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(api.api_id, "", "no id in the document: the control plane assigns one");
    assert_eq!(api.name, "My OAuth API");
    assert_eq!(api.listen_path, "/my-oauth-api/");
    assert!(api.strip_listen_path);
    assert_eq!(api.upstream.to_string(), "http://httpbin.org");
    let oauth = api.oauth.expect("OAuth is enabled");
    assert_eq!(oauth.allowed_grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    assert_eq!(oauth.allowed_authorize_types, ["code"]);
    assert_eq!(oauth.auth_login_redirect, "http://<identity-server>/client-redirect-uri");
    let n = oauth.notifications.expect("notifications");
    assert_eq!(n.url, "http://notifyme.com");
    assert_eq!(n.shared_secret, "oauth-shared-secret");
    assert_eq!((oauth.access_token_ttl_secs, oauth.refresh_token_ttl_secs, oauth.code_ttl_secs), (0, 0, 0));
    assert_eq!(oauth.error_status, None);
}

#[test]
fn the_seed_survives_export_and_import() {
    let doc = parse_json(&seed_without_trailing_comma()).unwrap();
    let api = import_oas(&doc).unwrap().api;
    assert_round_trip(&api);
}

fn keyless() -> Api {
    ApiBuilder::new("orders")
        .name("Orders")
        .strip_listen_path(false)
        .upstream("http://10.0.0.7:8080/v2")
        .build()
}

fn with_oauth(settings: OAuthSettings) -> Api {
    Api { oauth: Some(settings), ..keyless() }
}

fn every_grant() -> OAuthSettings {
    OAuthSettings {
        allowed_grant_types: GrantType::ALL.to_vec(),
        allowed_authorize_types: vec!["code".into()],
        auth_login_redirect: "http://idp.example/login".into(),
        access_token_ttl_secs: 0,
        refresh_token_ttl_secs: 0,
        code_ttl_secs: 0,
        notifications: Some(Notifications {
            url: "http://hooks.example/tyk".into(),
            shared_secret: "s3".into(),
        }),
        error_status: None,
    }
}

fn assert_round_trip(api: &Api) {
    let doc = export_oas(api);
    // Through text, as an admin would carry it.
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let back = import_oas(&parse_json(&text).unwrap()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.warnings, Vec::<String>::new(), "{text}");
    assert_eq!(&back.api, api, "{text}");
}

#[test]
fn keyless_apis_round_trip() {
    assert_round_trip(&keyless());
    assert_round_trip(&Api { api_id: String::new(), strip_listen_path: true, ..keyless() });
}

#[test]
fn oauth_apis_round_trip() {
    assert_round_trip(&with_oauth(every_grant()));
    assert_round_trip(&with_oauth(OAuthSettings {
        allowed_grant_types: vec![GrantType::ClientCredentials],
        allowed_authorize_types: vec![],
        auth_login_redirect: String::new(),
        notifications: None,
        ..every_grant()
    }));
    assert_round_trip(&with_oauth(OAuthSettings {
        allowed_grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        notifications: Some(Notifications {
            url: "http://hooks.example/".into(),
            shared_secret: String::new(),
        }),
        ..every_grant()
    }));
}

#[test]
fn settings_tyk_keeps_outside_api_definitions_round_trip_through_x_gatehouse() {
    let api = with_oauth(OAuthSettings {
        access_token_ttl_secs: 900,
        refresh_token_ttl_secs: 86_400,
        code_ttl_secs: 30,
        error_status: Some(403),
        ..every_grant()
    });
    assert_round_trip(&api);
    let doc = export_oas(&api);
    assert_eq!(doc["x-gatehouse"]["oauth"]["accessTokenTtlSeconds"], 900);
    // Ordinary APIs export as plain Tyk OAS.
    assert!(export_oas(&with_oauth(every_grant())).get("x-gatehouse").is_none());
}

#[test]
fn the_export_is_the_shape_tyk_documents() {
    let doc = export_oas(&with_oauth(every_grant()));
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["security"], serde_json::json!([{ "oauth": [] }]));
    let flows = &doc["components"]["securitySchemes"]["oauth"]["flows"];
    assert_eq!(flows["authorizationCode"]["authorizationUrl"], "/oauth/authorize");
    assert_eq!(flows["authorizationCode"]["tokenUrl"], "/oauth/token");
    assert_eq!(flows["password"]["tokenUrl"], "/oauth/token");
    assert_eq!(flows["clientCredentials"]["tokenUrl"], "/oauth/token");
    let tyk = &doc["x-tyk-api-gateway"];
    assert_eq!(tyk["info"]["id"], "orders");
    assert_eq!(tyk["info"]["state"]["active"], true);
    assert_eq!(tyk["server"]["listenPath"]["value"], "/orders/");
    assert_eq!(tyk["upstream"]["url"], "http://10.0.0.7:8080/v2");
    let scheme = &tyk["server"]["authentication"]["securitySchemes"]["oauth"];
    assert_eq!(scheme["refreshToken"], true);
    assert_eq!(scheme["header"]["name"], "Authorization");
    assert_eq!(scheme["notifications"]["onKeyChangeUrl"], "http://hooks.example/tyk");
    // A keyless API declares no security scheme, and says it is keyless.
    let doc = export_oas(&keyless());
    assert!(doc.get("security").is_none() && doc.get("components").is_none());
    assert_eq!(doc["x-tyk-api-gateway"]["server"]["authentication"], serde_json::json!({ "enabled": false }));
}

/// The issue's reproduction: a token_auth API exported and put back stayed an API, but a
/// keyless one; and the credential settings and versions were dropped.
#[test]
fn a_token_auth_api_round_trips_protected_with_every_setting() {
    let mut api = keyless();
    api.token_auth = true;
    api.credentials.query_param = "access_token".into();
    api.credentials.cookie_name = "session".into();
    api.credentials.header_name = "X-Api-Token".into();
    api.credentials.strip = true;
    api.versioning = Some(Box::new(Versioning {
        location: VersionLocation::Header,
        key: "x-api-version".into(),
        default_version: "v2".into(),
        versions: vec!["v2".into(), "v1".into()],
        strip: true,
    }));
    let text = export_oas(&api).to_string();
    let back = import_oas(&parse_json(&text).unwrap()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(back.api.requires_token(), "the export of a protected API imports keyless: {text}");
    assert_eq!(back.api, api, "{text}");
    assert_eq!(back.warnings, Vec::<String>::new());

    // With an authorization server too, and an https upstream with its own CA.
    api.oauth = Some(every_grant());
    api.upstream = "https://10.0.0.7:8443".parse().unwrap();
    api.upstream_tls.ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into();
    api.upstream_tls.client_cert_file = "/etc/gatehouse/up.pem".into();
    api.upstream_tls.client_key_file = "/etc/gatehouse/up.key".into();
    assert_round_trip(&api);
}

#[test]
fn a_dashboard_wrapped_classic_oauth_api_imports() {
    let doc = parse_json(
        r#"{
          "api_definition": {
            "name": "OAuth API", "api_id": "oauth2", "org_id": "default",
            "use_keyless": false, "use_oauth2": true,
            "oauth_meta": {
              "allowed_access_types": ["authorization_code", "refresh_token"],
              "allowed_authorize_types": ["code"],
              "auth_login_redirect": "http://localhost/oauth-redirect"
            },
            "notifications": { "shared_secret": "9878767657654343", "oauth_on_keychange_url": "http://localhost:9000/oauth-key-change" },
            "auth": { "auth_header_name": "Authorization" },
            "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default", "use_extended_paths": true } } },
            "proxy": { "listen_path": "/oauth2", "target_url": "http://httpbin.org/", "strip_listen_path": true },
            "active": true
          },
          "hook_references": [], "is_site": false, "sort_by": 0, "user_owners": [], "user_group_owners": []
        }"#,
    )
    .unwrap();
    let Imported { api, warnings, .. } = import_classic(&doc).unwrap();
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!((api.api_id.as_str(), api.name.as_str()), ("oauth2", "OAuth API"));
    assert_eq!(api.listen_path, "/oauth2/", "normalised by validation");
    let oauth = api.oauth.unwrap();
    assert_eq!(oauth.allowed_grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    assert_eq!(oauth.notifications.unwrap().url, "http://localhost:9000/oauth-key-change");
}

/// The fuzz target's checks (`fuzz/fuzz_targets/tyk_import.rs`) over its seed corpus, so they
/// run with the ordinary tests too: every definition that imports exports, in both forms, to a
/// definition that imports back to the same API without warnings.
#[test]
fn the_fuzz_seed_corpus_round_trips_in_both_forms() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/tyk_import");
    let mut imported_any = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(doc) = parse_json(&std::fs::read_to_string(&path).unwrap()) else { continue };
        for imported in [import_oas(&doc), import_classic(&doc)].into_iter().flatten() {
            imported_any += 1;
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("gatehouse-")) {
                // Gatehouse's own exports: protected, nothing lost on the way in.
                assert!(imported.api.requires_token() && imported.api.token_auth, "{path:?}");
                assert_eq!(imported.warnings, Vec::<String>::new(), "{path:?}");
            }
            let mut api = imported.api;
            api.api_id = "corpus".into();
            let oas = export_oas(&api).to_string();
            let back =
                import_oas(&parse_json(&oas).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}\n{oas}"));
            assert_eq!((back.api, back.warnings), (api.clone(), vec![]), "{path:?}: {oas}");
            let classic = export_classic(&api).to_string();
            let back = import_classic(&parse_json(&classic).unwrap())
                .unwrap_or_else(|e| panic!("{path:?}: {e}\n{classic}"));
            // Classic names versions by JSON object keys: they come back sorted.
            let mut expected = api;
            if let Some(v) = &mut expected.versioning {
                v.versions.sort();
                v.versions.dedup();
            }
            assert_eq!((back.api, back.warnings), (expected, vec![]), "{path:?}: {classic}");
        }
    }
    assert!(imported_any >= 6, "the corpus holds importable definitions ({imported_any})");
}
