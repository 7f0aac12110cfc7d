//! The domain validation of an imported API, its failures reported at the JSON paths the admin
//! wrote rather than at Gatehouse's field names. Both importers end here.

use gatehouse_model::{Api, ValidationError};

use crate::credentials::SourcePaths;
use crate::extension::ExtensionKeys;
use crate::imported::ImportError;

/// Where each field [`Api::validate`] can complain about came from in the source document, so
/// its errors point at the JSON the admin wrote rather than at Gatehouse's field names.
pub(crate) struct FieldPaths {
    pub(crate) api_id: String,
    pub(crate) listen_path: String,
    pub(crate) auth_login_redirect: String,
    pub(crate) allowed_authorize_types: String,
    pub(crate) notifications_url: String,
    /// Where the credential header, query parameter and cookie names came from; `None` for an
    /// API that reads no credential.
    pub(crate) sources: Option<SourcePaths>,
    /// Other domain fields and their paths in this format: a field `f` also renames `f[i]`.
    pub(crate) more: Vec<(&'static str, String)>,
}

/// Runs the domain validation on an imported API and reports failures at their JSON paths.
///
/// An empty `api_id` is legal here (the control plane generates one), so validation runs with a
/// placeholder id and the empty id is put back afterwards.
pub(crate) fn validated(mut api: Api, paths: &FieldPaths) -> Result<Api, ImportError> {
    let generate_id = api.api_id.is_empty();
    if generate_id {
        api.api_id = "imported".to_owned();
    }
    let mut api = api.validate().map_err(|e| translate(e, paths))?;
    if generate_id {
        api.api_id.clear();
    }
    Ok(api)
}

/// The paths of the fields Gatehouse's extension holds in both formats; `at_ext(key, inner)`
/// says where `inner` of the extension's object `key` is in this format.
pub(crate) fn extension_paths(
    keys: &ExtensionKeys,
    at_ext: impl Fn(&str, &str) -> String,
) -> Vec<(&'static str, String)> {
    vec![
        ("oauth.code_ttl_seconds", at_ext("oauth", keys.code_ttl)),
        ("oauth.error_status_code", at_ext("oauth", keys.error_status)),
        ("upstream_ca_pem", at_ext(keys.upstream_tls, keys.tls_ca)),
        ("upstream_client_cert_file", at_ext(keys.upstream_tls, keys.tls_cert)),
        ("upstream_client_key_file", at_ext(keys.upstream_tls, keys.tls_key)),
    ]
}

fn source(paths: &FieldPaths, which: impl Fn(&SourcePaths) -> &String) -> String {
    paths.sources.as_ref().map_or_else(String::new, |s| which(s).clone())
}

fn translate(e: ValidationError, paths: &FieldPaths) -> ImportError {
    let path = match e.field.as_str() {
        "api_id" => paths.api_id.clone(),
        "listen_path" => paths.listen_path.clone(),
        "oauth.auth_login_redirect" => paths.auth_login_redirect.clone(),
        "oauth.allowed_authorize_types" => paths.allowed_authorize_types.clone(),
        "oauth.notifications.url" => paths.notifications_url.clone(),
        "auth_header_name" => source(paths, |s| &s.header),
        "auth_query_param" => source(paths, |s| &s.query),
        "auth_cookie_name" => source(paths, |s| &s.cookie),
        other => paths
            .more
            .iter()
            .find_map(|(field, path)| {
                other
                    .strip_prefix(field)
                    .filter(|rest| rest.is_empty() || rest.starts_with('['))
                    .map(|rest| format!("{path}{rest}"))
            })
            .unwrap_or_else(|| other.to_owned()),
    };
    ImportError::new(path, e.message)
}
