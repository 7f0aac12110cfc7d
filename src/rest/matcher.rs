//! Matching a request path against the annotation templates.

use super::{ROUTES, RouteSpec};

/// Path variables by field name, percent-decoded.
pub type PathParams = Vec<(&'static str, String)>;

pub enum Match {
    Found(&'static RouteSpec, PathParams),
    /// The path exists with other methods (listed for the `Allow` header).
    WrongMethod(String),
    NotFound,
}

/// Finds the route for `method` and `path`. A trailing slash is ignored (the seed's curl
/// examples use one). When several templates match, the one with more literal segments wins,
/// so `/api/apis/oas` beats `/api/apis/{api_id}`.
pub fn find(method: &str, path: &str) -> Match {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut best: Option<(usize, &'static RouteSpec, PathParams)> = None;
    let mut other_methods: Vec<&str> = Vec::new();
    for route in ROUTES {
        let Some((literals, params)) = match_template(route.template, &segments) else {
            continue;
        };
        if route.verb != method {
            other_methods.push(route.verb);
            continue;
        }
        if best.as_ref().is_none_or(|(l, ..)| literals > *l) {
            best = Some((literals, route, params));
        }
    }
    match best {
        Some((_, route, params)) => Match::Found(route, params),
        None if !other_methods.is_empty() => {
            other_methods.sort_unstable();
            other_methods.dedup();
            Match::WrongMethod(other_methods.join(", "))
        }
        None => Match::NotFound,
    }
}

/// Number of literal segments matched and the path variables, or `None`. A `{name=**}` part
/// takes one or more whole segments (an API's listen path), joined by `/`.
fn match_template(template: &'static str, segments: &[&str]) -> Option<(usize, PathParams)> {
    let parts: Vec<&'static str> = template.trim_end_matches('/').split('/').skip(1).collect();
    // How many segments the `**` part takes: the rest of the path once the other parts have
    // their one each.
    let spread = segments.len().checked_sub(parts.len())?;
    if spread > 0 && !parts.iter().any(|p| p.ends_with("=**}")) {
        return None;
    }
    let mut literals = 0;
    let mut params = Vec::new();
    let mut rest = segments;
    for part in parts {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let (name, taken) = match name.strip_suffix("=**") {
                Some(name) => (name, spread + 1),
                None => (name, 1),
            };
            let (taken, after) = rest.split_at_checked(taken)?;
            rest = after;
            let mut decoded = Vec::with_capacity(taken.len());
            for segment in taken {
                if segment.is_empty() {
                    return None;
                }
                decoded.push(percent_encoding::percent_decode_str(segment).decode_utf8().ok()?);
            }
            params.push((name, decoded.join("/")));
        } else {
            let (segment, after) = rest.split_first()?;
            rest = after;
            if part != *segment {
                return None;
            }
            literals += 1;
        }
    }
    Some((literals, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_dashboard_paths_with_and_without_trailing_slash() {
        for path in ["/api/apis/oauth/abc", "/api/apis/oauth/abc/"] {
            match find("POST", path) {
                Match::Found(route, params) => {
                    assert_eq!(route.rpc_name, "/gatehouse.v1.ClientService/CreateClient");
                    assert_eq!(params, vec![("api_id", "abc".to_owned())]);
                }
                _ => panic!("no match for {path}"),
            }
        }
    }

    #[test]
    fn two_variables() {
        match find("DELETE", "/api/apis/oauth/a/c%20d") {
            Match::Found(route, params) => {
                assert_eq!(route.rpc_name, "/gatehouse.v1.ClientService/DeleteClient");
                assert_eq!(params, vec![("api_id", "a".to_owned()), ("client_id", "c d".to_owned())]);
            }
            _ => panic!("no match"),
        }
    }

    #[test]
    fn tyk_gateway_paths() {
        let found = |method, path| match find(method, path) {
            Match::Found(route, params) => (route.rpc_name, params),
            _ => panic!("no match for {method} {path}"),
        };
        let (rpc, params) = found("POST", "/tyk/oauth/clients/create");
        assert_eq!((rpc, params), ("/gatehouse.v1.ClientService/CreateClient", vec![]));
        let (rpc, params) = found("GET", "/tyk/oauth/clients/a/c/tokens");
        assert_eq!(rpc, "/gatehouse.v1.TokenService/ListClientTokens");
        assert_eq!(params, vec![("api_id", "a".to_owned()), ("client_id", "c".to_owned())]);
        let (rpc, params) = found("DELETE", "/tyk/oauth/refresh/rt");
        assert_eq!(rpc, "/gatehouse.v1.TokenService/InvalidateRefreshToken");
        assert_eq!(params, vec![("refresh_token", "rt".to_owned())]);
    }

    #[test]
    fn a_listen_path_variable_takes_one_or_more_segments() {
        for (path, listen_path) in [
            ("/my-api/tyk/oauth/authorize-client/", "my-api"),
            ("/team/my%20api/v1/tyk/oauth/authorize-client", "team/my api/v1"),
        ] {
            match find("POST", path) {
                Match::Found(route, params) => {
                    assert_eq!(route.rpc_name, "/gatehouse.v1.TokenService/AuthorizeClient");
                    assert_eq!(params, vec![("listen_path", listen_path.to_owned())]);
                }
                _ => panic!("no match for {path}"),
            }
        }
        assert!(matches!(find("POST", "/tyk/oauth/authorize-client"), Match::NotFound));
        assert!(matches!(find("POST", "/a//tyk/oauth/authorize-client"), Match::NotFound));
    }

    #[test]
    fn wrong_method_lists_allowed_ones() {
        match find("PATCH", "/api/apis") {
            Match::WrongMethod(allowed) => assert_eq!(allowed, "GET, POST"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(find("GET", "/nope"), Match::NotFound));
    }
}
