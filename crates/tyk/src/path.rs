//! Reading JSON with its path at hand, so that every error and warning says where in the
//! document it arose: admins fix definitions by path, not by guessing which `enabled` we meant.

use std::fmt::Display;

use gatehouse_model::json::kind;
use serde_json::{Map, Value};

use crate::imported::ImportError;

/// The root's own path; children of the root are named without a prefix (`info.name`).
const ROOT: &str = "$";

/// A JSON object and where it sits in the document.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    /// Empty for the document root.
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// The document itself, which must be an object.
    pub fn root(doc: &'a Value) -> Result<Self, ImportError> {
        Self::at_path(String::new(), doc)
    }

    fn at_path(path: String, value: &'a Value) -> Result<Self, ImportError> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            other => Err(wrong_type(&path, "an object", other)),
        }
    }

    /// Whether the whole object says nothing beyond Tyk's defaults (see [`is_default`]).
    pub fn is_default(&self) -> bool {
        map_is_default(self.map)
    }

    /// This object's path, as shown to admins.
    pub fn path(&self) -> &str {
        shown(&self.path)
    }

    /// The path of `key` inside this object.
    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// A member's value; JSON `null` counts as absent, as it does when Tyk (Go) decodes it.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + use<'a> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(&self.at(key), "a string", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(&self.at(key), "a boolean", other)),
        }
    }

    /// A boolean that is false when absent, as in Tyk.
    pub fn flag(&self, key: &str) -> Result<bool, ImportError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    /// A whole number. Documents that came through a `google.protobuf.Struct` (the admin API's
    /// gRPC and REST transcoding) carry every number as a double, so `900.0` reads as 900.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ImportError> {
        /// Doubles hold every integer exactly up to 2^53.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| {
                    v.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=EXACT).contains(f)).map(|f| f as u64)
                })
                .map(Some)
                .ok_or_else(|| wrong_type(&self.at(key), "a whole number of at least 0", v)),
        }
    }

    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, ImportError> {
        self.get(key).map(|v| Self::at_path(self.at(key), v)).transpose()
    }

    /// An array of strings, each with its own path (for warnings about single entries).
    /// Absent means empty.
    pub fn strings(&self, key: &str) -> Result<Vec<(String, &'a str)>, ImportError> {
        let path = self.at(key);
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{path}[{i}]");
                    match item {
                        Value::String(s) => Ok((item_path, s.as_str())),
                        other => Err(wrong_type(&item_path, "a string", other)),
                    }
                })
                .collect(),
            Some(other) => Err(wrong_type(&path, "an array of strings", other)),
        }
    }

    pub fn require_str(&self, key: &str) -> Result<&'a str, ImportError> {
        self.str(key)?.ok_or_else(|| missing(&self.at(key), "a string"))
    }

    pub fn require_obj(&self, key: &str) -> Result<Obj<'a>, ImportError> {
        self.obj(key)?.ok_or_else(|| missing(&self.at(key), "an object"))
    }
}

/// Appends `key` to `path`: dotted when the key is a plain name, bracketed and quoted otherwise
/// so that a key containing a dot (legal in security scheme names) cannot read as two levels.
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{}[{}]", path, Value::String(key.to_owned())),
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { ROOT } else { path }
}

pub(crate) fn wrong_type(path: &str, expected: &str, found: &Value) -> ImportError {
    ImportError::new(shown(path), format!("expected {expected}, found {}", kind(found)))
}

pub(crate) fn missing(path: &str, expected: &str) -> ImportError {
    ImportError::new(shown(path), format!("is required: expected {expected}"))
}

/// Warnings in document order, each `"<path>: <why>"`.
#[derive(Default)]
pub(crate) struct Warnings(Vec<String>);

impl Warnings {
    pub fn add(&mut self, path: &str, why: impl Display) {
        self.0.push(format!("{}: {why}", shown(path)));
    }

