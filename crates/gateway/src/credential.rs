//! Finding a request's bearer token where its API says it is, and removing it before the
//! request goes upstream when the API asks for that (Tyk's `strip_auth_data`).

use gatehouse_model::CredentialLocation;
use http::HeaderMap;
use http::header::COOKIE;

use crate::refusal::Refusal;

/// Where the token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Header,
    Query,
    Cookie,
}

/// The request's token, from the one place the API's configuration allows it to be: the
/// header, the query parameter or the cookie. A token in more than one place (or twice in
/// one) is refused, as RFC 6750 §3.1 asks ("uses more than one method"): Tyk would pick one by
/// precedence, but two credentials that may differ make the request ambiguous, and whichever
/// is not checked would travel on to the upstream.
pub fn find<'r>(
    location: &CredentialLocation,
    headers: &'r HeaderMap,
    query: Option<&'r str>,
) -> Result<(String, Source), Refusal> {
    let mut found = None;
    let mut places = 0;
    for value in headers.get_all(location.header()) {
        places += 1;
        found = Some((value.to_str().map(str::to_owned), Source::Header));
    }
    if !location.query_param.is_empty()
        && let Some(query) = query
    {
        for value in query_values(query, &location.query_param) {
            places += 1;
            found = Some((Ok(value), Source::Query));
        }
    }
    if !location.cookie_name.is_empty() {
        for value in cookie_values(headers, &location.cookie_name) {
            places += 1;
            found = Some((Ok(value), Source::Cookie));
        }
    }
    if places > 1 {
        return Err(Refusal::Ambiguous);
    }
    let (value, source) = found.ok_or(Refusal::Missing)?;
    let value = value.map_err(|_| Refusal::Malformed)?;
    let token = match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        Some(_) => return Err(Refusal::Malformed),
        // A header must say `Bearer`; a query parameter or cookie may carry the bare token.
        None if source != Source::Header => value.trim(),
        None => return Err(Refusal::Malformed),
    };
    if token.is_empty() {
        return Err(Refusal::Malformed);
    }
    Ok((token.to_owned(), source))
}

/// Removes the credential's header and cookie from what goes upstream. (The query parameter is
/// left out of the upstream's URL by `upstream_path`, whether the API strips credentials or not.)
pub fn strip_headers(location: &CredentialLocation, headers: &mut HeaderMap) {
    headers.remove(location.header());
    if !location.cookie_name.is_empty() {
        let kept: Vec<String> = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(location.cookie_name.as_str()))
            .map(str::to_owned)
            .collect();
        headers.remove(COOKIE);
        if !kept.is_empty()
            && let Ok(value) = kept.join("; ").parse()
        {
            headers.insert(COOKIE, value);
        }
    }
}

pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    query_values(query, name).next()
}

/// Every value of the parameter `name` in `query` (decoded); none when it does not parse.
fn query_values(query: &str, name: &str) -> impl Iterator<Item = String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v)
}

fn cookie_values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = String> + 'h {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn location(header: &str, query: &str, cookie: &str) -> CredentialLocation {
        CredentialLocation {
            header_name: header.into(),
            query_param: query.into(),
            cookie_name: cookie.into(),
            strip: true,
        }
    }

    #[test]
    fn header_by_default_case_insensitive_and_configurable() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("bearer abc"));
        assert_eq!(find(&location("", "", ""), &h, None), Ok(("abc".into(), Source::Header)));
        h.insert("x-api-token", HeaderValue::from_static("Bearer xyz"));
        assert_eq!(find(&location("X-Api-Token", "", ""), &h, None).unwrap().0, "xyz");
        assert_eq!(find(&location("x-other", "", ""), &h, None), Err(Refusal::Missing));
        h.insert("authorization", HeaderValue::from_static("abc"));
        assert_eq!(find(&location("", "", ""), &h, None), Err(Refusal::Malformed));
    }

    #[test]
    fn query_and_cookie_are_read_when_configured() {
        let loc = location("", "access_token", "session");
        let none = HeaderMap::new();
        assert_eq!(
            find(&loc, &none, Some("a=1&access_token=from-query")).unwrap(),
            ("from-query".into(), Source::Query)
        );
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("x=1; session=from-cookie"));
        assert_eq!(find(&loc, &h, Some("a=1")).unwrap(), ("from-cookie".into(), Source::Cookie));
        // Not configured: an access_token parameter is not a credential of this API.
        let header_only = location("", "", "");
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer from-header"));
        assert_eq!(find(&header_only, &h, Some("access_token=q")).unwrap().0, "from-header");
    }

    /// RFC 6750 §3.1: more than one method (or the same one twice) is invalid_request.
    #[test]
    fn a_token_in_more_than_one_place_is_refused() {
        let loc = location("", "access_token", "session");
        let header = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.append("authorization", HeaderValue::from_static(value));
            h
        };
        let both = header("Bearer t");
        assert_eq!(find(&loc, &both, Some("access_token=t")), Err(Refusal::Ambiguous));
        let mut with_cookie = header("Bearer t");
        with_cookie.insert(COOKIE, HeaderValue::from_static("session=t"));
        assert_eq!(find(&loc, &with_cookie, None), Err(Refusal::Ambiguous));
        let mut cookie_only = HeaderMap::new();
        cookie_only.insert(COOKIE, HeaderValue::from_static("session=a"));
        assert_eq!(find(&loc, &cookie_only, Some("access_token=b")), Err(Refusal::Ambiguous));
        assert_eq!(
            find(&loc, &HeaderMap::new(), Some("access_token=a&access_token=b")),
            Err(Refusal::Ambiguous)
        );
        let mut twice = header("Bearer a");
        twice.append("authorization", HeaderValue::from_static("Bearer b"));
        assert_eq!(find(&loc, &twice, None), Err(Refusal::Ambiguous));
        cookie_only.insert(COOKIE, HeaderValue::from_static("session=a; session=b"));
        assert_eq!(find(&loc, &cookie_only, None), Err(Refusal::Ambiguous));
        assert_eq!(Refusal::Ambiguous.response().status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn strip_removes_only_the_credential() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        h.insert(COOKIE, HeaderValue::from_static("a=1; session=t; b=2"));
        let loc = location("", "access_token", "session");
        strip_headers(&loc, &mut h);
        assert!(h.get("authorization").is_none());
        assert_eq!(h[COOKIE], "a=1; b=2");
        // The query's credential: `upstream_path`'s tests.
    }
}
