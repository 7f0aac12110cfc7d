//! How error messages name what a JSON document held, so the admin API's body errors and the
//! Tyk importer's errors say it the same way ("expected a string, found an array").

use serde_json::Value;

/// The kind of `v`, with its article: `"a string"`, `"an object"`, `"null"`.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_reads_as_a_phrase() {
        let named: Vec<_> = [json!(null), json!(true), json!(1.5), json!("s"), json!([]), json!({})]
            .iter()
            .map(kind)
            .collect();
        assert_eq!(named, ["null", "a boolean", "a number", "a string", "an array", "an object"]);
    }
}