    /// One warning for each member of `obj` that is neither in `handled` nor at a default value:
    /// a whole unsupported feature is one warning, at the key that switches it on.
    pub fn unmapped(&mut self, obj: &Obj<'_>, handled: &[&str]) {
        for (key, value) in obj.entries() {
            if !handled.contains(&key) && !is_default(value) {
                self.add(&obj.at(key), unsupported(key));
            }
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Keys by which Tyk switches a feature object on or off; `false` makes the rest of the object
/// inert in Tyk, so there is nothing to lose by not importing it.
const SWITCHES: [&str; 4] = ["enabled", "enable", "is_enabled", "use_discovery_service"];

/// Whether a value says nothing beyond Go's zero value (what Tyk assumes when it is absent), or
/// is a feature switched off. Such values are dropped without a warning: they change nothing.
pub(crate) fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f == 0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map_is_default(map),
    }
}

fn map_is_default(map: &Map<String, Value>) -> bool {
    SWITCHES.iter().any(|k| map.get(*k) == Some(&Value::Bool(false))) || map.values().all(is_default)
}

/// Why a Tyk feature is not imported, and what Gatehouse does instead. Tyk OAS (camelCase) and
/// Classic (snake_case) names share entries.
pub(crate) fn unsupported(key: &str) -> &'static str {
    match key {
        "middleware"
        | "custom_middleware"
        | "custom_middleware_bundle"
        | "response_processors"
        | "extended_paths" => {
            "middleware (plugins, transforms, caching, allow/block lists, mocks, per-endpoint rules) is \
             not supported: Gatehouse proxies every request unchanged and enforces none of it"
        }
        "paths" | "white_list" | "black_list" => {
            "path allow/block lists are not supported and NOT ENFORCED: every path is proxied"
        }
        "ignored" => "ignored paths are not supported: Gatehouse requires a token on every path",
        "global_headers"
        | "global_headers_remove"
        | "global_response_headers"
        | "global_response_headers_remove" => {
            "header transforms are not supported; Gatehouse forwards headers unchanged"
        }
        "errorOverrides" => "error overrides are not supported; Gatehouse sends its own error bodies",
        "gatewayTags" | "tags" => {
            "gateway tags (segmentation) are not supported; every Gatehouse gateway serves every API"
        }
        "customDomain" | "domain" => {
            "custom domains are not supported; Gatehouse routes on the listen path alone, for any host"
        }
        "rateLimit" | "global_rate_limit" => "rate limits are not supported; requests are not throttled",
        "ipAccessControl"
        | "enable_ip_whitelisting"
        | "allowed_ips"
        | "enable_ip_blacklisting"
        | "blacklisted_ips" => {
            "IP access control is not supported and NOT ENFORCED: every address is allowed"
        }
        "clientCertificates" => {
            "client certificate allow-lists are not supported and NOT ENFORCED: clients need no certificate"
        }
        "scopeCheck" => "scope checks are not supported and NOT ENFORCED: any valid token reaches the API",
        "loadBalancing" | "enable_load_balancing" | "target_list" => {
            "load balancing is not supported; Gatehouse forwards to the single upstream URL"
        }
        "serviceDiscovery" | "service_discovery" => {
            "service discovery is not supported; Gatehouse forwards to the upstream URL"
        }
        "uptimeTests" | "uptime_tests" | "check_host_against_uptime_tests" => {
            "uptime tests are not supported"
        }
        // Tyk names certificates by id in its own certificate store, which has no counterpart
        // here: the operator points the API at files on the gateway nodes instead.
        "mutualTLS" | "upstream_certificates" => {
            "upstream client certificates from Tyk's certificate store do not carry over: set \
             upstream_client_cert_file and upstream_client_key_file on the API"
        }
        "tlsTransport" | "transport" => {
            "upstream TLS transport settings do not carry over: Gatehouse always verifies https \
             upstreams (system roots, or upstream_ca_pem), with TLS 1.2 or 1.3"
        }
        "certificatePinning" | "pinned_public_keys" => {
            "certificate pinning is not supported; upstream certificates are verified against the \
             trusted CAs (set upstream_ca_pem to trust only your own CA)"
        }
        "certificates" => {
            "per-API server certificates do not carry over: gateways serve --tls-cert and \
             --tls-sni-cert certificates"
        }
        "authentication" | "upstream_auth" => {
            "upstream authentication is not supported; requests reach the upstream without added credentials"
        }
        "eventHandlers" | "event_handlers" | "hook_references" => {
            "event handlers are not supported; only the OAuth token notification webhook is"
        }
        "customKeyLifetime" | "session_lifetime" | "session_lifetime_respects_key_expiration" => {
            "custom session lifetimes are not supported; a session lives as long as its token"
        }
        "port" | "listen_port" | "protocol" | "enable_proxy_protocol" => {
            "per-API ports and protocols are not supported; Gatehouse serves every API on its own listener"
        }
        "internal" => "internal APIs are not supported; Gatehouse exposes the API on its listen path",
        "expiration" | "expires" => "API expiry is not supported; the API stays available",
        "versioning" => {
            "Tyk OAS versions (separate API definitions) do not carry over: a Gatehouse API names its \
             versions itself (versioning in its API JSON, x-gatehouse.versioning in Tyk OAS)"
        }
        "CORS" => "CORS is not supported; Gatehouse adds no CORS headers and answers no preflights",
        "cache_options" => "caching is not supported; every request reaches the upstream",
        "graphql" => "GraphQL features are not supported; Gatehouse proxies plain HTTP",
        "override_target" => "a per-version upstream is not supported; Gatehouse uses the API's upstream",
        "enableClientCertificate" | "use_certificate" => {
            "Tyk's keys bound to client certificates have no counterpart; Gatehouse reads the bearer \
             token only"
        }
        _ => "not supported by Gatehouse; ignored",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_bracket_keys_that_are_not_plain_names() {
        assert_eq!(join("", "info"), "info");
        assert_eq!(join("x-tyk-api-gateway", "info"), "x-tyk-api-gateway.info");
        assert_eq!(join("a.securitySchemes", "my.scheme"), "a.securitySchemes[\"my.scheme\"]");
    }

    #[test]
    fn type_errors_name_path_and_expected_type() {
        let doc = json!({"server": {"listenPath": {"value": 7}}});
        let root = Obj::root(&doc).unwrap();
        let lp = root.require_obj("server").unwrap().require_obj("listenPath").unwrap();
        let err = lp.require_str("value").unwrap_err();
        assert_eq!(err.path, "server.listenPath.value");
        assert_eq!(err.message, "expected a string, found a number");
        let err = lp.require_str("strip").unwrap_err();
        assert_eq!(err.message, "is required: expected a string");
        assert_eq!(Obj::root(&json!([1])).err().unwrap().path, "$");
    }

    #[test]
    fn whole_numbers_read_whether_integers_or_doubles() {
        // A google.protobuf.Struct turns 900 into 900.0: the admin API's documents carry those.
        let doc = json!({"int": 900, "double": 900.0, "half": 0.5, "negative": -1.0, "huge": 1e300});
        let root = Obj::root(&doc).unwrap();
        assert_eq!(root.u64("int").unwrap(), Some(900));
        assert_eq!(root.u64("double").unwrap(), Some(900));
        for key in ["half", "negative", "huge"] {
            assert_eq!(
                root.u64(key).unwrap_err().message,
                "expected a whole number of at least 0, found a number"
            );
        }
    }

    #[test]
    fn defaults_and_switched_off_features_are_not_news() {
        for v in [json!(null), json!(false), json!(0), json!(""), json!([]), json!({"a": {"b": ""}})] {
            assert!(is_default(&v), "{v}");
        }
        assert!(is_default(&json!({"enabled": false, "tags": ["edge"]})));
        for v in [json!(true), json!(1), json!("x"), json!(["x"]), json!({"enabled": true})] {
            assert!(!is_default(&v), "{v}");
        }
    }

    #[test]
    fn one_warning_per_unmapped_feature() {
        let doc = json!({"mapped": 1, "gatewayTags": {"enabled": true, "tags": ["a"]}, "off": {}});
        let mut w = Warnings::default();
        w.unmapped(&Obj::root(&doc).unwrap(), &["mapped"]);
        let w = w.into_vec();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("gatewayTags: gateway tags"), "{w:?}");
    }
}
