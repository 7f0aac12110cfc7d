//! Building the request message's JSON from path, query and body; encoding the answer.

use gatehouse_model::json::kind;
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::BodySpec;

/// An admin call that failed, as HTTP.
#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    pub message: String,
    pub allow: Option<String>,
    /// Seconds for a Retry-After header (a throttled caller).
    pub retry_after: Option<u64>,
}

impl RestError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), allow: None, retry_after: None }
    }

    pub fn method_not_allowed(allowed: String) -> Self {
        Self {
            allow: Some(allowed),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this path")
        }
    }
}

impl From<Status> for RestError {
    fn from(status: Status) -> Self {
        let code = match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry_after = status.metadata().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
        Self { retry_after, ..Self::new(code, status.message()) }
    }
}

/// The query string of a request and how to read it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    pub text: Option<&'a str>,
    /// Fields whose query values are read as booleans: proto3 JSON takes only `true` and
    /// `false` for a bool, so `?allow_keyless=true` becomes one.
    pub bool_fields: &'a [&'a str],
    /// `Some(fields)`: parameters naming none of `fields` are dropped (GET routes, see
    /// `known_query` in `mod.rs`); `None`: every parameter goes into the request, where an
    /// unknown one is refused when the message is decoded.
    pub known: Option<&'a [&'a str]>,
}

/// One JSON object holding every field of the request message: the body (whole or as one
/// field), then the query string for fields not set yet, then the path variables, which win.
/// Query values are strings, except those of `query.bool_fields`.
pub fn merge_input(
    spec: BodySpec,
    body: Option<Value>,
    path_params: Vec<(&'static str, String)>,
    query: Query<'_>,
) -> Result<Value, RestError> {
    let mut input = match (spec, body) {
        (BodySpec::Whole, Some(Value::Object(map))) => map,
        (BodySpec::Whole, Some(other)) => {
            return Err(RestError::new(
                StatusCode::BAD_REQUEST,
                format!("request body must be a JSON object, not {}", kind(&other)),
            ));
        }
        (BodySpec::Field(field), Some(value)) => {
            let mut map = Map::new();
            map.insert(field.to_owned(), value);
            map
        }
        _ => Map::new(),
    };
    if let Some(text) = query.text {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text)
            .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("malformed query string: {e}")))?;
        for (name, value) in pairs {
            if input.contains_key(&name) || query.known.is_some_and(|known| !known.contains(&name.as_str())) {
                continue;
            }
            let value = if query.bool_fields.contains(&name.as_str()) {
                match value.as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => {
                        return Err(RestError::new(
                            StatusCode::BAD_REQUEST,
                            format!("query parameter {name} must be true or false"),
                        ));
                    }
                }
            } else {
                Value::String(value)
            };
            input.insert(name, value);
        }
    }
    for (name, value) in path_params {
        input.insert(name.to_owned(), Value::String(value));
    }
    Ok(Value::Object(input))
}

/// A form body as a JSON object of strings. Repeated names are refused: which one would win
/// is a guess.
pub fn form_to_json(bytes: &[u8]) -> Result<Value, RestError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("malformed form body: {e}")))?;
    let mut map = Map::new();
    for (name, value) in pairs {
        if map.insert(name.clone(), Value::String(value)).is_some() {
            return Err(RestError::new(StatusCode::BAD_REQUEST, format!("form field {name} is repeated")));
        }
    }
    Ok(Value::Object(map))
}

/// Proto3 JSON writes every number of a `google.protobuf.Value` as a double (`7.0`), so a
/// value built from integers (ids, times) would reach clients that parse integers (Tyk's, in
/// Go) as floats they refuse. Whole numbers within f64's exact range become integers again.
pub fn whole_numbers_as_integers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT) {
                // In range and whole, checked above: the cast is exact.
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *n = whole.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The request message from its JSON. A value of the wrong type is reported with the path of
/// its field (`field "oauth.allowed_grant_types[0]": …`): serde alone says what was wrong,
/// not where, and a caller with a large body is left guessing.
/// With `body: "field"`, the caller's body is that field: its fields are named as the caller
/// wrote them, without the wrapper (`rate`, not `policy.rate`).
pub fn decode_input<T: DeserializeOwned>(input: Value, body: BodySpec) -> Result<T, RestError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        let path = match body {
            BodySpec::Field(wrapper) if path == wrapper => ".",
            BodySpec::Field(wrapper) => {
                path.strip_prefix(wrapper).and_then(|p| p.strip_prefix('.')).unwrap_or(&path)
            }
            BodySpec::None | BodySpec::Whole => &path,
        };
        let message = match path {
            "." => format!("invalid request: {}", e.inner()),
            field => format!("invalid request: field \"{field}\": {}", e.inner()),
        };
        RestError::new(StatusCode::BAD_REQUEST, message)
    })
}

