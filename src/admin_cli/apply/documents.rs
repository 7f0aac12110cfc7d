//! Reading configuration files into the resources they declare.
//!
//! A file holds one or more documents: YAML (several separated by `---`) or JSON (one object,
//! or an array of them). Each document is one resource:
//! - `kind: Api`, `kind: Policy`, `kind: Client` with the fields of the REST API's `Api`,
//!   `Policy` and `OAuthClient` beside it (what `admin export` writes); a client may add
//!   `secret_env: NAME`, the environment variable holding the secret it is created with;
//! - a Tyk OAS API definition (an OpenAPI document with `x-tyk-api-gateway`) or a Tyk Classic
//!   one (bare, or wrapped as `{"api_definition": …}`), recognised by their shape, so the files
//!   a Tyk Sync user already keeps apply as they are.
//!
//! Every resource is converted here, with the functions the control plane itself uses
//! (`crate::wire`, the model's `validate`), into the form the control plane would store: a
//! file that says `listen_path: /a` compares equal to the stored `/a/`, so applying twice
//! changes nothing, and what cannot be imported is known before anything is sent.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::pb;
use crate::wire;

/// Where a resource was declared, for messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: PathBuf,
    /// 1-based position of the document in its file.
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.file.display(), self.document)
    }
}

/// An OAuth client as declared: the stored fields, and where its secret comes from.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// `redirect_uri` and `secret` are left empty: the list is the one truth, and secrets are
    /// never read back.
    pub client: pb::OAuthClient,
    /// The environment variable holding the secret to create the client with; else the
    /// control plane generates one (or none, for a public client).
    pub secret_env: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Resource {
    Api {
        /// Boxed: an API is several times the size of the other resources.
        api: Box<pb::Api>,
        /// A Tyk definition that says it is keyless on purpose.
        explicitly_keyless: bool,
        /// What a Tyk definition had that Gatehouse does not carry over.
        warnings: Vec<String>,
    },
    Policy(pb::Policy),
    Client(ClientSpec),
}

/// A resource and where it came from.
#[derive(Debug, Clone)]
pub struct Declared {
    pub resource: Resource,
    pub source: Source,
}

/// Every document of `paths`: files, and directories read recursively for `*.yaml`, `*.yml`
/// and `*.json`, in name order so that the same tree always yields the same plan. `-` is stdin.
pub fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Declared>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            files.push(path.clone());
        } else {
            collect_dir(path, &mut files)?;
        }
    }
    let mut declared = Vec::new();
    for file in files {
        let text = if file.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("cannot read documents from stdin")?
        } else {
            std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
        };
        for (index, document) in parse_documents(&file, &text)?.into_iter().enumerate() {
            let source = Source { file: file.clone(), document: index + 1 };
            let resource = resource(document).with_context(|| source.to_string())?;
            declared.push(Declared { resource, source });
        }
    }
    Ok(declared)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_dir(&path, files)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            files.push(path);
        }
    }
    Ok(())
}

/// The documents of one file. JSON is parsed as JSON (its errors name line and column); YAML
/// streams may hold several documents, and empty ones (a trailing `---`) are skipped.
fn parse_documents(file: &Path, text: &str) -> anyhow::Result<Vec<Value>> {
    let is_json = file.extension().is_some_and(|e| e == "json")
        || (file.as_os_str() == "-" && text.trim_start().starts_with(['{', '[']));
    let documents = if is_json {
        match serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", file.display()))? {
            Value::Array(documents) => documents,
            document => vec![document],
        }
    } else {
        let mut documents = Vec::new();
        for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document)
                .with_context(|| format!("{}, document {}: not valid YAML", file.display(), i + 1))?;
            documents.push(value);
        }
        documents
    };
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// One document as a resource, in the form the control plane stores.
fn resource(document: Value) -> anyhow::Result<Resource> {
    let Value::Object(mut fields) = document else {
        bail!("a document must be an object (an API, a policy or a client)");
    };
    let kind = match fields.remove("kind") {
        Some(Value::String(kind)) => kind,
        Some(other) => bail!("`kind` must be a string, not {other}"),
        None if fields.contains_key("openapi") && fields.contains_key("x-tyk-api-gateway") => {
            return tyk_oas(fields);
        }
        None if fields.contains_key("api_definition") || fields.contains_key("proxy") => {
            return tyk_classic(fields);
        }
        None => bail!(
            "no `kind`: say `kind: Api`, `kind: Policy` or `kind: Client`, or give a Tyk OAS \
             (openapi + x-tyk-api-gateway) or Tyk Classic (proxy) API definition"
        ),
    };
    match kind.to_ascii_lowercase().as_str() {
        "api" => api(fields),
        "policy" => policy(fields),
        "client" => client(fields),
        _ => bail!("unknown kind {kind:?}: expected Api, Policy or Client"),
    }
}

