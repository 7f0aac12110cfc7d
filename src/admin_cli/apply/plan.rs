//! What applying the files changes: the declared resources against the control plane's, as
//! steps in dependency order, each with the fields it changes.
//!
//! Creates and updates go APIs → policies (whose access rights name APIs) → clients (which name
//! an API and a policy); with `--prune`, deletions go the other way, so nothing is deleted while
//! something still uses it. Deletions come last: an apply cut short leaves extra resources
//! behind, never missing ones.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::bail;
use serde_json::Value;

use super::documents::{ClientSpec, Declared, Resource, Source};
use crate::pb;

/// What the control plane holds, keyed as the files name it.
#[derive(Debug, Default)]
pub struct State {
    pub apis: BTreeMap<String, pb::Api>,
    pub policies: BTreeMap<String, pb::Policy>,
    /// By (api_id, client_id), in [`ClientSpec::comparable`] form.
    pub clients: BTreeMap<(String, String), pb::OAuthClient>,
}

#[derive(Debug)]
pub enum Step {
    CreateApi(pb::Api),
    UpdateApi {
        api: pb::Api,
        changes: Vec<String>,
    },
    CreatePolicy(pb::Policy),
    UpdatePolicy {
        policy: pb::Policy,
        changes: Vec<String>,
    },
    CreateClient(ClientSpec),
    UpdateClient {
        client: ClientSpec,
        changes: Vec<String>,
    },
    DeleteClient {
        api_id: String,
        client_id: String,
    },
    DeletePolicy(String),
    /// Its clients go with it.
    DeleteApi(String),
}

impl Step {
    /// `create api petstore`, as the plan and the report say it.
    pub fn title(&self) -> String {
        match self {
            Step::CreateApi(api) => format!("create api {}", api.api_id),
            Step::UpdateApi { api, .. } => format!("update api {}", api.api_id),
            Step::CreatePolicy(p) => format!("create policy {}", p.id),
            Step::UpdatePolicy { policy, .. } => format!("update policy {}", policy.id),
            Step::CreateClient(c) => format!("create client {}/{}", c.client.api_id, c.client.client_id),
            Step::UpdateClient { client, .. } => {
                format!("update client {}/{}", client.client.api_id, client.client.client_id)
            }
            Step::DeleteClient { api_id, client_id } => format!("delete client {api_id}/{client_id}"),
            Step::DeletePolicy(id) => format!("delete policy {id}"),
            Step::DeleteApi(id) => format!("delete api {id} (and its clients)"),
        }
    }

    fn changes(&self) -> &[String] {
        match self {
            Step::UpdateApi { changes, .. }
            | Step::UpdatePolicy { changes, .. }
            | Step::UpdateClient { changes, .. } => changes,
            _ => &[],
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub unchanged: usize,
    /// Lines for stderr: settings of Tyk definitions that are not carried over.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The plan for people: one line per step, its changed fields indented below.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            let _ = writeln!(out, "{}", step.title());
            for change in step.changes() {
                let _ = writeln!(out, "    {change}");
            }
        }
        let _ = writeln!(out, "{} to change, {} unchanged", self.steps.len(), self.unchanged);
        out
    }
}

