//! The token endpoint's request parser (`crates/oauth/src/request.rs`, then the typed grant of
//! `crates/oauth/src/grant_request.rs`): a form body and an `Authorization` header value, as the
//! gateway hands them over.
//!
//! Input: the header value on the first line (an empty line for none), the body after it.
//! Besides "no panic", it checks the redaction invariant of ARCHITECTURE.md: `Debug` of a parsed
//! request never shows the client secret, nor `Debug` of its grant a code, password, refresh
//! token or verifier; and a refusal's `error_description` keeps to RFC 6749 §5.2's characters
//! (no quote, backslash, control or non-ASCII byte echoed from the input).

#![no_main]

use gatehouse_oauth::{GrantRequest, OAuthError, TokenRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    // The gateway only passes headers that are visible ASCII (`HeaderValue::to_str`).
    let header = std::str::from_utf8(header).ok().filter(|h| !h.is_empty());
    let request = match TokenRequest::parse(body, header) {
        Ok(request) => request,
        Err(error) => return assert_description_conforms(&error),
    };

    // The typed grant, read as the token endpoint reads it. Its Debug may show "<redacted>" and
    // the values that are no secrets (username, scope, redirect URI); nothing else.
    if let Ok(grant_type) = request.grant_type() {
        match GrantRequest::parse(grant_type, &request) {
            Ok(grant) => {
                assert_eq!(grant.grant_type(), grant_type);
                let debug = format!("{grant:?}");
                let shown = |literal: &str| {
                    literal == "<redacted>"
                        || ["username", "scope", "redirect_uri"].into_iter().any(|name| {
                            request.param(name).is_some_and(|v| format!("{v:?}") == format!("\"{literal}\""))
                        })
                        || literal.contains('\\')
                };
                for literal in string_literals(&debug) {
                    assert!(shown(literal), "Debug of a grant shows {literal:?}: {debug}");
                }
            }
            Err(error) => assert_description_conforms(&error),
        }
    }

    for name in ["grant_type", "client_id", "client_secret", "code", "redirect_uri", "scope", "refresh_token"]
    {
        if let Some(value) = request.param(name) {
            assert!(!value.is_empty(), "empty values are treated as absent");
            assert!(request.require(name).is_ok());
        }
    }
    let Some(credentials) = &request.credentials else { return };
    assert!(!credentials.client_id.is_empty() || !credentials.via_basic);
    // Debug may show parameter names, the client id and "<redacted>": every string literal in
    // it must be one of those. (Looking for the secret as a substring instead gives false
    // alarms: a secret like ", cl" is part of Debug's own punctuation.)
    // A name with characters Debug escapes cannot be looked up as written; those are let
    // through rather than unescaped here.
    let debug = format!("{request:?}");
    let allowed = |literal: &str| {
        literal == "<redacted>"
            || format!("{:?}", credentials.client_id) == format!("\"{literal}\"")
            || request.param(literal).is_some()
            || literal.contains('\\')
    };
    for literal in string_literals(&debug) {
        assert!(
            allowed(literal),
            "Debug of a token request shows {literal:?}, not a name or the id: {debug}"
        );
    }
});

fn assert_description_conforms(error: &OAuthError) {
    let json: serde_json::Value = serde_json::from_str(&error.to_json()).expect("errors are JSON");
    let description = json["error_description"].as_str().unwrap_or_default();
    assert!(
        description.chars().all(gatehouse_oauth::error::is_description_char),
        "error_description {description:?} leaves RFC 6749 §5.2's characters"
    );
}

/// The string literals of Debug output, as written (escapes kept), without their quotes.
fn string_literals(debug: &str) -> Vec<&str> {
    let mut literals = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (i, c) in debug.char_indices() {
        match (start, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(from), '"') => {
                literals.push(&debug[from..i]);
                start = None;
            }
            (None, '"') => start = Some(i + 1),
            _ => {}
        }
    }
    literals
}
