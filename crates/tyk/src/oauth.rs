//! OAuth settings both forms describe alike, read the same way: grants in one canonical order,
//! the authorize types that survive, the token notification webhook.

use gatehouse_model::{GrantType, Notifications};

use crate::imported::ImportError;
use crate::path::{Obj, Warnings};

/// Sorts grants into one canonical order, whatever the document's, and drops repeats: imports
/// that mean the same compare equal.
pub(crate) fn canonical_grants(grants: &mut Vec<GrantType>) {
    grants.sort_by_key(|g| GrantType::ALL.iter().position(|x| x == g));
    grants.dedup();
}

/// The `response_type`s of `/oauth/authorize`: only `code` survives.
pub(crate) fn authorize_types(items: Vec<(String, &str)>, w: &mut Warnings) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for (path, t) in items {
        match t {
            "code" if types.is_empty() => types.push("code".to_owned()),
            "code" => {}
            "token" => w.add(
                &path,
                "the implicit grant (response_type=token) is not imported: it is unsafe (RFC 9700 \
                 §2.1.2); clients should use the authorization code grant with PKCE",
            ),
            other => w.add(&path, format!("unknown authorize type {other:?}; ignored")),
        }
    }
    types
}

/// Tyk's token notification webhook; an empty URL means none (as in Tyk).
pub(crate) fn notifications(
    obj: &Obj<'_>,
    url_key: &str,
    secret_key: &str,
    w: &mut Warnings,
) -> Result<Option<Notifications>, ImportError> {
    let url = obj.str(url_key)?.unwrap_or_default();
    let shared_secret = obj.str(secret_key)?.unwrap_or_default();
    if url.is_empty() {
        if !shared_secret.is_empty() {
            w.add(&obj.at(secret_key), format!("ignored: there is no {url_key} to send notifications to"));
        }
        return Ok(None);
    }
    Ok(Some(Notifications { url: url.to_owned(), shared_secret: shared_secret.to_owned() }))
}