/// What to do to turn `current` into what `declared` says.
pub fn plan(
    declared: Vec<Declared>,
    current: &State,
    prune: bool,
    allow_keyless: bool,
) -> anyhow::Result<Plan> {
    let mut apis: BTreeMap<String, (pb::Api, bool, Source)> = BTreeMap::new();
    let mut policies: BTreeMap<String, (pb::Policy, Source)> = BTreeMap::new();
    let mut clients: BTreeMap<(String, String), (ClientSpec, Source)> = BTreeMap::new();
    let mut plan = Plan::default();
    for Declared { resource, source } in declared {
        let (what, earlier) = match resource {
            Resource::Api { api, explicitly_keyless, warnings } => {
                for warning in warnings {
                    plan.warnings.push(format!("api {} ({source}): not carried over: {warning}", api.api_id));
                }
                let id = api.api_id.clone();
                (
                    format!("api {id}"),
                    apis.insert(id, (*api, explicitly_keyless, source.clone())).map(|e| e.2),
                )
            }
            Resource::Policy(policy) => {
                let id = policy.id.clone();
                (format!("policy {id}"), policies.insert(id, (policy, source.clone())).map(|e| e.1))
            }
            Resource::Client(spec) => {
                let key = (spec.client.api_id.clone(), spec.client.client_id.clone());
                let what = format!("client {}/{}", key.0, key.1);
                (what, clients.insert(key, (spec, source.clone())).map(|e| e.1))
            }
        };
        if let Some(earlier) = earlier {
            bail!("{what} is declared twice: in {earlier} and in {source}");
        }
    }

    for (id, (api, explicitly_keyless, source)) in &apis {
        match current.apis.get(id) {
            None => plan.steps.push(Step::CreateApi(api.clone())),
            Some(old) => {
                let changes = changes(old, api)?;
                if changes.is_empty() {
                    plan.unchanged += 1;
                    continue;
                }
                let protected = |a: &pb::Api| a.oauth.is_some() || a.token_auth;
                if protected(old) && !protected(api) && !explicitly_keyless && !allow_keyless {
                    bail!(
                        "api {id} ({source}) would become keyless: its authentication is missing from the file. \
                         Say so on purpose with --allow-keyless"
                    );
                }
                plan.steps.push(Step::UpdateApi { api: api.clone(), changes });
            }
        }
    }
    for (id, (policy, _)) in &policies {
        match current.policies.get(id) {
            None => plan.steps.push(Step::CreatePolicy(policy.clone())),
            Some(old) => {
                let changes = changes(old, policy)?;
                if changes.is_empty() {
                    plan.unchanged += 1;
                } else {
                    plan.steps.push(Step::UpdatePolicy { policy: policy.clone(), changes });
                }
            }
        }
    }
    for (key, (spec, source)) in &clients {
        if prune && !apis.contains_key(&key.0) {
            bail!(
                "client {}/{} ({source}) names api {}, which the files do not declare: --prune would delete it, and the client with it",
                key.0,
                key.1,
                key.0
            );
        }
        if !apis.contains_key(&key.0) && !current.apis.contains_key(&key.0) {
            bail!(
                "client {}/{} ({source}) names api {}, which neither the files nor the control plane have",
                key.0,
                key.1,
                key.0
            );
        }
        match current.clients.get(key) {
            None => {
                if let Some(name) = &spec.secret_env
                    && std::env::var(name).map_or(true, |v| v.is_empty())
                {
                    bail!("client {}/{} ({source}): its secret_env {name} is not set", key.0, key.1);
                }
                plan.steps.push(Step::CreateClient(spec.clone()));
            }
            Some(old) => {
                if old.public_client != spec.client.public_client {
                    bail!(
                        "client {}/{} ({source}): public_client cannot change on an existing client; \
                         delete it, or give the new one another client_id",
                        key.0,
                        key.1
                    );
                }
                let mut changes = changes(old, &spec.client)?;
                if changes.is_empty() {
                    plan.unchanged += 1;
                    continue;
                }
                if old.policy_id != spec.client.policy_id {
                    changes.push("(a new policy revokes the client's tokens)".to_owned());
                }
                plan.steps.push(Step::UpdateClient { client: spec.clone(), changes });
            }
        }
    }

    if prune {
        let pruned_apis: BTreeSet<&String> =
            current.apis.keys().filter(|id| !apis.contains_key(*id)).collect();
        for (api_id, client_id) in current.clients.keys() {
            let key = (api_id.clone(), client_id.clone());
            if !clients.contains_key(&key) && !pruned_apis.contains(api_id) {
                plan.steps.push(Step::DeleteClient { api_id: key.0, client_id: key.1 });
            }
        }
        for id in current.policies.keys().filter(|id| !policies.contains_key(*id)) {
            plan.steps.push(Step::DeletePolicy(id.clone()));
        }
        for id in pruned_apis {
            plan.steps.push(Step::DeleteApi(id.clone()));
        }
    }
    Ok(plan)
}

/// The fields that differ between two messages, as `path: old → new`, through their proto3
/// JSON so that every field is compared as the REST API shows it.
fn changes<T: serde::Serialize>(old: &T, new: &T) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    diff("", &serde_json::to_value(old)?, &serde_json::to_value(new)?, &mut out);
    Ok(out)
}

