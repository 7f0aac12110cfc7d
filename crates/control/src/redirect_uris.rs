//! A client's redirect URIs as admins register them: Gatehouse's list (`redirect_uris`), or
//! Tyk's single `redirect_uri`, which holds several joined by the control plane's separator
//! when one is configured (Tyk's `oauth_redirect_uri_separator`; none by default, as in Tyk).
//!
//! Each is checked here, at registration, because the authorization endpoint later compares
//! them exactly: a value that is not one absolute URI (two joined without the separator
//! configured, say) would be stored as a URI that can never match, and is refused instead.

use gatehouse_model::{RedirectUris, ValidationError};

/// The registered URIs of a client from what the admin sent: `list` (Gatehouse's
/// `redirect_uris`) and `single` (Tyk's `redirect_uri`). Sent together, as a client read and
/// written back carries both, `single` must be the list's first or the list joined.
pub fn registered(single: &str, list: &[String], separator: &str) -> Result<RedirectUris, ValidationError> {
    let from_single = split(single, separator);
    let (uris, field) = if list.is_empty() {
        (from_single, "redirect_uri")
    } else {
        let agrees = single.is_empty() || single == list[0] || from_single.as_slice() == list;
        if !agrees {
            return Err(ValidationError::new(
                "redirect_uri",
                "differs from redirect_uris: send the list in redirect_uris, or one value in redirect_uri",
            ));
        }
        (list.to_vec(), "redirect_uris")
    };
    let mut unique: Vec<String> = Vec::with_capacity(uris.len());
    for (i, uri) in uris.into_iter().enumerate() {
        let at = if field == "redirect_uris" { format!("redirect_uris[{i}]") } else { field.to_owned() };
        check(&uri, &at, separator)?;
        if !unique.contains(&uri) {
            unique.push(uri);
        }
    }
    Ok(RedirectUris(unique))
}

/// Tyk's single `redirect_uri` of a client: the list joined by the separator, or without one
/// the first URI (the whole list is in `redirect_uris`).
pub fn shown(uris: &RedirectUris, separator: &str) -> String {
    if separator.is_empty() { uris.first().to_owned() } else { uris.as_slice().join(separator) }
}

fn split(single: &str, separator: &str) -> Vec<String> {
    if single.is_empty() {
        return Vec::new();
    }
    if separator.is_empty() {
        return vec![single.to_owned()];
    }
    // Tyk does not trim; trimming only spares admins a "not one URI" error for "a; b".
    single.split(separator).map(|uri| uri.trim().to_owned()).collect()
}

/// One redirect URI: absolute, without a fragment (RFC 6749 §3.1.2), and only one.
fn check(uri: &str, field: &str, separator: &str) -> Result<(), ValidationError> {
    const EXAMPLE: &str = "must be one absolute URI, e.g. \"https://app.example/cb\"";
    if uri.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(ValidationError::new(field, EXAMPLE));
    };
    if !is_scheme(scheme) || rest.is_empty() {
        return Err(ValidationError::new(field, EXAMPLE));
    }
    // Characters RFC 3986 never allows unencoded: a value holding them is not one URI.
    if let Some(c) = uri.chars().find(|c| c.is_whitespace() || c.is_control() || "\"<>\\^`{|}".contains(*c)) {
        return Err(ValidationError::new(field, format!("{EXAMPLE}; {c:?} is not allowed in a URI")));
    }
    if uri.contains('#') {
        return Err(ValidationError::new(field, "must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    if let Some(joiner) = second_uri(rest) {
        let hint = if separator.is_empty() {
            format!(
                "send them as a list in redirect_uris, or start the control plane with \
                 --oauth-redirect-uri-separator '{joiner}' (Tyk's oauth_redirect_uri_separator)"
            )
        } else {
            format!("the configured separator is {separator:?}")
        };
        return Err(ValidationError::new(
            field,
            format!("holds several URIs joined by {joiner:?}, which would never match as one: {hint}"),
        ));
    }
    Ok(())
}

/// Where a second absolute URI starts after `;` or `,` (how Tyk users join them), as in
/// `https://a/cb;https://b/cb`: the joining character.
fn second_uri(rest: &str) -> Option<char> {
    rest.match_indices([';', ',']).find_map(|(i, joiner)| {
        let after = &rest[i + 1..];
        let (scheme, _) = after.split_once("://")?;
        is_scheme(scheme).then(|| joiner.chars().next()).flatten()
    })
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn one_uri_either_way() {
        assert_eq!(registered("https://a/cb", &[], "").unwrap(), RedirectUris::one("https://a/cb"));
        assert_eq!(registered("", &uris(&["https://a/cb"]), "").unwrap(), RedirectUris::one("https://a/cb"));
        assert_eq!(registered("", &[], "").unwrap(), RedirectUris::default());
    }

    #[test]
    fn the_separator_splits_tyks_single_value() {
        let got = registered("https://a/cb;https://b/cb", &[], ";").unwrap();
        assert_eq!(got.as_slice(), uris(&["https://a/cb", "https://b/cb"]));
        assert_eq!(shown(&got, ";"), "https://a/cb;https://b/cb");
        assert_eq!(shown(&got, ""), "https://a/cb");
        let spaced = registered("https://a/cb ; https://b/cb;https://a/cb", &[], ";").unwrap();
        assert_eq!(spaced, got, "trimmed, repeats dropped");
    }

    #[test]
    fn joined_uris_without_the_separator_are_refused_not_stored() {
        for (value, joiner) in [("https://a/cb;https://b/cb", ";"), ("https://a/cb,myapp://cb", ",")] {
            let e = registered(value, &[], "").unwrap_err();
            assert_eq!(e.field, "redirect_uri");
            assert!(e.message.contains("several URIs") && e.message.contains(joiner), "{e}");
            assert!(e.message.contains("--oauth-redirect-uri-separator"), "{e}");
        }
        let e = registered("https://a/cb https://b/cb", &[], "").unwrap_err();
        assert!(e.message.contains("one absolute URI"), "{e}");
        let e = registered("https://a/cb|https://b/cb", &[], ";").unwrap_err();
        assert!(e.message.contains("one absolute URI"), "{e}");
        // A URI in a query parameter is still one URI.
        assert!(registered("https://a/cb?next=https://b/x", &[], "").is_ok());
    }

    #[test]
    fn every_listed_uri_is_checked_by_index() {
        let e = registered("", &uris(&["https://a/cb", "/relative"]), "").unwrap_err();
        assert_eq!(e.field, "redirect_uris[1]");
        let e = registered("", &uris(&["https://a/cb", "https://b/cb#f"]), "").unwrap_err();
        assert_eq!(e.field, "redirect_uris[1]");
        let e = registered("", &uris(&["https://a/cb", ""]), "").unwrap_err();
        assert_eq!(e.field, "redirect_uris[1]");
    }

    #[test]
    fn both_fields_must_agree() {
        let list = uris(&["https://a/cb", "https://b/cb"]);
        assert!(registered("https://a/cb", &list, "").is_ok(), "the first, as shown without a separator");
        assert!(registered("https://a/cb;https://b/cb", &list, ";").is_ok(), "joined, as shown with one");
        assert_eq!(registered("https://c/cb", &list, "").unwrap_err().field, "redirect_uri");
    }
}
