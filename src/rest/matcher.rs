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

/// Number of literal segments matched and the path variables, or `None`.
fn match_template(template: &'static str, segments: &[&str]) -> Option<(usize, PathParams)> {
    let parts: Vec<&'static str> = template.trim_end_matches('/').split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literals = 0;
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            let value = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?;
            params.push((name, value.into_owned()));
        } else if part == segment {
            literals += 1;
        } else {
            return None;
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
    fn wrong_method_lists_allowed_ones() {
        match find("PATCH", "/api/apis") {
            Match::WrongMethod(allowed) => assert_eq!(allowed, "GET, POST"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(find("GET", "/nope"), Match::NotFound));
    }
}