fn diff(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    if let (Value::Object(a), Value::Object(b)) = (old, new) {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            diff(&child, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
        }
        return;
    }
    // A credential (a webhook's shared secret) is said to change, never shown.
    if path.rsplit('.').next().is_some_and(|leaf| leaf.contains("secret")) {
        out.push(format!("{path}: (changed)"));
    } else {
        out.push(format!("{path}: {} → {}", shown(old), shown(new)));
    }
}

/// A value on one line, cut at 80 characters.
fn shown(value: &Value) -> String {
    let text = if value.is_null() { "(none)".to_owned() } else { value.to_string() };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(79).collect::<String>()) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn source() -> Source {
        Source { file: PathBuf::from("f.yaml"), document: 1 }
    }

    fn api(id: &str, path: &str) -> pb::Api {
        pb::Api {
            api_id: id.into(),
            listen_path: path.into(),
            upstream_url: "http://u".into(),
            token_auth: true,
            ..Default::default()
        }
    }

    fn declared(resource: Resource) -> Declared {
        Declared { resource, source: source() }
    }

    fn declared_api(a: pb::Api) -> Declared {
        declared(Resource::Api { api: Box::new(a), explicitly_keyless: false, warnings: vec![] })
    }

    #[test]
    fn unchanged_resources_make_no_step_and_changed_fields_are_named() {
        let mut current = State::default();
        current.apis.insert("a".into(), api("a", "/a/"));
        current.apis.insert("b".into(), api("b", "/b/"));
        let plan = plan(
            vec![declared_api(api("a", "/a/")), declared_api(api("b", "/bee/"))],
            &current,
            false,
            false,
        )
        .unwrap();
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].changes(), [r#"listen_path: "/b/" → "/bee/""#]);
        assert!(plan.render().ends_with("1 to change, 1 unchanged\n"), "{}", plan.render());
    }

    #[test]
    fn prune_deletes_dependents_first_and_clients_go_with_their_api() {
        let mut current = State::default();
        current.apis.insert("a".into(), api("a", "/a/"));
        current.apis.insert("gone".into(), api("gone", "/gone/"));
        current.policies.insert("p".into(), pb::Policy { id: "p".into(), ..Default::default() });
        let client = |api: &str, id: &str| pb::OAuthClient {
            api_id: api.into(),
            client_id: id.into(),
            ..Default::default()
        };
        current.clients.insert(("a".into(), "c".into()), client("a", "c"));
        current.clients.insert(("gone".into(), "d".into()), client("gone", "d"));
        let titles: Vec<String> = plan(vec![declared_api(api("a", "/a/"))], &current, true, false)
            .unwrap()
            .steps
            .iter()
            .map(Step::title)
            .collect();
        assert_eq!(titles, ["delete client a/c", "delete policy p", "delete api gone (and its clients)"]);
        let without_prune = plan(vec![declared_api(api("a", "/a/"))], &current, false, false).unwrap();
        assert!(without_prune.steps.is_empty());
        // With --prune, a client whose API the files leave out would go with it: refused.
        let orphan = declared(Resource::Client(ClientSpec {
            client: pb::OAuthClient { api_id: "gone".into(), client_id: "d".into(), ..Default::default() },
            secret_env: None,
        }));
        let err = plan(vec![declared_api(api("a", "/a/")), orphan], &current, true, false).unwrap_err();
        assert!(err.to_string().contains("--prune would delete it"), "{err}");
    }

    #[test]
    fn a_protected_api_is_not_made_keyless_unless_asked() {
        let mut current = State::default();
        current.apis.insert("a".into(), api("a", "/a/"));
        let keyless = pb::Api { token_auth: false, ..api("a", "/a/") };
        let err = plan(vec![declared_api(keyless.clone())], &current, false, false).unwrap_err();
        assert!(err.to_string().contains("--allow-keyless"), "{err}");
        assert_eq!(plan(vec![declared_api(keyless)], &current, false, true).unwrap().steps.len(), 1);
    }

    #[test]
    fn duplicates_and_secrets_in_diffs() {
        let err = plan(
            vec![declared_api(api("a", "/a/")), declared_api(api("a", "/b/"))],
            &State::default(),
            false,
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("declared twice"), "{err}");
        let mut out = Vec::new();
        diff(
            "",
            &serde_json::json!({"notifications": {"shared_secret": "old-value"}}),
            &serde_json::json!({"notifications": {"shared_secret": "new-value"}}),
            &mut out,
        );
        assert_eq!(out, ["notifications.shared_secret: (changed)"]);
    }
}
