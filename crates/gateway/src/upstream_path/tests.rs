//! Every combination the rewrite meets: listen path stripped or kept, base paths, versions by
//! path segment, header or query (stripped or kept), credentials in the query, empty and absent
//! queries, root paths. Requests are routed by the real `RuntimeConfig::route` and versions
//! resolved by the real `version::resolve`, so each row is what the pipeline would forward.

use gatehouse_model::test_util::ApiBuilder;
use gatehouse_model::{Change, ConfigState, CredentialLocation, Versioning};
use http::HeaderMap;

use super::*;
use crate::live::LiveConfig;

/// Which credential a test API takes.
#[derive(Clone, Copy)]
enum Auth {
    Keyless,
    /// A bearer token in the header, or in this query parameter ("": none).
    Token {
        query_param: &'static str,
        strip: bool,
    },
}

#[derive(Clone, Copy)]
struct Setup {
    listen_path: &'static str,
    strip_listen_path: bool,
    upstream: &'static str,
    auth: Auth,
    /// Where the version is, and whether it is stripped.
    versioning: Option<(VersionLocation, bool)>,
}

const BASE: Setup = Setup {
    listen_path: "/a/",
    strip_listen_path: true,
    upstream: "http://up:1",
    auth: Auth::Keyless,
    versioning: None,
};

fn api(setup: Setup) -> Api {
    let (token_auth, credentials) = match setup.auth {
        Auth::Keyless => (false, CredentialLocation::default()),
        Auth::Token { query_param, strip } => (
            true,
            CredentialLocation { query_param: query_param.into(), strip, ..CredentialLocation::default() },
        ),
    };
    let versioning = setup.versioning.map(|(location, strip)| Versioning {
        location,
        key: "x-api-version".into(),
        default_version: "v1".into(),
        versions: vec!["v1".into(), "v2".into()],
        strip,
    });
    ApiBuilder::new("a")
        .listen_path(setup.listen_path)
        .strip_listen_path(setup.strip_listen_path)
        .upstream(setup.upstream)
        .token_auth(token_auth)
        .credentials(credentials)
        .versioning(versioning)
        .build()
}

/// What the upstream is asked for when `target` (path and query, as sent) reaches `setup`'s API.
fn forwarded(setup: Setup, target: &str) -> String {
    let api = api(setup);
    let mut state = ConfigState::new("s".into(), [0; 32]);
    state.apply(1, &Change::ApiPut(api.clone()));
    let live = LiveConfig::new();
    live.apply_snapshot(state);
    let config = live.load().unwrap();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let (api, rest) = config.route(path).unwrap_or_else(|| panic!("{target}: not routed"));
    let upstream_rest = match &api.versioning {
        Some(versioning) => {
            crate::version::resolve(versioning, &HeaderMap::new(), query, rest).unwrap().upstream_rest
        }
        None => rest,
    };
    upstream_path_and_query(&Rewrite::of(api), &Routed { path, rest, upstream_rest, query })
}

fn check(setup: Setup, rows: &[(&str, &str)]) {
    for (target, expected) in rows {
        assert_eq!(forwarded(setup, target), *expected, "{target}");
    }
}

#[test]
fn the_listen_path_is_stripped_or_kept() {
    check(
        BASE,
        &[
            ("/a/items/1", "/items/1"),
            ("/a/items/", "/items/"),
            ("/a/", "/"),
            ("/a", "/"),
            ("/a/?q=1", "/?q=1"),
        ],
    );
    let kept = Setup { strip_listen_path: false, ..BASE };
    // `/a` reaches `/a/` and goes on as it came.
    check(kept, &[("/a/items/1", "/a/items/1"), ("/a/", "/a/"), ("/a", "/a"), ("/a?q=1", "/a?q=1")]);
}

#[test]
fn the_root_listen_path_forwards_the_whole_path_either_way() {
    for strip_listen_path in [true, false] {
        let root = Setup { listen_path: "/", strip_listen_path, ..BASE };
        check(root, &[("/", "/"), ("/items", "/items"), ("/items/?q", "/items/?q")]);
    }
}

#[test]
fn the_base_path_goes_first_with_or_without_its_trailing_slash() {
    for upstream in ["http://up:1/base", "http://up:1/base/", "http://up:1/base//"] {
        let stripped = Setup { upstream, ..BASE };
        check(
            stripped,
            &[("/a/items", "/base/items"), ("/a/", "/base/"), ("/a", "/base/"), ("/a?q", "/base/?q")],
        );
        let kept = Setup { upstream, strip_listen_path: false, ..BASE };
        check(kept, &[("/a/items", "/base/a/items"), ("/a/", "/base/a/"), ("/a", "/base/a")]);
    }
    for upstream in ["http://up:1", "http://up:1/"] {
        check(Setup { upstream, ..BASE }, &[("/a/", "/"), ("/a", "/"), ("/a?q=1", "/?q=1")]);
    }
}

