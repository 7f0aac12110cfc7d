//! Request paths as the gateway routes and forwards them: one canonical form, so the API a path
//! is routed to is the API whose upstream serves it.
//!
//! An upstream normalises what it receives (RFC 3986 §5.2.4 dot segments, `%XX` decoding,
//! merged slashes: nginx, Apache, most frameworks). A gateway that routes on the raw path and
//! forwards it verbatim lets `/pub/../internal/x`, routed to a keyless API on `/pub/`, be
//! served as `/internal/x`. So the gateway normalises first, routes on the result and forwards
//! the result, modelled on Envoy's `normalize_path` + `merge_slashes` +
//! `path_with_escaped_slashes_action`:
//!
//! - percent-encoded unreserved characters (RFC 3986 §2.3: `A-Z a-z 0-9 - . _ ~`) are decoded,
//!   which is an equivalence (§6.2.2.2) and is what exposes `%2e%2e` as `..`; every other
//!   escape is forwarded as written, so nothing is decoded twice;
//! - runs of `/` are merged (before dot segments, as nginx does, so `..` removes the segment
//!   a normalising upstream would remove);
//! - `.` and `..` segments are removed; a `..` above the root is refused, not clamped, since
//!   a client sending it is probing;
//! - `%2F` and `%5C` (encoded slash and backslash): refused by default (Envoy's
//!   `REJECT_REQUEST`), because upstreams disagree on whether they separate segments. With
//!   [`EscapedSlashes::Keep`] they are forwarded as written (for APIs whose identifiers hold
//!   slashes), but a dot segment hidden behind one (`..%2F`) is still refused, and the server
//!   checks that reading them as separators routes to the same API ([`separators_view`]);
//! - a raw `\` is always refused: some servers read it as a separator, others as data;
//! - `.;x` and `..;x` segments are refused: servlet containers strip `;` path parameters and
//!   then see a dot segment (the classic `/..;/` bypass);
//! - malformed escapes (`%` not followed by two hex digits) and `%00` are refused, as nginx
//!   refuses them.
//!
//! A path that is already normal (the common case) is checked in one pass and borrowed.

use std::borrow::Cow;

use http::{Response, StatusCode};

use crate::response::{ResponseBody, json_error};

/// What to do with `%2F` and `%5C` in a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EscapedSlashes {
    /// Answer 400: the safe choice whatever the upstream does with them.
    #[default]
    Reject,
    /// Forward them as written, refusing dot segments they would form once decoded.
    Keep,
}

/// The path rules of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathRules {
    pub escaped_slashes: EscapedSlashes,
}

/// Why a path was refused: every one is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    NotAbsolute,
    MalformedEscape,
    EncodedNul,
    EscapedSlash,
    Backslash,
    AboveRoot,
    DotSegmentParameter,
    /// A listen path that an encoded slash would cross ([`EscapedSlashes::Keep`] only).
    AmbiguousRoute,
}

impl PathRefusal {
    pub fn message(self) -> &'static str {
        match self {
            PathRefusal::NotAbsolute => "request path must start with /",
            PathRefusal::MalformedEscape => "request path has a malformed percent-encoding",
            PathRefusal::EncodedNul => "request path contains an encoded NUL",
            PathRefusal::EscapedSlash => "request path contains an encoded slash or backslash",
            PathRefusal::Backslash => "request path contains a backslash",
            PathRefusal::AboveRoot => "request path climbs above the root",
            PathRefusal::DotSegmentParameter => "request path has a dot segment with parameters",
            PathRefusal::AmbiguousRoute => "request path routes differently once encoded slashes are decoded",
        }
    }

    pub fn response(self) -> Response<ResponseBody> {
        json_error(StatusCode::BAD_REQUEST, self.message())
    }
}

/// The canonical form of `path` (a request's path, without its query), or why it is refused.
/// Borrowed when `path` is already canonical.
pub fn normalise(path: &str, rules: PathRules) -> Result<Cow<'_, str>, PathRefusal> {
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path, rules)?;
    remove_dot_segments(&decoded, rules).map(Cow::Owned)
}

/// Whether `path` is its own canonical form: absolute, no escape, no backslash, no empty
/// segment but a trailing one, no dot segment. One pass, no allocation.
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    if rest.bytes().any(|b| b == b'%' || b == b'\\') {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || is_dot_like(segment) {
            return false;
        }
    }
    true
}

/// `.`, `..`, or either followed by `;` parameters.
fn is_dot_like(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    name == "." || name == ".."
}

