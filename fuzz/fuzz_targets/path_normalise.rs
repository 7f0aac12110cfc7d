//! The gateway's request-path canonicalisation (`crates/gateway/src/path.rs`): what is routed
//! and forwarded must hold nothing a normalising upstream would read differently.
//!
//! Input: the path as the request line carries it (any UTF-8; hyper passes more than RFC 3986
//! allows, backslashes included). Besides "no panic", for both escaped-slash settings, an
//! accepted path's canonical form is absolute, a fixed point, and holds no dot segment (also
//! with `;` parameters), no empty segment but a trailing one and no backslash; under `reject`
//! no encoded slash or backslash either; under `keep`, reading those as separators still gives
//! no dot segment.

#![no_main]

use gatehouse_gateway::path::{EscapedSlashes, PathRules, normalise, separators_view};
use libfuzzer_sys::fuzz_target;

fn is_dot_like(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    name == "." || name == ".."
}

fn check(path: &str, rules: PathRules) {
    let Ok(normal) = normalise(path, rules) else { return };
    assert!(normal.starts_with('/'), "{path:?} → {normal:?}");
    assert_eq!(normalise(&normal, rules).as_deref(), Ok(&*normal), "not a fixed point: {path:?}");
    assert!(!normal.contains('\\') && !normal.contains("//"), "{path:?} → {normal:?}");
    assert!(!normal.split('/').any(is_dot_like), "{path:?} → {normal:?}");
    let lower = normal.to_ascii_lowercase();
    let escaped_separator = lower.contains("%2f") || lower.contains("%5c");
    match rules.escaped_slashes {
        EscapedSlashes::Reject => assert!(!escaped_separator, "{path:?} → {normal:?}"),
        EscapedSlashes::Keep => {
            if let Some(view) = separators_view(&normal) {
                assert!(!view.split('/').any(is_dot_like), "{path:?} → {normal:?} → {view:?}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    for escaped_slashes in [EscapedSlashes::Reject, EscapedSlashes::Keep] {
        check(path, PathRules { escaped_slashes });
    }
});
