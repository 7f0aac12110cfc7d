//! The fleet view: which gateways follow this control plane, and how far they got.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a gateway proved it may follow the config stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAuth {
    /// The shared node secret: its node id is what it says it is.
    NodeSecret,
    /// A client certificate signed by the control plane's client CA: its node id is the
    /// certificate's identity.
    Certificate,
}

impl NodeAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeAuth::NodeSecret => "node-secret",
            NodeAuth::Certificate => "client-certificate",
        }
    }
}

/// One gateway connection to this control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayNode {
    pub node_id: String,
    pub authenticated_by: NodeAuth,
    /// Peer address of the config stream, as seen here.
    pub address: String,
    /// Last revision sent to it on an open stream (applied unless the stream broke since).
    pub revision: u64,
    /// Unix seconds.
    pub connected_since: u64,
    pub last_seen: u64,
}

/// The gateways connected to this control plane (each replica knows its own).
#[derive(Default)]
pub struct Fleet {
    nodes: Mutex<BTreeMap<u64, GatewayNode>>,
    next_id: AtomicU64,
}

/// Keeps a gateway listed while its stream is open; dropping it removes the entry.
pub struct FleetMembership<'a> {
    fleet: &'a Fleet,
    id: u64,
}

impl Fleet {
    pub fn join(
        &self,
        node_id: String,
        authenticated_by: NodeAuth,
        address: String,
        revision: u64,
        now: u64,
    ) -> FleetMembership<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let node = GatewayNode {
            node_id,
            authenticated_by,
            address,
            revision,
            connected_since: now,
            last_seen: now,
        };
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(id, node);
        }
        // Counted with the membership's life rather than read from the map, so the gauge needs
        // no lock when scraped and stays right even if the lock was poisoned.
        gatehouse_telemetry::metrics::control::gateway_connected(1.0);
        FleetMembership { fleet: self, id }
    }

    pub fn list(&self) -> Vec<GatewayNode> {
        self.nodes.lock().map(|n| n.values().cloned().collect()).unwrap_or_default()
    }
}

impl FleetMembership<'_> {
    /// Records that `revision` was sent at `now`.
    pub fn sent(&self, revision: u64, now: u64) {
        if let Ok(mut nodes) = self.fleet.nodes.lock()
            && let Some(node) = nodes.get_mut(&self.id)
        {
            node.revision = revision;
            node.last_seen = now;
        }
    }
}

impl Drop for FleetMembership<'_> {
    fn drop(&mut self) {
        if let Ok(mut nodes) = self.fleet.nodes.lock() {
            nodes.remove(&self.id);
        }
        gatehouse_telemetry::metrics::control::gateway_connected(-1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_listed_while_connected() {
        let fleet = Fleet::default();
        let a = fleet.join("gw-a".into(), NodeAuth::Certificate, "127.0.0.1:1".into(), 3, 100);
        {
            let _b = fleet.join("gw-b".into(), NodeAuth::NodeSecret, "127.0.0.1:2".into(), 3, 100);
            assert_eq!(fleet.list().len(), 2);
        }
        a.sent(4, 105);
        let nodes = fleet.list();
        assert_eq!(nodes.len(), 1);
        assert_eq!((nodes[0].node_id.as_str(), nodes[0].revision, nodes[0].last_seen), ("gw-a", 4, 105));
    }
}
