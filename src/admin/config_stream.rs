//! `gatehouse.v1.ConfigService`: `Watch` sends a snapshot or the missed deltas, then every
//! change; `ReportApplied` hears which revision a gateway now serves (read-your-writes).

use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use gatehouse_control::fleet::{Joining, NodeAuth, Session};
use gatehouse_control::watch::Published;
use gatehouse_control::{ControlPlane, WatchStart};
use gatehouse_model::clock::unix_seconds;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::pb;
use crate::wire::{change_to_wire, snapshot_to_wire};

pub struct ConfigStreamImpl {
    pub control: Arc<ControlPlane>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ConfigEvent, Status>> + Send>>;

fn snapshot_event(state: &gatehouse_model::ConfigState) -> pb::ConfigEvent {
    pb::ConfigEvent { event: Some(pb::config_event::Event::Snapshot(snapshot_to_wire(state))) }
}

fn delta_event(revision: u64, change: &gatehouse_model::Change) -> pb::ConfigEvent {
    pb::ConfigEvent { event: Some(pb::config_event::Event::Delta(change_to_wire(revision, change))) }
}

#[tonic::async_trait]
impl pb::config_service_server::ConfigService for ConfigStreamImpl {
    type WatchStream = EventStream;

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<EventStream>, Status> {
        let peer = request.remote_addr();
        let certified = request.extensions().get::<crate::peer::PeerIdentity>().map(|p| p.0.clone());
        let mut r = request.into_inner();
        // A verified certificate names the node; the id it sends is only its own claim.
        let auth = match certified {
            Some(identity) => {
                if !r.node_id.is_empty() && r.node_id != identity {
                    tracing::info!(claimed = %r.node_id, %identity, "gateway named by its certificate");
                }
                r.node_id = identity;
                NodeAuth::Certificate
            }
            None => NodeAuth::NodeSecret,
        };
        let held = (!r.store_id.is_empty()).then_some((r.store_id.as_str(), r.revision));
        let mut watcher = self.control.watch(held).await;
        tracing::info!(node_id = %r.node_id, ?peer, held_revision = r.revision, revision = watcher.revision, "gateway connected");

        // Small buffer: a slow gateway applies back-pressure to its own task only, and falls
        // back to a snapshot if it lags the broadcast channel.
        let (tx, rx) = mpsc::channel(16);
        let first = match watcher.start {
            WatchStart::Snapshot(state) => vec![snapshot_event(&state)],
            WatchStart::Deltas(deltas) => {
                deltas.iter().filter_map(|p| p.change.as_ref().map(|c| delta_event(p.revision, c))).collect()
            }
        };
        let control = Arc::clone(&self.control);
        let node_id = r.node_id;
        let address = peer.map(|p| p.to_string()).unwrap_or_default();
        let session = control.fleet.session();
        let joining = Joining {
            node_id: node_id.clone(),
            authenticated_by: auth,
            address,
            revision: watcher.revision,
            reports_applied: r.reports_applied,
        };
        tokio::spawn(async move {
            let membership = control.fleet.join(session, joining, unix_seconds());
            let mut sent = watcher.revision;
            for event in first {
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            loop {
                let event = tokio::select! {
                    update = watcher.updates.recv() => match update {
                        Ok(p) if p.revision <= sent && p.change.is_some() => continue,
                        Ok(Published { revision, change: Some(change) }) => {
                            sent = revision;
                            delta_event(revision, &change)
                        }
                        // The control plane reloaded its state: only a snapshot is consistent.
                        Ok(Published { change: None, .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            tracing::warn!(%node_id, "gateway needs a fresh snapshot");
                            let state = control.snapshot().await;
                            sent = state.revision;
                            snapshot_event(&state)
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    () = tx.closed() => break,
                };
                if tx.send(Ok(event)).await.is_err() {
                    break;
                }
                membership.sent(sent, unix_seconds());
            }
            drop(membership);
            tracing::info!(%node_id, "gateway disconnected");
        });
        let mut response = Response::new(Box::pin(ReceiverStream::new(rx)) as EventStream);
        response.metadata_mut().insert(SESSION_METADATA, session.0.into());
        Ok(response)
    }

    async fn report_applied(
        &self,
        request: Request<pb::AppliedReport>,
    ) -> Result<Response<pb::AppliedReportAck>, Status> {
        let report = request.into_inner();
        let known = self.control.fleet.applied(Session(report.session), report.revision, unix_seconds());
        Ok(Response::new(pb::AppliedReportAck { known }))
    }
}

/// Metadata of the Watch response naming the stream's session, for `ReportApplied`.
pub const SESSION_METADATA: &str = "gatehouse-session";