/// Decodes `fields` as `T` with pbjson's rules (unknown fields refused), naming the field
/// whose value has the wrong type.
fn decode<T: serde::de::DeserializeOwned>(fields: Map<String, Value>, what: &str) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            anyhow::anyhow!("not a valid {what}: {}", e.inner())
        } else {
            anyhow::anyhow!("not a valid {what}: field {path:?}: {}", e.inner())
        }
    })
}

fn api(fields: Map<String, Value>) -> anyhow::Result<Resource> {
    let api: pb::Api = decode(fields, "API")?;
    if api.api_definition.is_some() {
        bail!("`api_definition` is a Tyk Classic definition: give it as its own document, without `kind`");
    }
    if !api.warnings.is_empty() {
        bail!("`warnings` is written by the control plane, not read");
    }
    let stored = wire::api_from_wire(Some(api)).map_err(|e| anyhow::anyhow!("invalid API: {e}"))?;
    Ok(Resource::Api { api: Box::new(stored_api(stored)?), explicitly_keyless: false, warnings: Vec::new() })
}

fn tyk_oas(fields: Map<String, Value>) -> anyhow::Result<Resource> {
    let document: pbjson_types::Struct = decode(fields, "Tyk OAS API definition")?;
    let imported = wire::oas_from_wire(Some(document))
        .map_err(|e| anyhow::anyhow!("cannot import the Tyk OAS definition: {e}"))?;
    Ok(Resource::Api {
        api: Box::new(stored_api(imported.api)?),
        explicitly_keyless: imported.explicitly_keyless,
        warnings: imported.warnings,
    })
}

fn tyk_classic(mut fields: Map<String, Value>) -> anyhow::Result<Resource> {
    // The Dashboard's wrapper, or the definition bare.
    let definition = match fields.remove("api_definition") {
        Some(Value::Object(definition)) if fields.is_empty() => definition,
        Some(_) => bail!("`api_definition` must be an object, alone in its document"),
        None => fields,
    };
    let definition: pbjson_types::Struct = decode(definition, "Tyk Classic API definition")?;
    let imported = wire::classic_from_wire(&definition)
        .map_err(|e| anyhow::anyhow!("cannot import the Tyk Classic definition: {e}"))?;
    Ok(Resource::Api {
        api: Box::new(stored_api(imported.api)?),
        explicitly_keyless: imported.explicitly_keyless,
        warnings: imported.warnings,
    })
}

/// The API as the control plane would store and list it.
fn stored_api(api: gatehouse_model::Api) -> anyhow::Result<pb::Api> {
    if api.api_id.is_empty() {
        bail!(
            "the API has no id (api_id; x-tyk-api-gateway.info.id in Tyk OAS): apply finds an API again by it"
        );
    }
    let api = api.validate().map_err(|e| anyhow::anyhow!("invalid API: {e}"))?;
    Ok(wire::api_to_wire(&api))
}

fn policy(fields: Map<String, Value>) -> anyhow::Result<Resource> {
    let policy: pb::Policy = decode(fields, "policy")?;
    if policy.id.is_empty() {
        bail!("the policy has no id: apply finds a policy again by it");
    }
    let policy = wire::policy_from_wire(Some(policy))
        .and_then(gatehouse_model::Policy::validate)
        .map_err(|e| anyhow::anyhow!("invalid policy: {e}"))?;
    Ok(Resource::Policy(wire::policy_to_wire(&policy)))
}

fn client(mut fields: Map<String, Value>) -> anyhow::Result<Resource> {
    let secret_env = match fields.remove("secret_env") {
        None => None,
        Some(Value::String(name)) if !name.is_empty() => Some(name),
        Some(_) => bail!("`secret_env` must name an environment variable"),
    };
    if fields.contains_key("secret") {
        bail!(
            "a client's secret does not belong in a file: put it in an environment variable named by `secret_env`"
        );
    }
    let mut client: pb::OAuthClient = decode(fields, "OAuth client")?;
    if client.api_id.is_empty() || client.client_id.is_empty() {
        bail!("a client needs api_id and client_id: apply finds a client again by them");
    }
    if client.public_client && secret_env.is_some() {
        bail!("a public client has no secret: drop `secret_env` or `public_client`");
    }
    // One redirect URI given the Tyk way is the one-element list.
    let single = std::mem::take(&mut client.redirect_uri);
    if client.redirect_uris.is_empty() && !single.is_empty() {
        client.redirect_uris = vec![single];
    } else if !single.is_empty() && client.redirect_uris.first() != Some(&single) {
        bail!("redirect_uri differs from the first of redirect_uris: give the list alone");
    }
    Ok(Resource::Client(ClientSpec { client, secret_env }))
}

