//! The fleet view: which gateways follow this control plane, and how far they got.
//!
//! It is also what makes admin writes read-your-writes: a gateway that says so when it opens
//! its stream reports every revision it has applied ([`Fleet::applied`]), and a write waits
//! until every such gateway has reported its revision ([`Fleet::wait_applied`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

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
    /// Last revision it reported applied; `None` until it reports one. Gateways that do not
    /// report (older versions) are never waited for.
    pub applied: Option<u64>,
    /// Whether it said it will report applied revisions.
    pub reports_applied: bool,
    /// Unix seconds.
    pub connected_since: u64,
    pub last_seen: u64,
}

/// The gateways connected to this control plane (each replica knows its own).
#[derive(Default)]
pub struct Fleet {
    nodes: Mutex<BTreeMap<u64, GatewayNode>>,
    next_id: AtomicU64,
    /// Woken whenever a gateway reports a revision or leaves: what writers wait on.
    progress: Notify,
}

/// One stream's place in the fleet, named to the gateway (in the Watch response's
/// `gatehouse-session` metadata) so that its reports find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session(pub u64);

/// Who joins: what the stream told about the gateway.
pub struct Joining {
    pub node_id: String,
    pub authenticated_by: NodeAuth,
    pub address: String,
    pub revision: u64,
    pub reports_applied: bool,
}

/// Keeps a gateway listed while its stream is open; dropping it removes the entry.
pub struct FleetMembership<'a> {
    fleet: &'a Fleet,
    id: u64,
}

impl Fleet {
    /// A session id for a stream about to [`join`](Fleet::join).
    pub fn session(&self) -> Session {
        Session(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    pub fn join(&self, session: Session, joining: Joining, now: u64) -> FleetMembership<'_> {
        let Joining { node_id, authenticated_by, address, revision, reports_applied } = joining;
        let node = GatewayNode {
            node_id,
            authenticated_by,
            address,
            revision,
            applied: None,
            reports_applied,
            connected_since: now,
            last_seen: now,
        };
        if let Ok(mut nodes) = self.nodes.lock() {
            nodes.insert(session.0, node);
        }
        // Counted with the membership's life rather than read from the map, so the gauge needs
        // no lock when scraped and stays right even if the lock was poisoned.
        gatehouse_telemetry::metrics::control::gateway_connected(1.0);
        FleetMembership { fleet: self, id: session.0 }
    }

    pub fn list(&self) -> Vec<GatewayNode> {
        self.nodes.lock().map(|n| n.values().cloned().collect()).unwrap_or_default()
    }

    /// Records that the gateway on `session` has applied `revision`. False when no stream
    /// has that session (it closed, or the report went to another replica).
    pub fn applied(&self, session: Session, revision: u64, now: u64) -> bool {
        let known = match self.nodes.lock() {
            Ok(mut nodes) => match nodes.get_mut(&session.0) {
                Some(node) => {
                    // Reports may cross each other on the way; a revision never goes back.
                    node.applied = Some(node.applied.map_or(revision, |held| held.max(revision)));
                    node.last_seen = now;
                    true
                }
                None => false,
            },
            Err(_) => false,
        };
        self.progress.notify_waiters();
        known
    }

    /// Waits until every connected gateway that reports applied revisions has reported
    /// `revision` or a later one, for at most `wait`. Returns the node ids of those that had
    /// not by then (empty: all had).
    pub async fn wait_applied(&self, revision: u64, wait: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a report between the look and the wait still wakes us.
            let progress = self.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let behind = self.behind(revision);
            if behind.is_empty() || tokio::time::timeout_at(deadline, progress).await.is_err() {
                return if behind.is_empty() { behind } else { self.behind(revision) };
            }
        }
    }

    /// The reporting gateways that have not reported `revision` yet.
    fn behind(&self, revision: u64) -> Vec<String> {
        let Ok(nodes) = self.nodes.lock() else { return Vec::new() };
        nodes
            .values()
            .filter(|n| n.reports_applied && n.applied.is_none_or(|applied| applied < revision))
            .map(|n| n.node_id.clone())
            .collect()
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
        // A writer waiting on this gateway need not any more.
        self.fleet.progress.notify_waiters();
        gatehouse_telemetry::metrics::control::gateway_connected(-1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joining(node_id: &str, reports_applied: bool) -> Joining {
        Joining {
            node_id: node_id.into(),
            authenticated_by: NodeAuth::NodeSecret,
            address: "127.0.0.1:1".into(),
            revision: 3,
            reports_applied,
        }
    }

    #[test]
    fn members_are_listed_while_connected() {
        let fleet = Fleet::default();
        let a = fleet.join(fleet.session(), joining("gw-a", true), 100);
        {
            let _b = fleet.join(fleet.session(), joining("gw-b", true), 100);
            assert_eq!(fleet.list().len(), 2);
        }
        a.sent(4, 105);
        let nodes = fleet.list();
        assert_eq!(nodes.len(), 1);
        assert_eq!((nodes[0].node_id.as_str(), nodes[0].revision, nodes[0].last_seen), ("gw-a", 4, 105));
    }

    #[tokio::test]
    async fn a_write_waits_for_every_reporting_gateway_and_no_longer() {
        let fleet = std::sync::Arc::new(Fleet::default());
        let (a, b) = (fleet.session(), fleet.session());
        let _a = fleet.join(a, joining("gw-a", true), 100);
        let _b = fleet.join(b, joining("gw-b", true), 100);
        // An older gateway that never reports is not waited for.
        let _old = fleet.join(fleet.session(), joining("gw-old", false), 100);
        assert!(fleet.applied(a, 5, 101));

        let waiting = tokio::spawn({
            let fleet = std::sync::Arc::clone(&fleet);
            async move { fleet.wait_applied(5, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "gw-b has not reported 5");
        fleet.applied(b, 6, 102);
        let behind = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(behind.is_empty(), "{behind:?}");

        // A report never moves a gateway back.
        fleet.applied(b, 4, 103);
        assert!(fleet.wait_applied(6, Duration::ZERO).await.contains(&"gw-a".to_owned()));
        assert_eq!(fleet.wait_applied(6, Duration::from_millis(30)).await, ["gw-a"]);
        assert!(!fleet.applied(Session(999), 7, 104), "no stream has that session");
    }

    #[tokio::test]
    async fn a_gateway_that_leaves_is_no_longer_waited_for() {
        let fleet = std::sync::Arc::new(Fleet::default());
        let gone = fleet.join(fleet.session(), joining("gw-gone", true), 100);
        let waiting = tokio::spawn({
            let fleet = std::sync::Arc::clone(&fleet);
            async move { fleet.wait_applied(1, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(gone);
        let behind = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(behind.is_empty());
    }
}
