//! `gatehouse.v1.GatewayService`: the fleet view.

use std::sync::Arc;

use gatehouse_control::ControlPlane;
use tonic::{Request, Response, Status};

use crate::pb;

#[derive(Clone)]
pub struct GatewayServiceImpl {
    pub control: Arc<ControlPlane>,
}

fn timestamp(unix: u64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: i64::try_from(unix).unwrap_or(i64::MAX), nanos: 0 }
}

#[tonic::async_trait]
impl pb::gateway_service_server::GatewayService for GatewayServiceImpl {
    async fn list_gateways(
        &self,
        _request: Request<pb::ListGatewaysRequest>,
    ) -> Result<Response<pb::ListGatewaysResponse>, Status> {
        let gateways = self
            .control
            .fleet
            .list()
            .into_iter()
            .map(|n| pb::GatewayNode {
                node_id: n.node_id,
                authenticated_by: n.authenticated_by.as_str().to_owned(),
                address: n.address,
                revision: n.revision,
                applied_revision: n.applied.unwrap_or(0),
                connected_since: Some(timestamp(n.connected_since)),
                last_seen: Some(timestamp(n.last_seen)),
            })
            .collect();
        let revision = self.control.revision().await;
        Ok(Response::new(pb::ListGatewaysResponse { gateways, revision }))
    }
}
