//! The domain validation of an imported API, its failures reported at the JSON paths the admin
//! wrote rather than at Gatehouse's field names. Both importers end here.

use gatehouse_model::{Api, ValidationError};

use crate::imported::ImportError;

/// Where each field [`Api::validate`] can complain about came from in the source document, so
/// its errors point at the JSON the admin wrote rather than at Gatehouse's field names.
pub(crate) struct FieldPaths {
    pub(crate) api_id: String,
    pub(crate) listen_path: String,
    pub(crate) auth_login_redirect: String,
    pub(crate) allowed_authorize_types: String,
    pub(crate) notifications_url: String,
    /// Where the credential header, query parameter and cookie names came from.
    pub(crate) header_name: String,
    pub(crate) query_param: String,
    pub(crate) cookie_name: String,
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

fn translate(e: ValidationError, paths: &FieldPaths) -> ImportError {
    let path = match e.field.as_str() {
        "api_id" => paths.api_id.clone(),
        "listen_path" => paths.listen_path.clone(),
        "oauth.auth_login_redirect" => paths.auth_login_redirect.clone(),
        "oauth.allowed_authorize_types" => paths.allowed_authorize_types.clone(),
        "oauth.notifications.url" => paths.notifications_url.clone(),
        "auth_header_name" => paths.header_name.clone(),
        "auth_query_param" => paths.query_param.clone(),
        "auth_cookie_name" => paths.cookie_name.clone(),
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
