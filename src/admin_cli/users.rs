//! `gatehouse admin users …`: `UserService`, resource owners of the password grant.

use super::output::{Fields, Table, map, or_dash};
use super::{Conn, input, rpc_error};
use crate::pb;

#[derive(clap::Subcommand)]
pub enum UsersCommand {
    /// List all resource owners.
    List,
    /// Show one resource owner (passwords are never returned).
    Get { username: String },
    /// Create a resource owner, with the password read from stdin.
    Create {
        username: String,
        /// Read the password from stdin. Required: a password flag would end up in shell
        /// history and in `ps`, so there is none.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Policy the user's tokens carry.
        #[arg(long)]
        policy_id: Option<String>,
        /// Metadata entry KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = input::key_value)]
        meta: Vec<(String, String)>,
    },
    /// Delete a resource owner.
    Delete { username: String },
}

pub async fn run(cmd: UsersCommand, conn: &Conn) -> anyhow::Result<String> {
    let mut service = conn.users();
    match cmd {
        UsersCommand::List => {
            let r = service.list_users(pb::ListUsersRequest {}).await.map_err(rpc_error)?.into_inner();
            conn.render(&r, |r| table(&r.users))
        }
        UsersCommand::Get { username } => {
            let user = service.get_user(pb::GetUserRequest { username }).await.map_err(rpc_error)?;
            conn.render(&user.into_inner(), fields)
        }
        UsersCommand::Create { username, password_stdin: _, policy_id, meta } => {
            // `--password-stdin` is required, so stdin is where the password is.
            let password = input::secret_from_stdin("password")?;
            let request = pb::CreateUserRequest {
                username,
                password,
                policy_id: policy_id.unwrap_or_default(),
                meta_data: meta.into_iter().collect(),
            };
            let user = service.create_user(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&user, fields)
        }
        UsersCommand::Delete { username } => {
            let request = pb::DeleteUserRequest { username: username.clone() };
            let status = service.delete_user(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {username}", or_dash(&s.message)))
        }
    }
}

fn table(users: &[pb::ResourceOwner]) -> String {
    let mut t = Table::new(&["USERNAME", "POLICY_ID", "META_DATA"]);
    for u in users {
        t.row(vec![u.username.clone(), or_dash(&u.policy_id), map(&u.meta_data)]);
    }
    t.render()
}

fn fields(u: &pb::ResourceOwner) -> String {
    let mut f = Fields::new();
    f.add("username", &u.username).add("policy_id", &u.policy_id).add("meta_data", map(&u.meta_data));
    f.render()
}
