//! The token endpoint's request parser (`crates/oauth/src/request.rs`): a form body and an
//! `Authorization` header value, as the gateway hands them over.
//!
//! Input: the header value on the first line (an empty line for none), the body after it.
//! Besides "no panic", it checks the redaction invariant of ARCHITECTURE.md: `Debug` of a parsed
//! request never shows the client secret.

#![no_main]

use gatehouse_oauth::TokenRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    // The gateway only passes headers that are visible ASCII (`HeaderValue::to_str`).
    let header = std::str::from_utf8(header).ok().filter(|h| !h.is_empty());
    let Ok(request) = TokenRequest::parse(body, header) else { return };

    for name in ["grant_type", "client_id", "client_secret", "code", "redirect_uri", "scope", "refresh_token"]
    {
        if let Some(value) = request.param(name) {
            assert!(!value.is_empty(), "empty values are treated as absent");
            assert!(request.require(name).is_ok());
        }
    }
    let Some(credentials) = &request.credentials else { return };
    assert!(!credentials.client_id.is_empty() || !credentials.via_basic);
    let Some(secret) = credentials.client_secret.as_deref() else { return };
    let debug = format!("{request:?}");
    // What Debug may legitimately show: field names, parameter names and the client id. A
    // secret that happens to be a substring of those proves nothing either way.
    let visible = format!(
        "TokenRequest {{ params: [] credentials: ClientCredentials client_id client_secret \
         Some(\"<redacted>\") None via_basic: true false }} {:?}",
        credentials.client_id
    );
    if secret.len() >= 4 && !visible.contains(secret) && !param_names_contain(&debug, secret) {
        assert!(!debug.contains(secret), "Debug of a token request shows the client secret");
    }
});

/// Whether `secret` occurs in the `params: [...]` part of the Debug output (the names only).
fn param_names_contain(debug: &str, secret: &str) -> bool {
    let names = debug.split("credentials:").next().unwrap_or(debug);
    names.contains(secret)
}
