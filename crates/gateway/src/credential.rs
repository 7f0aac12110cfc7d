//! Finding a request's bearer token where its API says it is, and removing it before the
//! request goes upstream when the API asks for that (Tyk's `strip_auth_data`).

use gatehouse_model::CredentialLocation;
use http::HeaderMap;
use http::header::COOKIE;

use crate::bearer::Refusal;

/// Where the token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Header,
    Query,
    Cookie,
}

/// The request's token. As in Tyk, a configured query parameter or cookie that is present takes
/// precedence over the header (cookie last).
pub fn find<'r>(
    location: &CredentialLocation,
    headers: &'r HeaderMap,
    query: Option<&'r str>,
) -> Result<(String, Source), Refusal> {
    let mut found = headers.get(location.header()).map(|v| (v.to_str().map(str::to_owned), Source::Header));
    if !location.query_param.is_empty()
        && let Some(value) = query.and_then(|q| query_value(q, &location.query_param))
    {
        found = Some((Ok(value), Source::Query));
    }
    if !location.cookie_name.is_empty()
        && let Some(value) = cookie_value(headers, &location.cookie_name)
    {
        found = Some((Ok(value), Source::Cookie));
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

/// Removes the credential from what goes upstream: the header, the cookie, and returns the
/// query to forward (without the parameter).
pub fn strip(location: &CredentialLocation, headers: &mut HeaderMap, query: Option<&str>) -> Option<String> {
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
    let query = query?;
    if location.query_param.is_empty() {
        return Some(query.to_owned());
    }
    without_param(query, &location.query_param)
}

/// `query` without the parameter `name` (matched decoded); `None` when nothing is left.
pub(crate) fn without_param(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && decoded_name(pair).as_deref() != Some(name))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

fn decoded_name(pair: &str) -> Option<String> {
    let name = pair.split('=').next()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("{name}=")).ok()?.pop().map(|(n, _)| n)
}

pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
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
    fn query_and_cookie_take_precedence() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer from-header"));
        let loc = location("", "access_token", "session");
        assert_eq!(
            find(&loc, &h, Some("a=1&access_token=from-query")).unwrap(),
            ("from-query".into(), Source::Query)
        );
        h.insert(COOKIE, HeaderValue::from_static("x=1; session=Bearer%20no; session2=y"));
        h.insert(COOKIE, HeaderValue::from_static("x=1; session=from-cookie"));
        assert_eq!(find(&loc, &h, Some("access_token=q")).unwrap(), ("from-cookie".into(), Source::Cookie));
    }

    #[test]
    fn strip_removes_only_the_credential() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer t"));
        h.insert(COOKIE, HeaderValue::from_static("a=1; session=t; b=2"));
        let loc = location("", "access_token", "session");
        let query = strip(&loc, &mut h, Some("x=1&access_token=t&y=2"));
        assert_eq!(query.as_deref(), Some("x=1&y=2"));
        assert!(h.get("authorization").is_none());
        assert_eq!(h[COOKIE], "a=1; b=2");
        assert_eq!(strip(&loc, &mut h, Some("access_token=t")), None);
    }
}
