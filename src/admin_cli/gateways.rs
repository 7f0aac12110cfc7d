//! `gatehouse admin gateways …`: `GatewayService`, the fleet following the control plane.

use super::output::{Table, or_dash, timestamp};
use super::{Conn, rpc_error};
use crate::pb;

#[derive(clap::Subcommand)]
pub enum GatewaysCommand {
    /// List the gateways connected to the config stream, with the revision each was sent and
    /// the one it reported applied ("-": it does not report, or has not yet).
    List,
}

pub async fn run(cmd: GatewaysCommand, conn: &Conn) -> anyhow::Result<String> {
    match cmd {
        GatewaysCommand::List => {
            let request = pb::ListGatewaysRequest {};
            let r = conn.gateways().list_gateways(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&r, |r| table(&r.gateways))
        }
    }
}

fn table(nodes: &[pb::GatewayNode]) -> String {
    let mut t = Table::new(&["NODE_ID", "ADDRESS", "REVISION", "APPLIED", "CONNECTED_SINCE", "LAST_SEEN"]);
    for n in nodes {
        t.row(vec![
            n.node_id.clone(),
            or_dash(&n.address),
            n.revision.to_string(),
            if n.applied_revision == 0 { "-".to_owned() } else { n.applied_revision.to_string() },
            timestamp(n.connected_since.as_ref()),
            timestamp(n.last_seen.as_ref()),
        ]);
    }
    t.render()
}
