//! `gatehouse admin apply -f` and `gatehouse admin export`: APIs, policies and OAuth clients
//! kept in files (in git, as Tyk Sync and decK users keep theirs) and made true on a control
//! plane.
//!
//! - [`documents`] reads the files into resources, in the form the control plane stores;
//! - [`plan`] compares them with what the control plane holds and orders the steps;
//! - this module fetches the control plane's state, runs the steps, and writes exports in the
//!   format `apply` reads, so that applying an export to an empty control plane rebuilds it and
//!   applying anything twice changes nothing the second time.
//!
//! Resource owners (password-grant users) are not managed here: their passwords are
//! write-only, so no file could reproduce them.

mod documents;
mod plan;

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::output::Format;
use super::{Conn, rpc_error};
use crate::pb;
use documents::ClientSpec;
use plan::{State, Step};

#[derive(clap::Args)]
#[command(
    after_help = "Documents (YAML, several per file separated by ---, or JSON, one object or an array):
  kind: Api      the fields of Gatehouse's API JSON (api_id required)
  kind: Policy   the fields of a policy (id required)
  kind: Client   api_id, client_id, redirect_uris, policy_id, …; secret_env: VAR for a chosen
                 secret read from the environment at creation (else one is generated and shown)
  A Tyk OAS or Tyk Classic API definition, as Tyk keeps it, needs no kind.

Examples:
  gatehouse admin export > gatehouse.yaml
  gatehouse admin apply -f gatehouse.yaml --dry-run
  gatehouse admin apply -f config/ --prune"
)]
pub struct ApplyArgs {
    /// A YAML or JSON file, or a directory of them (read recursively); `-` reads stdin.
    /// Repeatable.
    #[arg(short = 'f', long = "file", required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    /// Show what would change and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete the APIs, policies and OAuth clients that the files do not declare.
    #[arg(long)]
    prune: bool,
    /// Let a protected API become keyless when its file leaves authentication out.
    #[arg(long)]
    allow_keyless: bool,
}

pub async fn apply(args: ApplyArgs, conn: &Conn) -> anyhow::Result<String> {
    let declared = documents::read(&args.files)?;
    let current = fetch_state(conn).await?;
    let plan = plan::plan(declared, &current, args.prune, args.allow_keyless)?;
    for warning in &plan.warnings {
        super::note(warning);
    }
    if args.dry_run || plan.steps.is_empty() {
        let mut text = plan.render();
        if args.dry_run && !plan.steps.is_empty() {
            text.push_str("(dry run: nothing was changed)\n");
        }
        return Ok(text);
    }
    let total = plan.steps.len();
    let mut report = String::new();
    for (done, step) in plan.steps.into_iter().enumerate() {
        let title = step.title();
        // A step that fails stops the run, since later ones may depend on it; the error says
        // what was done before it (with any secret generated, which cannot be shown again).
        let line = run_step(conn, step).await.with_context(|| {
            let before =
                if report.is_empty() { "nothing".to_owned() } else { report.trim_end().replace('\n', "; ") };
            format!("{title} failed after {done} of {total} steps; done before it: {before}")
        })?;
        report.push_str(&line);
        report.push('\n');
    }
    report.push_str(&format!("{total} changed, {} unchanged\n", plan.unchanged));
    Ok(report)
}

async fn run_step(conn: &Conn, step: Step) -> anyhow::Result<String> {
    let title = step.title();
    match step {
        Step::CreateApi(api) => {
            conn.apis().create_api(pb::CreateApiRequest { api: Some(api) }).await.map_err(rpc_error)?;
        }
        Step::UpdateApi { api, .. } => {
            let request = pb::UpdateApiRequest { api_id: api.api_id.clone(), api: Some(api) };
            conn.apis().update_api(request).await.map_err(rpc_error)?;
        }
        Step::CreatePolicy(policy) => {
            let request = pb::CreatePolicyRequest { policy: Some(policy) };
            conn.policies().create_policy(request).await.map_err(rpc_error)?;
        }
        Step::UpdatePolicy { policy, .. } => {
            let request = pb::UpdatePolicyRequest { id: policy.id.clone(), policy: Some(policy) };
            conn.policies().update_policy(request).await.map_err(rpc_error)?;
        }
        Step::CreateClient(spec) => return create_client(conn, spec, &title).await,
        Step::UpdateClient { client: ClientSpec { client, .. }, .. } => {
            let request = pb::UpdateClientRequest {
                api_id: client.api_id,
                client_id: client.client_id,
                policy_id: client.policy_id,
                meta_data: client.meta_data,
                description: client.description,
                client_name: client.client_name,
                redirect_uris: client.redirect_uris,
                ..Default::default()
            };
            conn.clients().update_client(request).await.map_err(rpc_error)?;
        }
        Step::DeleteClient { api_id, client_id } => {
            let request = pb::DeleteClientRequest { api_id, client_id };
            conn.clients().delete_client(request).await.map_err(rpc_error)?;
        }
        Step::DeletePolicy(id) => {
            conn.policies().delete_policy(pb::DeletePolicyRequest { id }).await.map_err(rpc_error)?;
        }
        Step::DeleteApi(api_id) => {
            conn.apis().delete_api(pb::DeleteApiRequest { api_id }).await.map_err(rpc_error)?;
        }
    }
    Ok(done(&title))
}

/// `create api a` → `created api a`.
fn done(title: &str) -> String {
    let (verb, rest) = title.split_once(' ').unwrap_or((title, ""));
    format!("{verb}d {rest}")
}