impl ClientSpec {
    /// The stored client in the comparable form: no secret, the list of redirect URIs only.
    pub fn comparable(mut client: pb::OAuthClient) -> pb::OAuthClient {
        client.secret = None;
        if client.redirect_uris.is_empty() && !client.redirect_uri.is_empty() {
            client.redirect_uris = vec![client.redirect_uri.clone()];
        }
        client.redirect_uri.clear();
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str, name: &str) -> anyhow::Result<Resource> {
        let docs = parse_documents(Path::new(name), text)?;
        assert_eq!(docs.len(), 1);
        resource(docs.into_iter().next().unwrap())
    }

    #[test]
    fn yaml_streams_hold_several_documents_and_json_arrays_too() {
        let yaml = "kind: Policy\nid: gold\nrate: 10\nper: 1\n---\nkind: Policy\nid: silver\n---\n";
        assert_eq!(parse_documents(Path::new("p.yaml"), yaml).unwrap().len(), 2);
        let json = r#"[{"kind":"Policy","id":"a"},{"kind":"Policy","id":"b"}]"#;
        assert_eq!(parse_documents(Path::new("p.json"), json).unwrap().len(), 2);
        let err = parse_documents(Path::new("p.json"), "{\"kind\": ").unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    }

    #[test]
    fn apis_take_the_stored_form() {
        let Resource::Api { api, .. } =
            one("kind: Api\napi_id: a\nlisten_path: /a\nupstream_url: http://127.0.0.1:9\n", "a.yaml")
                .unwrap()
        else {
            panic!("not an API")
        };
        assert_eq!(api.listen_path, "/a/");
        let err = one("kind: Api\nlisten_path: /a/\nupstream_url: http://u\n", "a.yaml").unwrap_err();
        assert!(err.to_string().contains("no id"), "{err}");
        let err = one("kind: Api\napi_id: a\nlisten: /a/\n", "a.yaml").unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err =
            one("kind: Api\napi_id: a\nlisten_path: 5\nupstream_url: http://u\n", "a.yaml").unwrap_err();
        assert!(err.to_string().contains("listen_path"), "{err}");
    }

    #[test]
    fn tyk_definitions_are_recognised_by_their_shape() {
        let classic = r#"{"api_id":"c","name":"C","proxy":{"listen_path":"/c/","target_url":"http://u"},"use_keyless":true}"#;
        let Resource::Api { api, explicitly_keyless, .. } = one(classic, "c.json").unwrap() else {
            panic!("not an API")
        };
        assert_eq!((api.api_id.as_str(), api.listen_path.as_str(), explicitly_keyless), ("c", "/c/", true));
        let wrapped = format!(r#"{{"api_definition":{classic}}}"#);
        assert!(matches!(one(&wrapped, "c.json").unwrap(), Resource::Api { .. }));
        let err = one("name: x\n", "x.yaml").unwrap_err();
        assert!(err.to_string().contains("no `kind`"), "{err}");
        let err = one("kind: Gateway\n", "x.yaml").unwrap_err();
        assert!(err.to_string().contains("unknown kind"), "{err}");
    }

    #[test]
    fn clients_keep_secrets_out_of_files() {
        let yaml =
            "kind: Client\napi_id: a\nclient_id: web\nredirect_uri: https://app/cb\nsecret_env: WEB_SECRET\n";
        let Resource::Client(spec) = one(yaml, "c.yaml").unwrap() else { panic!("not a client") };
        assert_eq!(spec.client.redirect_uris, ["https://app/cb"]);
        assert_eq!(spec.secret_env.as_deref(), Some("WEB_SECRET"));
        let err = one("kind: Client\napi_id: a\nclient_id: web\nsecret: s\n", "c.yaml").unwrap_err();
        assert!(err.to_string().contains("secret_env"), "{err}");
        let err = one("kind: Client\napi_id: a\n", "c.yaml").unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
    }
}
