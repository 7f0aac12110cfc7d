//! Which version of a versioned API a request asks for (Tyk's `definition.location`), and
//! removing its header before proxying when the API says so (`strip_versioning_data`).
//!
//! A header or query parameter that names a version must name one the API serves; absent, the
//! default version applies. In the path, the first segment under the listen path is the
//! version when it names one; otherwise the request is for the default version, since a path
//! cannot tell a mistyped version from an ordinary segment.

use std::borrow::Cow;

use gatehouse_model::{VersionLocation, Versioning};
use http::HeaderMap;

use crate::credential::query_value;
use crate::response::{ResponseBody, json_error};

/// Why a request has no version the API serves. Tyk's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRefusal {
    /// No version named, and the API has no default.
    Missing,
    /// A version the API does not serve.
    Unknown,
}

impl VersionRefusal {
    pub fn response(self) -> http::Response<ResponseBody> {
        let message = match self {
            VersionRefusal::Missing => "Version information not found",
            VersionRefusal::Unknown => "This API version does not seem to exist",
        };
        json_error(http::StatusCode::FORBIDDEN, message)
    }
}

/// A request's version, and its path under the listen path as the upstream should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestVersion<'a> {
    /// The version's name, borrowed from the API's configuration.
    pub name: &'a str,
    /// `rest` without the version segment when that is stripped; `rest` otherwise.
    pub upstream_rest: &'a str,
}

/// The version `versioning` assigns to a request with these headers, query and path under the
/// listen path (`rest`, starting with `/`).
pub fn resolve<'a>(
    versioning: &'a Versioning,
    headers: &HeaderMap,
    query: Option<&str>,
    rest: &'a str,
) -> Result<RequestVersion<'a>, VersionRefusal> {
    let default = || match versioning.default_version.as_str() {
        "" => Err(VersionRefusal::Missing),
        name => Ok(RequestVersion { name, upstream_rest: rest }),
    };
    let named = match versioning.location {
        VersionLocation::UrlSegment => {
            let after_slash = rest.strip_prefix('/').unwrap_or(rest);
            let (segment, remainder) = match after_slash.find('/') {
                Some(at) => (&after_slash[..at], &after_slash[at..]),
                None => (after_slash, "/"),
            };
            return match versioning.find(segment) {
                Some(name) => {
                    let upstream_rest = if versioning.strip { remainder } else { rest };
                    Ok(RequestVersion { name, upstream_rest })
                }
                None => default(),
            };
        }
        // Borrowed from the header; only a query parameter is decoded into a new string.
        VersionLocation::Header => match headers.get(versioning.key.as_str()) {
            Some(value) => Some(Cow::Borrowed(value.to_str().map_err(|_| VersionRefusal::Unknown)?.trim())),
            None => None,
        },
        VersionLocation::QueryParam => query.and_then(|q| query_value(q, &versioning.key)).map(Cow::Owned),
    };
    match named {
        Some(named) => {
            let name = versioning.find(&named).ok_or(VersionRefusal::Unknown)?;
            Ok(RequestVersion { name, upstream_rest: rest })
        }
        None => default(),
    }
}

/// Removes a header version from what goes upstream. (A query version is left out of the
/// upstream's URL by `upstream_path`; a path version by forwarding
/// [`RequestVersion::upstream_rest`].)
pub fn strip_header(versioning: &Versioning, headers: &mut HeaderMap) {
    if versioning.location == VersionLocation::Header {
        headers.remove(versioning.key.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versioning(location: VersionLocation, default: &str, strip: bool) -> Versioning {
        Versioning {
            location,
            key: "x-api-version".into(),
            default_version: default.into(),
            versions: vec!["v1".into(), "v2".into()],
            strip,
        }
    }

    fn headers(version: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = version {
            h.insert("x-api-version", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn header_versions_must_be_served_and_default_when_absent() {
        let v = versioning(VersionLocation::Header, "v1", false);
        let ok = |name| Ok(RequestVersion { name, upstream_rest: "/items" });
        assert_eq!(resolve(&v, &headers(Some("v2")), None, "/items"), ok("v2"));
        assert_eq!(resolve(&v, &headers(None), None, "/items"), ok("v1"));
        assert_eq!(resolve(&v, &headers(Some("v3")), None, "/items"), Err(VersionRefusal::Unknown));
        let no_default = versioning(VersionLocation::Header, "", false);
        assert_eq!(resolve(&no_default, &headers(None), None, "/items"), Err(VersionRefusal::Missing));
    }

    #[test]
    fn query_versions_are_read_decoded() {
        let v = versioning(VersionLocation::QueryParam, "", true);
        let found = resolve(&v, &headers(None), Some("a=1&x-api-version=v2"), "/items").unwrap();
        assert_eq!(found.name, "v2");
        // Stripped from the query: `upstream_path`'s tests.
    }

    #[test]
    fn path_versions_are_the_first_segment_and_fall_back_to_the_default() {
        let v = versioning(VersionLocation::UrlSegment, "v1", true);
        let at = |rest| resolve(&v, &headers(None), None, rest).unwrap();
        assert_eq!(at("/v2/items/1"), RequestVersion { name: "v2", upstream_rest: "/items/1" });
        assert_eq!(at("/v2"), RequestVersion { name: "v2", upstream_rest: "/" });
        assert_eq!(at("/items"), RequestVersion { name: "v1", upstream_rest: "/items" });
        let kept = versioning(VersionLocation::UrlSegment, "", false);
        assert_eq!(resolve(&kept, &headers(None), None, "/v1/a").unwrap().upstream_rest, "/v1/a");
        assert_eq!(resolve(&kept, &headers(None), None, "/v3/a"), Err(VersionRefusal::Missing));
    }

    #[test]
    fn stripping_a_header_version_removes_the_header() {
        let v = versioning(VersionLocation::Header, "v1", true);
        let mut h = headers(Some("v1"));
        strip_header(&v, &mut h);
        assert!(h.get("x-api-version").is_none());
        let in_the_query = versioning(VersionLocation::QueryParam, "v1", true);
        let mut h = headers(Some("v1"));
        strip_header(&in_the_query, &mut h);
        assert!(h.get("x-api-version").is_some());
    }
}
