//! The path and query a proxied request asks its upstream for: a pure function of the routed
//! request and its API (no I/O, no `Request`), so every combination is tested below.
//!
//! The upstream sees its base path, then the canonical path (or, when the API strips its listen
//! path, the path below it), without a path-segment version when the API strips versions; then
//! the query, less the credential parameter (always: an upstream logs URLs, RFC 6750 §2.3) and
//! less a query-parameter version the API strips. Headers and cookies that carry a credential or
//! a version are the caller's (`pipeline/upstream_request.rs`).

use std::borrow::Cow;

use gatehouse_model::{Api, VersionLocation};

/// How an API maps its requests onto its upstream: the settings the rewrite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite<'a> {
    /// The API's listen path (normalised: ends with `/`).
    pub listen_path: &'a str,
    /// Forward the path below the listen path rather than the whole path.
    pub strip_listen_path: bool,
    /// The upstream's base path: empty, or starting with `/` without a trailing one.
    pub base_path: &'a str,
    /// The query parameter carrying the token on a protected API: never forwarded.
    pub credential_param: Option<&'a str>,
    /// The query parameter naming the version, on an API that strips it.
    pub version_param: Option<&'a str>,
}

impl<'a> Rewrite<'a> {
    pub fn of(api: &'a Api) -> Self {
        let credentials = &api.credentials;
        Self {
            listen_path: &api.listen_path,
            strip_listen_path: api.strip_listen_path,
            base_path: &api.upstream.base_path,
            // Even when the API keeps credentials (`strip_auth_data` off), a token never goes on
            // in a URL: upstreams log URLs, and RFC 6750 §2.3 warns of exactly that.
            credential_param: (api.requires_token() && !credentials.query_param.is_empty())
                .then_some(credentials.query_param.as_str()),
            version_param: api
                .versioning
                .as_ref()
                .filter(|v| v.strip && v.location == VersionLocation::QueryParam)
                .map(|v| v.key.as_str()),
        }
    }
}

/// A request as routed: what of it the rewrite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<'r> {
    /// The canonical path the request was routed by (`path.rs`).
    pub path: &'r str,
    /// `path` below the listen path, starting with `/` (`RuntimeConfig::route`).
    pub rest: &'r str,
    /// `rest` without its version segment when the API versions by path segment and strips it
    /// (`RequestVersion::upstream_rest`); `rest` otherwise.
    pub upstream_rest: &'r str,
    /// The request's query, as sent (without the `?`).
    pub query: Option<&'r str>,
}

/// The upstream's path and query for `request` (what follows `scheme://authority`).
pub fn upstream_path_and_query(rewrite: &Rewrite<'_>, request: &Routed<'_>) -> String {
    let Routed { path, rest, upstream_rest, query } = *request;
    // The forwarded path is `prefix` then `tail`: two pieces, so no string is built for it.
    let (prefix, tail) = match (rewrite.strip_listen_path, upstream_rest == rest) {
        (true, _) => ("", upstream_rest),
        (false, true) => ("", path),
        // The version segment goes, the listen path stays.
        (false, false) => (rewrite.listen_path.trim_end_matches('/'), upstream_rest),
    };
    let base = rewrite.base_path;
    let query_len = query.map_or(0, |q| q.len() + 1);
    let mut out = String::with_capacity(base.len() + 1 + prefix.len() + tail.len() + query_len);
    out.push_str(base);
    let joint = out.len();
    out.push_str(prefix);
    out.push_str(tail);
    if let Some(query) = query {
        push_query(&mut out, query, [rewrite.credential_param, rewrite.version_param]);
    }
    let separator = separator(base, out.as_bytes().get(joint).copied());
    if !separator.is_empty() {
        out.insert_str(joint, separator);
    }
    out
}

/// `path_and_query` (a path, possibly empty, and its query) below `base`.
pub fn below_base(base: &str, path_and_query: &str) -> String {
    let separator = separator(base, path_and_query.bytes().next());
    let mut out = String::with_capacity(base.len() + separator.len() + path_and_query.len());
    out.push_str(base);
    out.push_str(separator);
    out.push_str(path_and_query);
    out
}

/// What goes between the base path and a path-and-query starting with `first`. Tolerates ""
/// or "?q" (a request to the listen path itself) and a path without its leading slash, rather
/// than gluing "base" and "path" into "basepath".
fn separator(base: &str, first: Option<u8>) -> &'static str {
    match first {
        Some(b'/') => "",
        None | Some(b'?') if base.is_empty() => "/",
        None | Some(b'?') => "",
        Some(_) => "/",
    }
}

/// Appends `?query`, without the parameters named in `removed` (matched decoded). With nothing
/// to remove the query goes on as sent, even empty; otherwise empty pairs are dropped too, and
/// a query left with no pair is dropped with its `?`.
fn push_query(out: &mut String, query: &str, removed: [Option<&str>; 2]) {
    if removed.iter().all(Option::is_none) {
        out.push('?');
        out.push_str(query);
        return;
    }
    let mut first = true;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let name = decoded_name(pair);
        if removed.iter().flatten().any(|removed| name.as_deref() == Some(*removed)) {
            continue;
        }
        out.push(if first { '?' } else { '&' });
        out.push_str(pair);
        first = false;
    }
}

/// A pair's name as a form decoder reads it (`%2D` is `-`, `+` a space).
fn decoded_name(pair: &str) -> Option<Cow<'_, str>> {
    let name = pair.split('=').next()?;
    // Nothing to decode: the name as it is, without the decoder's allocations.
    if !name.contains(['%', '+']) {
        return Some(Cow::Borrowed(name));
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("{name}="))
        .ok()?
        .pop()
        .map(|(name, _)| Cow::Owned(name))
}

#[cfg(test)]
mod tests;