/// Decodes escapes of unreserved characters, keeps other escapes as written; refuses what the
/// module documentation lists.
fn decode_unreserved(path: &str, rules: PathRules) -> Result<String, PathRefusal> {
    if !path.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(PathRefusal::Backslash),
            b'%' => {
                let value = match bytes.get(i + 1..i + 3) {
                    Some(&[high, low]) => hex_value(high).zip(hex_value(low)).map(|(h, l)| h << 4 | l),
                    _ => None,
                }
                .ok_or(PathRefusal::MalformedEscape)?;
                match value {
                    b'/' | b'\\' if rules.escaped_slashes == EscapedSlashes::Reject => {
                        return Err(PathRefusal::EscapedSlash);
                    }
                    0 => return Err(PathRefusal::EncodedNul),
                    v if v.is_ascii_alphanumeric() || b"-._~".contains(&v) => out.push(char::from(v)),
                    // Kept as written: `path` is a str and these three bytes are ASCII.
                    _ => out.push_str(&path[i..i + 3]),
                }
                i += 3;
            }
            _ => {
                // Copy the run up to the next byte of interest in one go (keeps UTF-8 whole).
                let end =
                    bytes[i..].iter().position(|&b| b == b'%' || b == b'\\').map_or(bytes.len(), |n| i + n);
                out.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

/// RFC 3986 §5.2.4 over an absolute path whose runs of `/` count as one; `..` above the root
/// is refused. A trailing `/`, `/.` or `/..` leaves a trailing slash, as the RFC says.
fn remove_dot_segments(path: &str, rules: PathRules) -> Result<String, PathRefusal> {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        trailing_slash = true;
        match segment {
            "" => continue,
            "." => continue,
            ".." => {
                kept.pop().ok_or(PathRefusal::AboveRoot)?;
                continue;
            }
            _ => {}
        }
        if is_dot_like(segment) {
            return Err(PathRefusal::DotSegmentParameter);
        }
        if rules.escaped_slashes == EscapedSlashes::Keep && hides_dot_segment(segment) {
            return Err(PathRefusal::EscapedSlash);
        }
        trailing_slash = false;
        kept.push(segment);
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether reading `%2F`/`%5C` in `segment` as separators would give a dot segment.
fn hides_dot_segment(segment: &str) -> bool {
    split_escaped_separators(segment).any(is_dot_like)
}

fn split_escaped_separators(segment: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(segment);
    std::iter::from_fn(move || {
        let s = rest?;
        match find_escaped_separator(s) {
            Some(at) => {
                rest = Some(&s[at + 3..]);
                Some(&s[..at])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

fn find_escaped_separator(s: &str) -> Option<usize> {
    s.as_bytes().windows(3).position(is_escaped_separator)
}

fn is_escaped_separator(escape: &[u8]) -> bool {
    match escape {
        [b'%', b'2', last] => last.eq_ignore_ascii_case(&b'f'),
        [b'%', b'5', last] => last.eq_ignore_ascii_case(&b'c'),
        _ => false,
    }
}

/// A normalised path with `%2F` and `%5C` read as separators (and slashes merged), when it
/// holds any: the path a decoding upstream would see. `None` when there is none to read.
pub fn separators_view(path: &str) -> Option<String> {
    find_escaped_separator(path)?;
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').flat_map(split_escaped_separators).filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    let bytes = path.as_bytes();
    let ends_with_separator =
        path.ends_with('/') || bytes.len() >= 3 && is_escaped_separator(&bytes[bytes.len() - 3..]);
    if out.is_empty() || ends_with_separator {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECT: PathRules = PathRules { escaped_slashes: EscapedSlashes::Reject };
    const KEEP: PathRules = PathRules { escaped_slashes: EscapedSlashes::Keep };

    fn norm(path: &str) -> Result<String, PathRefusal> {
        normalise(path, REJECT).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed_unchanged() {
        for path in ["/", "/pub/", "/pub/x", "/a/b.c/..d/.e/d..", "/caf\u{e9}/x", "/a;b=1/c", "/a/b/"] {
            assert!(matches!(normalise(path, REJECT), Ok(Cow::Borrowed(p)) if p == path), "{path}");
        }
    }

    #[test]
    fn dot_segments_are_removed_after_decoding_dots() {
        for path in [
            "/pub/../internal/x",
            "/pub/%2e%2e/internal/x",
            "/pub/%2E%2E/internal/x",
            "/pub/.%2e/internal/x",
            "/pub/%2E./internal/x",
            "//pub/../internal/x",
            "/pub//../internal/x",
            "/pub/./../internal/x",
            "/pub/%2e/../internal/x",
            "/internal/./x",
            "/internal//x",
        ] {
            assert_eq!(norm(path).as_deref(), Ok("/internal/x"), "{path}");
        }
        assert_eq!(norm("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(norm("/a/b/.").as_deref(), Ok("/a/b/"));
        assert_eq!(norm("/a/..").as_deref(), Ok("/"));
        assert_eq!(norm("/.").as_deref(), Ok("/"));
        assert_eq!(norm("//").as_deref(), Ok("/"));
        assert_eq!(norm("/a//").as_deref(), Ok("/a/"));
    }

    #[test]
    fn unreserved_escapes_are_decoded_others_kept_as_written() {
        assert_eq!(norm("/%41%7e%5F-%2D/x").as_deref(), Ok("/A~_--/x"));
        assert_eq!(norm("/a%20b/%3F%3f/%25%2e").as_deref(), Ok("/a%20b/%3F%3f/%25."));
        // `%252e` is a literal "%2e", never a second decoding.
        assert_eq!(norm("/pub/%252e%252e/x").as_deref(), Ok("/pub/%252e%252e/x"));
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for path in ["/..", "/../x", "/pub/../../x", "/pub/%2e%2e/%2e%2e/x", "/a/./../..", "//../x"] {
            assert_eq!(norm(path), Err(PathRefusal::AboveRoot), "{path}");
        }
    }

    #[test]
    fn escaped_slashes_and_backslashes_are_refused_by_default() {
        for path in
            ["/pub/..%2finternal/x", "/pub/%2e%2e%2finternal/x", "/a%2Fb", "/pub/..%5cinternal/x", "/a%5Cb"]
        {
            assert_eq!(norm(path), Err(PathRefusal::EscapedSlash), "{path}");
        }
        for path in ["/pub/..\\internal/x", "/a\\b"] {
            assert_eq!(norm(path), Err(PathRefusal::Backslash), "{path}");
            assert_eq!(normalise(path, KEEP), Err(PathRefusal::Backslash), "{path}");
        }
    }

    #[test]
    fn kept_escaped_slashes_never_hide_a_dot_segment() {
        assert_eq!(normalise("/repos/a%2Fb/x", KEEP).as_deref(), Ok("/repos/a%2Fb/x"));
        assert_eq!(normalise("/repos/a%5cb/./x", KEEP).as_deref(), Ok("/repos/a%5cb/x"));
        for path in [
            "/pub/..%2finternal/x",
            "/pub/%2e%2e%2finternal/x",
            "/pub/a%2F..",
            "/pub/x%5C.%2Fy",
            "/p%2F..;a/x",
        ] {
            assert_eq!(normalise(path, KEEP), Err(PathRefusal::EscapedSlash), "{path}");
        }
    }

    #[test]
    fn dot_segments_with_parameters_are_refused() {
        for path in ["/pub/..;/internal/x", "/pub/.;a=b/x", "/pub/%2e%2e;x/internal"] {
            assert_eq!(norm(path), Err(PathRefusal::DotSegmentParameter), "{path}");
        }
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(norm("*"), Err(PathRefusal::NotAbsolute));
        assert_eq!(norm(""), Err(PathRefusal::NotAbsolute));
        for path in ["/a%", "/a%2", "/a%zz", "/a%2g/b", "/%\u{e9}x", "/a%+1"] {
            assert_eq!(norm(path), Err(PathRefusal::MalformedEscape), "{path}");
        }
        assert_eq!(norm("/a%00b"), Err(PathRefusal::EncodedNul));
    }

    #[test]
    fn separators_view_reads_escaped_slashes_as_separators() {
        assert_eq!(separators_view("/a/b"), None);
        assert_eq!(separators_view("/internal%2Fx").as_deref(), Some("/internal/x"));
        assert_eq!(separators_view("/a%2f%2Fb%5C").as_deref(), Some("/a/b/"));
        assert_eq!(separators_view("/a%2Fb/").as_deref(), Some("/a/b/"));
    }

    /// Whatever the input, the result is a fixed point and holds no dot segment, no empty
    /// segment but a trailing one, and no backslash.
    #[test]
    fn results_are_canonical() {
        let alphabet = ["/", ".", "..", "%2e", "%2E", "a", "%2f", "%5c", ";", "%41", "%", "b/"];
        let mut state = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let mut path = String::from("/");
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                path.push_str(alphabet[state as usize % alphabet.len()]);
            }
            for rules in [REJECT, KEEP] {
                if let Ok(normal) = normalise(&path, rules) {
                    assert_eq!(normalise(&normal, rules).as_deref(), Ok(&*normal), "{path} → {normal}");
                    assert!(is_normal(&normal) || normal.contains('%'), "{path} → {normal}");
                    assert!(!normal.split('/').any(is_dot_like), "{path} → {normal}");
                    assert!(!normal.contains("//") && !normal.contains('\\'), "{path} → {normal}");
                }
            }
        }
    }
}