#[test]
fn a_path_version_is_removed_when_stripped_and_the_listen_path_kept_or_not() {
    let segment = Some((VersionLocation::UrlSegment, true));
    let stripped = Setup { versioning: segment, ..BASE };
    check(
        stripped,
        &[
            ("/a/v2/items", "/items"),
            ("/a/v2", "/"),
            ("/a/v2/", "/"),
            ("/a/items", "/items"),
            ("/a/v2/x?q=1", "/x?q=1"),
        ],
    );
    let kept_listen_path = Setup { strip_listen_path: false, ..stripped };
    check(
        kept_listen_path,
        &[
            ("/a/v2/items", "/a/items"),
            ("/a/v2", "/a/"),
            ("/a/items", "/a/items"),
            ("/a/v2/x?page=1", "/a/x?page=1"),
        ],
    );
    let root = Setup { listen_path: "/", strip_listen_path: false, ..stripped };
    check(root, &[("/v1/items", "/items"), ("/items", "/items")]);
    let with_base = Setup { upstream: "http://up:1/base/", ..kept_listen_path };
    check(with_base, &[("/a/v2/items", "/base/a/items")]);
}

#[test]
fn a_path_version_stays_when_the_api_keeps_versions() {
    let kept = Setup { versioning: Some((VersionLocation::UrlSegment, false)), ..BASE };
    check(kept, &[("/a/v2/items", "/v2/items"), ("/a/items", "/items")]);
    check(Setup { strip_listen_path: false, ..kept }, &[("/a/v2/items", "/a/v2/items")]);
}

#[test]
fn a_query_version_is_removed_when_stripped_matched_decoded() {
    let stripped = Setup { versioning: Some((VersionLocation::QueryParam, true)), ..BASE };
    check(
        stripped,
        &[
            ("/a/items?q=1&x-api-version=v2", "/items?q=1"),
            ("/a/items?x-api-version=v2&q=1&r=2", "/items?q=1&r=2"),
            ("/a/items?x-api-version=v2", "/items"),
            ("/a/items?x%2Dapi-version=v2", "/items"),
            // Stripping reads the query as pairs: empty ones go too.
            ("/a/items?q=1&&r=2&", "/items?q=1&r=2"),
            ("/a/items?", "/items"),
            ("/a/items", "/items"),
        ],
    );
    let kept = Setup { versioning: Some((VersionLocation::QueryParam, false)), ..BASE };
    check(
        kept,
        &[("/a/items?q=1&x-api-version=v2", "/items?q=1&x-api-version=v2"), ("/a/items?", "/items?")],
    );
}

#[test]
fn a_header_version_leaves_the_query_alone() {
    // The header itself is removed by the caller; a parameter of the same name is no version.
    for strip in [true, false] {
        let header = Setup { versioning: Some((VersionLocation::Header, strip)), ..BASE };
        check(
            header,
            &[("/a/items?x-api-version=v2&q=1", "/items?x-api-version=v2&q=1"), ("/a/v2/x", "/v2/x")],
        );
    }
}

#[test]
fn a_query_credential_never_goes_upstream_and_the_rest_keeps_its_order_and_encoding() {
    for strip in [true, false] {
        let token = Setup { auth: Auth::Token { query_param: "access_token", strip }, ..BASE };
        check(
            token,
            &[
                ("/a/x?x=1&access_token=t&y=2", "/x?x=1&y=2"),
                ("/a/x?b=%20z&access_token=t&a=c+d&b=1", "/x?b=%20z&a=c+d&b=1"),
                ("/a/x?access_token=t", "/x"),
                ("/a/x?access%5Ftoken=t&k", "/x?k"),
                ("/a/x?access+token=t", "/x?access+token=t"),
                ("/a/x?a=1&&b=2", "/x?a=1&b=2"),
                ("/a/x?", "/x"),
                ("/a/x", "/x"),
                ("/a?access_token=t", "/"),
            ],
        );
    }
    let both = Setup {
        auth: Auth::Token { query_param: "access_token", strip: true },
        versioning: Some((VersionLocation::QueryParam, true)),
        upstream: "http://up:1/base",
        strip_listen_path: false,
        ..BASE
    };
    check(
        both,
        &[
            ("/a/x?access_token=t&x-api-version=v2&q=1", "/base/a/x?q=1"),
            ("/a/x?access_token=t", "/base/a/x"),
        ],
    );
}

#[test]
fn without_a_query_credential_the_query_goes_on_as_sent() {
    // A token read from the header: the query is not the credential's, even an empty one.
    let header_token = Setup { auth: Auth::Token { query_param: "", strip: true }, ..BASE };
    check(header_token, &[("/a/x?access_token=t&&y", "/x?access_token=t&&y"), ("/a/x?", "/x?")]);
    // A keyless API has no credential to remove.
    check(BASE, &[("/a/x?access_token=t", "/x?access_token=t"), ("/a/x?", "/x?")]);
}

#[test]
fn below_base_tolerates_an_empty_path_a_bare_query_and_a_missing_slash() {
    for (base, path_and_query, expected) in [
        ("", "/x?q", "/x?q"),
        ("", "", "/"),
        ("", "?q", "/?q"),
        ("", "x", "/x"),
        ("/base", "/x", "/base/x"),
        ("/base", "", "/base"),
        ("/base", "?q", "/base?q"),
        ("/base", "x", "/base/x"),
    ] {
        assert_eq!(below_base(base, path_and_query), expected, "{base:?} + {path_and_query:?}");
    }
}
