//! `gatehouse admin clients …`: `ClientService`, the OAuth client apps of an API.

use super::output::{Fields, Table, map, or_dash, yes_no};
use super::{Conn, input, note, rpc_error};
use crate::pb;

/// The fields a client is created or updated with; all optional on the command line.
#[derive(clap::Args)]
pub struct ClientFields {
    /// Redirect URI of the authorization code flow (exact match); repeat it to register
    /// several (on update, replaces them all).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// Policy the client's tokens carry.
    #[arg(long)]
    policy_id: Option<String>,
    /// Free text shown in listings.
    #[arg(long)]
    description: Option<String>,
    /// Display name of the client app.
    #[arg(long)]
    name: Option<String>,
    /// Metadata entry KEY=VALUE (repeatable; on update, replaces all metadata).
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = input::key_value)]
    meta: Vec<(String, String)>,
}

impl ClientFields {
    fn is_empty(&self) -> bool {
        let Self { redirect_uri, policy_id, description, name, meta } = self;
        [policy_id, description, name].iter().all(|v| v.is_none())
            && meta.is_empty()
            && redirect_uri.is_empty()
    }
}

#[derive(clap::Subcommand)]
pub enum ClientsCommand {
    /// List the client apps of an API.
    List { api_id: String },
    /// Show one client app (its secret is never shown again after creation).
    Get { api_id: String, client_id: String },
    /// Register a client app. A generated secret is printed once.
    Create {
        api_id: String,
        /// Client id of your choosing (generated when absent).
        #[arg(long)]
        client_id: Option<String>,
        #[command(flatten)]
        fields: ClientFields,
        /// A public client: no secret, PKCE required.
        #[arg(long, conflicts_with = "secret_stdin")]
        public: bool,
        /// Use the secret read from stdin instead of a generated one (e.g. when migrating
        /// clients from Tyk).
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Change a client app; fields not given keep their value. A new policy revokes the
    /// client's tokens.
    Update {
        api_id: String,
        client_id: String,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// Replace a client's secret with a new generated one, printed once. The old secret stops
    /// working at once.
    RotateSecret { api_id: String, client_id: String },
    /// Delete a client app.
    Delete { api_id: String, client_id: String },
}

const SHOWN_ONCE: &str =
    "the client secret is shown only this once: Gatehouse stores a hash of it and cannot show it again";

pub async fn run(cmd: ClientsCommand, conn: &Conn) -> anyhow::Result<String> {
    let mut service = conn.clients();
    match cmd {
        ClientsCommand::List { api_id } => {
            // p = 0: every page at once; a CLI listing has no reason to paginate.
            let request = pb::ListClientsRequest { api_id, p: 0 };
            let r = service.list_clients(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&r, |r| table(&r.apps))
        }
        ClientsCommand::Get { api_id, client_id } => {
            let request = pb::GetClientRequest { api_id, client_id };
            let client = service.get_client(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&client, fields)
        }
        ClientsCommand::Create { api_id, client_id, fields: f, public, secret_stdin } => {
            let secret =
                if secret_stdin { input::secret_from_stdin("client secret")? } else { String::new() };
            let request = pb::CreateClientRequest {
                api_id,
                client_id: client_id.unwrap_or_default(),
                redirect_uri: String::new(),
                redirect_uris: f.redirect_uri,
                policy_id: f.policy_id.unwrap_or_default(),
                description: f.description.unwrap_or_default(),
                client_name: f.name.unwrap_or_default(),
                meta_data: f.meta.into_iter().collect(),
                secret,
                public_client: public,
            };
            let mut client = service.create_client(request).await.map_err(rpc_error)?.into_inner();
            if secret_stdin {
                // The server echoes a chosen secret; the caller has it already, and piping it in
                // was to keep it off the screen.
                client.secret = None;
            } else if client.secret.is_some() {
                note(SHOWN_ONCE);
            }
            conn.render(&client, fields)
        }
        ClientsCommand::Update { api_id, client_id, fields: f } => {
            if f.is_empty() {
                anyhow::bail!(
                    "nothing to update: give --redirect-uri, --policy-id, --description, --name or --meta"
                );
            }
            // UpdateClient replaces every mutable field. Start from the current client so flags
            // not given keep their value (a concurrent edit in between would be overwritten).
            let get = pb::GetClientRequest { api_id: api_id.clone(), client_id: client_id.clone() };
            let current = service.get_client(get).await.map_err(rpc_error)?.into_inner();
            let old_policy = current.policy_id.clone();
            // The list when the server has one (the single value may be the first alone), else
            // the single value as it is.
            let (redirect_uri, redirect_uris) =
                match (f.redirect_uri.is_empty(), current.redirect_uris.is_empty()) {
                    (false, _) => (String::new(), f.redirect_uri),
                    (true, false) => (String::new(), current.redirect_uris),
                    (true, true) => (current.redirect_uri, Vec::new()),
                };
            let request = pb::UpdateClientRequest {
                api_id,
                client_id,
                redirect_uri,
                redirect_uris,
                policy_id: f.policy_id.unwrap_or(current.policy_id),
                description: f.description.unwrap_or(current.description),
                client_name: f.name.unwrap_or(current.client_name),
                meta_data: if f.meta.is_empty() { current.meta_data } else { f.meta.into_iter().collect() },
                secret: String::new(),
            };
            let client = service.update_client(request).await.map_err(rpc_error)?.into_inner();
            if client.policy_id != old_policy {
                note("the policy changed: the client's existing tokens were revoked");
            }
            conn.render(&client, fields)
        }
        ClientsCommand::RotateSecret { api_id, client_id } => {
            let request = pb::RotateClientSecretRequest { api_id, client_id };
            let client = service.rotate_client_secret(request).await.map_err(rpc_error)?.into_inner();
            note(SHOWN_ONCE);
            conn.render(&client, fields)
        }
        ClientsCommand::Delete { api_id, client_id } => {
            let request = pb::DeleteClientRequest { api_id, client_id: client_id.clone() };
            let status = service.delete_client(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {client_id}", s.message))
        }
    }
}

fn table(clients: &[pb::OAuthClient]) -> String {
    let mut t = Table::new(&["CLIENT_ID", "NAME", "REDIRECT_URI", "POLICY_ID", "PUBLIC", "DESCRIPTION"]);
    for c in clients {
        t.row(vec![
            c.client_id.clone(),
            or_dash(&c.client_name),
            or_dash(&redirect_uris(c)),
            or_dash(&c.policy_id),
            yes_no(c.public_client),
            c.description.clone(),
        ]);
    }
    t.render()
}

/// Every registered redirect URI, space-separated (no URI holds a space).
fn redirect_uris(c: &pb::OAuthClient) -> String {
    if c.redirect_uris.is_empty() { c.redirect_uri.clone() } else { c.redirect_uris.join(" ") }
}

fn fields(c: &pb::OAuthClient) -> String {
    let mut f = Fields::new();
    f.add("client_id", &c.client_id)
        .add("api_id", &c.api_id)
        .add("name", &c.client_name)
        .add("redirect_uri", redirect_uris(c))
        .add("policy_id", &c.policy_id)
        .add("public_client", yes_no(c.public_client))
        .add("description", &c.description)
        .add("meta_data", map(&c.meta_data));
    if let Some(secret) = &c.secret {
        f.add("secret", secret);
    }
    f.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_shown_only_when_the_response_has_it() {
        let mut c = pb::OAuthClient { client_id: "c".into(), api_id: "a".into(), ..Default::default() };
        assert!(!fields(&c).contains("secret:"));
        c.secret = Some("generated".into());
        assert!(fields(&c).lines().any(|l| l.starts_with("secret:") && l.ends_with(" generated")));
        assert!(!table(&[c]).contains("generated"));
    }
}