/// Creates a client with the secret its file names, or lets the control plane generate one,
/// which is then shown: it is the only time anyone can see it.
async fn create_client(conn: &Conn, spec: ClientSpec, title: &str) -> anyhow::Result<String> {
    let secret = match &spec.secret_env {
        Some(name) => std::env::var(name).with_context(|| format!("its secret_env {name} is not set"))?,
        None => String::new(),
    };
    let chosen = !secret.is_empty();
    let c = spec.client;
    let request = pb::CreateClientRequest {
        api_id: c.api_id,
        policy_id: c.policy_id,
        meta_data: c.meta_data,
        description: c.description,
        client_name: c.client_name,
        client_id: c.client_id,
        secret,
        public_client: c.public_client,
        redirect_uris: c.redirect_uris,
        ..Default::default()
    };
    let created = conn.clients().create_client(request).await.map_err(rpc_error)?.into_inner();
    Ok(match created.secret.filter(|_| !chosen) {
        Some(secret) => format!("{}; its generated secret, shown once: {secret}", done(title)),
        None => done(title),
    })
}

/// Everything apply manages, as the control plane lists it.
async fn fetch_state(conn: &Conn) -> anyhow::Result<State> {
    let mut state = State::default();
    let all = 0; // `p` of 0 or less: every item, unpaged
    let apis = conn.apis().list_apis(pb::ListApisRequest { p: all }).await.map_err(rpc_error)?.into_inner();
    for api in apis.apis {
        let clients = conn
            .clients()
            .list_clients(pb::ListClientsRequest { api_id: api.api_id.clone(), p: all })
            .await
            .map_err(rpc_error)
            .with_context(|| format!("cannot list the clients of api {}", api.api_id))?
            .into_inner();
        for client in clients.apps {
            let key = (client.api_id.clone(), client.client_id.clone());
            state.clients.insert(key, ClientSpec::comparable(client));
        }
        state.apis.insert(api.api_id.clone(), api);
    }
    let request = pb::ListPoliciesRequest { p: all, active: String::new() };
    let policies = conn.policies().list_policies(request).await.map_err(rpc_error)?.into_inner();
    for policy in policies.data {
        state.policies.insert(policy.id.clone(), policy);
    }
    Ok(state)
}

/// `gatehouse admin export`: the control plane's APIs, policies and clients as documents that
/// `apply -f` takes. YAML unless `-o json` (an array of documents).
pub async fn export(conn: &Conn) -> anyhow::Result<String> {
    let state = fetch_state(conn).await?;
    let mut documents = Vec::new();
    for api in state.apis.values() {
        documents.push(document("Api", api)?);
    }
    for policy in state.policies.values() {
        documents.push(document("Policy", policy)?);
    }
    for client in state.clients.values() {
        documents.push(document("Client", client)?);
    }
    match conn.format {
        Format::Json => {
            let documents: Vec<Value> = documents
                .iter()
                .map(|(kind, fields)| {
                    let mut document =
                        Map::from_iter([("kind".to_owned(), Value::String((*kind).to_owned()))]);
                    document.extend(fields.clone());
                    Value::Object(document)
                })
                .collect();
            super::output::json(&documents)
        }
        Format::Yaml | Format::Table => {
            let mut text = String::from(
                "# gatehouse admin export: apply with `gatehouse admin apply -f FILE`.\n\
                 # Client secrets are never exported; see `secret_env` in `gatehouse admin apply --help`.\n",
            );
            for (kind, fields) in &documents {
                // `kind` first, where a reader looks for it (the fields are in name order).
                text.push_str(&format!("---\nkind: {kind}\n"));
                text.push_str(&serde_yaml_ng::to_string(fields).context("cannot write YAML")?);
            }
            Ok(text)
        }
    }
}

/// The document's kind and the message's fields without the empty ones (proto3 reads an absent
/// string, list or map as empty, so leaving them out loses nothing and keeps files short).
fn document<T: serde::Serialize>(
    kind: &'static str,
    message: &T,
) -> anyhow::Result<(&'static str, Map<String, Value>)> {
    let Value::Object(fields) = serde_json::to_value(message)? else {
        anyhow::bail!("a {kind} did not encode as an object");
    };
    let fields =
        fields.into_iter().filter_map(|(key, value)| without_empty(value).map(|v| (key, v))).collect();
    Ok((kind, fields))
}

/// `value` without empty strings, lists and objects, at any depth; `None` if nothing is left.
/// Numbers and booleans stay, even zero and false: a proto3 `optional` field (a policy's
/// `active`) tells false from absent.
fn without_empty(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(fields) => {
            let kept: Map<String, Value> =
                fields.into_iter().filter_map(|(k, v)| without_empty(v).map(|v| (k, v))).collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exports_leave_out_what_is_empty_but_keep_false_and_zero() {
        let policy = pb::Policy { id: "p".into(), active: Some(false), ..Default::default() };
        let (kind, doc) = document("Policy", &policy).unwrap();
        assert_eq!(kind, "Policy");
        assert_eq!(doc["active"], false);
        assert_eq!(doc["rate"], 0.0);
        assert!(doc.get("name").is_none() && doc.get("tags").is_none() && doc.get("meta_data").is_none());
        assert_eq!(without_empty(json!({"a": {"b": ""}, "c": [1]})), Some(json!({"c": [1]})));
    }

    #[test]
    fn reports_say_what_was_done() {
        assert_eq!(done("create api a"), "created api a");
        assert_eq!(done("delete api a (and its clients)"), "deleted api a (and its clients)");
    }
}
