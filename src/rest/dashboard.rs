//! Bodies the Tyk Dashboard takes on a route whose request message has another shape.
//!
//! `POST /api/apis` takes Gatehouse's `Api` JSON, or a Tyk Classic definition wrapped as
//! `{"api_definition": …}`; the Dashboard also takes the Classic definition bare. A bare one is
//! told apart by `proxy`, which every Classic definition has (Tyk requires its `listen_path` and
//! `target_url`) and Gatehouse's `Api` has not, and is wrapped before the message is decoded, so
//! it takes the same import path as the wrapped form. Anything else is left as it is: an `Api`
//! with a misspelt field still gets the precise "unknown field" error.

use serde_json::{Value, json};

use super::Rpc;

/// The body of `rpc`'s request as its message expects it.
pub fn reshape(rpc: Rpc, body: Value) -> Value {
    match rpc {
        Rpc::ApiServiceCreateApi if is_bare_classic(&body) => json!({ "api_definition": body }),
        _ => body,
    }
}

fn is_bare_classic(body: &Value) -> bool {
    body.as_object().is_some_and(|o| o.contains_key("proxy") && !o.contains_key("api_definition"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_classic_definition_on_create_is_wrapped() {
        let bare = json!({ "api_id": "a", "proxy": { "listen_path": "/a/" }, "oauth_meta": {} });
        assert_eq!(reshape(Rpc::ApiServiceCreateApi, bare.clone()), json!({ "api_definition": bare }));
        let wrapped = json!({ "api_definition": bare });
        assert_eq!(reshape(Rpc::ApiServiceCreateApi, wrapped.clone()), wrapped);
        let own = json!({ "api_id": "a", "listen_path": "/a/", "upstream_url": "http://u" });
        assert_eq!(reshape(Rpc::ApiServiceCreateApi, own.clone()), own);
        assert_eq!(reshape(Rpc::ApiServiceUpdateApi, bare.clone()), bare);
    }
}
