//! Property tests: every valid [`Api`] survives export → import in both Tyk forms, as the crate
//! doc promises (modulo the normalisation it lists), or the import refuses it with a
//! reason; and no round trip ever weakens authentication.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::oauth::canonical_grants;
use gatehouse_model::{
    Api, CredentialLocation, GrantType, Notifications, OAuthSettings, Upstream, UpstreamTls, VersionLocation,
    Versioning,
};

const ID: &str = "[A-Za-z0-9_.~-]{1,12}";

fn upstream() -> impl Strategy<Value = Upstream> {
    (
        prop_oneof![Just("http"), Just("https")],
        prop_oneof!["[a-z]{1,10}(\\.[a-z]{2,5})?", "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"],
        prop::option::of(1u16..),
        prop::collection::vec("[A-Za-z0-9_~-]{1,8}", 0..3),
    )
        .prop_map(|(scheme, host, port, segments)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let base: String = segments.iter().map(|s| format!("/{s}")).collect();
            let url = format!("{scheme}://{host}{port}{base}");
            url.parse().unwrap_or_else(|e| panic!("the generator made an invalid URL {url}: {e}"))
        })
}

fn upstream_tls(https: bool) -> BoxedStrategy<UpstreamTls> {
    if !https {
        return Just(UpstreamTls::default()).boxed();
    }
    (
        prop::option::of("[A-Za-z0-9+/]{0,40}"),
        prop::option::of(("(/[a-z0-9._-]{1,10}){1,3}", "(/[a-z0-9._-]{1,10}){1,3}")),
    )
        .prop_map(|(ca, pair)| {
            let ca_pem = ca
                .map(|body| format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"))
                .unwrap_or_default();
            let (client_cert_file, client_key_file) = pair.unwrap_or_default();
            UpstreamTls { ca_pem, client_cert_file, client_key_file }
        })
        .boxed()
}

fn oauth() -> impl Strategy<Value = OAuthSettings> {
    (
        prop::collection::vec(prop::sample::select(GrantType::ALL.to_vec()), 0..6),
        prop::collection::vec(Just("code".to_owned()), 0..3),
        prop_oneof![Just(String::new()), "https?://[a-z]{1,8}(:[0-9]{2,4})?/[a-z/]{0,10}"],
        (any::<u64>(), any::<u64>(), 0u64..=600),
        prop::option::of(("http://[a-z]{1,8}(:[0-9]{2,4})?/[a-z]{0,6}", "\\PC{0,12}")),
        prop::option::of(400u16..=499),
    )
        .prop_map(
            |(grants, authorize, mut redirect, (access, refresh, code), notifications, error_status)| {
                if grants.contains(&GrantType::AuthorizationCode) && redirect.is_empty() {
                    redirect = "http://idp/login".to_owned();
                }
                OAuthSettings {
                    allowed_grant_types: grants,
                    allowed_authorize_types: authorize,
                    auth_login_redirect: redirect,
                    access_token_ttl_secs: access,
                    refresh_token_ttl_secs: refresh,
                    code_ttl_secs: code,
                    notifications: notifications
                        .map(|(url, shared_secret)| Notifications { url, shared_secret }),
                    error_status,
                }
            },
        )
}

fn credentials() -> impl Strategy<Value = CredentialLocation> {
    let name = "[A-Za-z0-9_.~-]{1,12}";
    (
        prop_oneof![
            Just(String::new()),
            Just("Authorization".to_owned()),
            Just("AUTHORIZATION".to_owned()),
            name
        ],
        prop_oneof![Just(String::new()), name],
        prop_oneof![Just(String::new()), name],
        any::<bool>(),
    )
        .prop_map(|(header_name, query_param, cookie_name, strip)| CredentialLocation {
            header_name,
            query_param,
            cookie_name,
            strip,
        })
}

fn versioning() -> impl Strategy<Value = Versioning> {
    (
        prop::sample::select(vec![
            VersionLocation::Header,
            VersionLocation::QueryParam,
            VersionLocation::UrlSegment,
        ]),
        "[a-z][a-z0-9-]{0,10}",
        prop::collection::vec(ID, 1..5),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(location, key, versions, default, has_default, strip)| Versioning {
            location,
            // A URL segment needs no key, but one may be set (and must survive).
            key,
            default_version: if has_default { default.get(&versions).clone() } else { String::new() },
            versions,
            strip,
        })
}

/// Any API that [`Api::validate`] accepts as it is (already normalised).
fn valid_api() -> impl Strategy<Value = Api> {
    (
        ID,
        prop_oneof![Just(String::new()), "\\PC{1,20}"],
        prop::collection::vec("[A-Za-z0-9_~-]{1,8}", 0..3),
        any::<bool>(),
        upstream(),
        prop::option::of(oauth()),
        any::<bool>(),
        credentials(),
        prop::option::of(versioning()),
    )
        .prop_flat_map(
            |(api_id, name, segments, strip, upstream, oauth, token_auth, credentials, versioning)| {
                let https = upstream.scheme == "https";
                let listen_path: String = segments.iter().map(|s| format!("/{s}")).collect::<String>() + "/";
                upstream_tls(https).prop_map(move |upstream_tls| Api {
                    api_id: api_id.clone(),
                    name: name.clone(),
                    listen_path: listen_path.clone(),
                    strip_listen_path: strip,
                    upstream: upstream.clone(),
                    oauth: oauth.clone(),
                    token_auth,
                    credentials: credentials.clone(),
                    versioning: versioning.clone().map(Box::new),
                    upstream_tls: Box::new(upstream_tls),
                })
            },
        )
}

/// What both round trips normalise (see the crate doc).
fn normalised(mut api: Api) -> Api {
    if let Some(oauth) = &mut api.oauth {
        canonical_grants(&mut oauth.allowed_grant_types);
        oauth.allowed_authorize_types.dedup();
    }
    if api.credentials.header_name.eq_ignore_ascii_case("authorization") {
        api.credentials.header_name.clear();
    }
    if !api.requires_token() {
        // Nothing reads a keyless API's credential settings.
        api.credentials = CredentialLocation::default();
    }
    api
}

/// Classic versions are the keys of a JSON object.
fn normalised_classic(api: Api) -> Api {
    let mut api = normalised(api);
    if let Some(v) = &mut api.versioning {
        v.versions.sort();
        v.versions.dedup();
    }
    api
}

/// Through text, as an admin carries a definition from one system to another.
fn through_text(doc: &Value) -> Value {
    parse_json(&doc.to_string()).unwrap_or_else(|e| panic!("the export is not JSON: {e}"))
}

/// The import is the identity (after `expected`'s normalisation), without warnings, and keeps
/// the authentication: whether a token is required and which kind.
fn assert_same(api: &Api, expected: Api, imported: Imported, doc: &Value) {
    assert_eq!(imported.warnings, Vec::<String>::new(), "{doc:#}");
    assert_eq!(imported.api.requires_token(), api.requires_token(), "authentication changed: {doc:#}");
    assert_eq!(imported.api.oauth.is_some(), api.oauth.is_some(), "auth kind changed: {doc:#}");
    assert_eq!(imported.api.token_auth, api.token_auth, "auth kind changed: {doc:#}");
    assert_eq!(imported.explicitly_keyless, !api.requires_token(), "{doc:#}");
    assert_eq!(imported.api, expected, "{doc:#}");
}

proptest! {
    #[test]
    fn generated_apis_are_valid(api in valid_api()) {
        prop_assert_eq!(api.clone().validate(), Ok(api));
    }

    #[test]
    fn oas_export_then_import_is_the_identity(api in valid_api()) {
        let doc = through_text(&export_oas(&api));
        match import_oas(&doc) {
            Ok(imported) => assert_same(&api, normalised(api.clone()), imported, &doc),
            Err(e) => {
                // Tyk requires a name, so an unnamed API's export is refused, saying so.
                prop_assert!(api.name.is_empty(), "refused: {e}\n{doc:#}");
                prop_assert_eq!(e.path, "x-tyk-api-gateway.info.name");
            }
        }
    }

    #[test]
    fn classic_export_then_import_is_the_identity(api in valid_api()) {
        let doc = through_text(&export_classic(&api));
        match import_classic(&doc) {
            Ok(imported) => assert_same(&api, normalised_classic(api.clone()), imported, &doc),
            Err(e) => {
                prop_assert!(api.name.is_empty(), "refused: {e}\n{doc:#}");
                prop_assert_eq!(e.path, "name");
            }
        }
    }

    /// An export whose authentication block was lost on the way never reads as keyless on
    /// purpose, and never as weaker than what is left of it says.
    #[test]
    fn a_lost_authentication_block_is_never_explicitly_keyless(api in valid_api()) {
        let mut doc = through_text(&export_oas(&api));
        if let Some(server) = doc.pointer_mut("/x-tyk-api-gateway/server").and_then(Value::as_object_mut) {
            server.remove("authentication");
        }
        if let Ok(imported) = import_oas(&doc) {
            prop_assert!(!imported.explicitly_keyless);
            // token_auth travels in x-gatehouse, so it survives the loss.
            prop_assert_eq!(imported.api.token_auth, api.token_auth);
        }
    }
}
