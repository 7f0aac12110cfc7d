//! `gatehouse admin policies …`: `PolicyService`, in the Tyk Dashboard's policy shape.

use std::path::PathBuf;

use super::output::{Fields, Table, list, map, or_dash, yes_no};
use super::{Conn, input, rpc_error};
use crate::pb;

#[derive(clap::Subcommand)]
pub enum PoliciesCommand {
    /// List all policies.
    List,
    /// Show one policy.
    Get { id: String },
    /// Create a policy from its JSON, as POST /api/portal/policies takes it (id generated when
    /// empty). Prints the policy id.
    Create {
        /// JSON file of the policy (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Replace a policy with the content of a JSON file.
    Update {
        id: String,
        /// JSON file of the policy (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete a policy (refused while client apps or users name it).
    Delete { id: String },
}

pub async fn run(cmd: PoliciesCommand, conn: &Conn) -> anyhow::Result<String> {
    let mut service = conn.policies();
    match cmd {
        PoliciesCommand::List => {
            // p = 0: every page at once.
            let r = service.list_policies(pb::ListPoliciesRequest::default()).await.map_err(rpc_error)?;
            conn.render(&r.into_inner(), |r| table(&r.data))
        }
        PoliciesCommand::Get { id } => {
            let policy = service.get_policy(pb::GetPolicyRequest { id }).await.map_err(rpc_error)?;
            conn.render(&policy.into_inner(), fields)
        }
        PoliciesCommand::Create { file } => {
            let policy: pb::Policy = input::json_file(&file, "policy")?;
            let request = pb::CreatePolicyRequest { policy: Some(policy) };
            let status = service.create_policy(request).await.map_err(rpc_error)?.into_inner();
            // As in the Dashboard, the status message is the new policy's id.
            conn.render(&status, |s| format!("policy created: {}", s.message))
        }
        PoliciesCommand::Update { id, file } => {
            let policy: pb::Policy = input::json_file(&file, "policy")?;
            let request = pb::UpdatePolicyRequest { id: id.clone(), policy: Some(policy) };
            let status = service.update_policy(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {id}", or_dash(&s.message)))
        }
        PoliciesCommand::Delete { id } => {
            let request = pb::DeletePolicyRequest { id: id.clone() };
            let status = service.delete_policy(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {id}", or_dash(&s.message)))
        }
    }
}

/// `10 per 60s`, or `none` when the policy sets no rate limit.
fn rate(p: &pb::Policy) -> String {
    if p.rate <= 0.0 { "none".to_owned() } else { format!("{} per {}s", p.rate, p.per) }
}

/// `1000 per 3600s`, or `none` (-1 and 0 both mean no quota).
fn quota(p: &pb::Policy) -> String {
    if p.quota_max <= 0 {
        "none".to_owned()
    } else {
        format!("{} per {}s", p.quota_max, p.quota_renewal_rate)
    }
}

/// API ids the policy grants access to, sorted (protobuf maps have no order).
fn api_ids(p: &pb::Policy) -> Vec<String> {
    let mut ids: Vec<String> = p.access_rights.keys().cloned().collect();
    ids.sort();
    ids
}

fn table(policies: &[pb::Policy]) -> String {
    let mut t = Table::new(&["POLICY_ID", "NAME", "ACTIVE", "RATE", "QUOTA", "APIS"]);
    for p in policies {
        t.row(vec![
            p.id.clone(),
            or_dash(&p.name),
            yes_no(p.active.unwrap_or(true)),
            rate(p),
            quota(p),
            list(&api_ids(p)),
        ]);
    }
    t.render()
}

fn fields(p: &pb::Policy) -> String {
    let mut f = Fields::new();
    f.add("id", &p.id)
        .add("name", &p.name)
        .add("active", yes_no(p.active.unwrap_or(true)))
        .add("rate", rate(p))
        .add("quota", quota(p))
        .add(
            "key_expires_in",
            if p.key_expires_in == 0 {
                "the API's token lifetime".to_owned()
            } else {
                format!("{}s", p.key_expires_in)
            },
        )
        .add("tags", list(&p.tags))
        .add("meta_data", map(&p.meta_data));
    for id in api_ids(p) {
        let Some(access) = p.access_rights.get(&id) else { continue };
        let urls: Vec<String> =
            access.allowed_urls.iter().map(|u| format!("{} [{}]", u.url, u.methods.join(","))).collect();
        let value = format!(
            "versions {}; urls {}",
            list(&access.versions),
            if urls.is_empty() { "all".to_owned() } else { urls.join("; ") }
        );
        f.add(format!("access_rights.{id}"), value);
    }
    f.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_sentences() {
        let mut p = pb::Policy { id: "p".into(), quota_max: -1, ..Default::default() };
        assert_eq!((rate(&p), quota(&p)), ("none".to_owned(), "none".to_owned()));
        p.rate = 10.0;
        p.per = 60.0;
        p.quota_max = 1000;
        p.quota_renewal_rate = 3600;
        assert_eq!((rate(&p), quota(&p)), ("10 per 60s".to_owned(), "1000 per 3600s".to_owned()));
        p.access_rights.insert(
            "api".into(),
            pb::AccessDefinition {
                allowed_urls: vec![pb::AccessSpec { url: "^/x".into(), methods: vec!["GET".into()] }],
                ..Default::default()
            },
        );
        assert!(fields(&p).contains("access_rights.api: versions -; urls ^/x [GET]"), "{}", fields(&p));
    }
}