pub fn encode_output<T: Serialize>(output: &T) -> Result<Value, RestError> {
    serde_json::to_value(output).map_err(|e| {
        RestError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode response: {e}"))
    })
}

pub fn into_request<T>(message: T, metadata: MetadataMap) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    *request.metadata_mut() = metadata;
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_variables_win_over_body() {
        let v = merge_input(
            BodySpec::Whole,
            Some(json!({"api_id": "x", "a": 1})),
            vec![("api_id", "y".into())],
            Query::default(),
        )
        .unwrap();
        assert_eq!(v, json!({"api_id": "y", "a": 1}));
    }

    #[test]
    fn body_field_and_query() {
        let query = Query { text: Some("p=2"), ..Query::default() };
        let v = merge_input(BodySpec::Field("api"), Some(json!({"name": "n"})), vec![], query).unwrap();
        assert_eq!(v, json!({"api": {"name": "n"}, "p": "2"}));
    }

    #[test]
    fn bool_fields_read_from_the_query_as_booleans() {
        let merge = |text| {
            let query = Query { text: Some(text), bool_fields: &["allow_keyless"], known: None };
            merge_input(BodySpec::Field("document"), None, vec![], query)
        };
        assert_eq!(merge("allow_keyless=true&x=true").unwrap(), json!({"allow_keyless": true, "x": "true"}));
        assert_eq!(merge("allow_keyless=0").unwrap(), json!({"allow_keyless": false}));
        let e = merge("allow_keyless=yes").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "query parameter allow_keyless must be true or false");
    }

    #[test]
    fn only_known_parameters_are_kept_when_the_route_says_which() {
        let query = Query {
            text: Some("p=2&active=true&sort=name"),
            bool_fields: &[],
            known: Some(&["p", "active"]),
        };
        let v = merge_input(BodySpec::None, None, vec![], query).unwrap();
        assert_eq!(v, json!({"p": "2", "active": "true"}));
        let all = merge_input(BodySpec::None, None, vec![], Query { known: None, ..query }).unwrap();
        assert_eq!(all, json!({"p": "2", "active": "true", "sort": "name"}));
    }

    #[test]
    fn non_object_whole_body_is_refused() {
        let e = merge_input(BodySpec::Whole, Some(json!([1])), vec![], Query::default()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("an array"), "{}", e.message);
    }

    #[test]
    fn whole_numbers_of_a_value_become_integers() {
        let mut v = json!({"a": [7.0, 1.5, {"b": 1518158407.0}], "c": "7.0", "d": 1e300});
        whole_numbers_as_integers(&mut v);
        assert_eq!(v.to_string(), r#"{"a":[7,1.5,{"b":1518158407}],"c":"7.0","d":1e+300}"#);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only decoded")]
        struct Policy {
            rate: f64,
            tags: Vec<String>,
        }
        let error = decode_input::<Policy>(json!({"rate": "lots", "tags": []}), BodySpec::Whole).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error.message.starts_with("invalid request: field \"rate\": invalid type: string \"lots\""),
            "{}",
            error.message
        );
        let error =
            decode_input::<Policy>(json!({"rate": 1.0, "tags": ["a", 2]}), BodySpec::Whole).unwrap_err();
        assert!(error.message.starts_with("invalid request: field \"tags[1]\": "), "{}", error.message);
        // A body that is one field of the request is named as the caller sent it.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only decoded")]
        struct Create {
            policy: Policy,
        }
        let body = json!({"policy": {"rate": true, "tags": []}});
        let error = decode_input::<Create>(body, BodySpec::Field("policy")).unwrap_err();
        assert!(error.message.starts_with("invalid request: field \"rate\": "), "{}", error.message);
    }

    #[test]
    fn statuses_map_to_http() {
        assert_eq!(RestError::from(Status::not_found("x")).status, StatusCode::NOT_FOUND);
        assert_eq!(RestError::from(Status::already_exists("x")).status, StatusCode::CONFLICT);
        assert_eq!(RestError::from(Status::unauthenticated("x")).status, StatusCode::UNAUTHORIZED);
    }
}
