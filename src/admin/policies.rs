//! `gatehouse.v1.PolicyService`, in the Tyk Dashboard's shapes.

use std::sync::Arc;

use gatehouse_control::ControlPlane;
use tonic::{Request, Response, Status};

use super::{ok_status, page, required, status_from};
use crate::pb;
use crate::wire::{policy_from_wire, policy_to_wire};

#[derive(Clone)]
pub struct PolicyServiceImpl {
    pub control: Arc<ControlPlane>,
}

#[tonic::async_trait]
impl pb::policy_service_server::PolicyService for PolicyServiceImpl {
    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let policy = policy_from_wire(request.into_inner().policy)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let policy = self.control.create_policy(policy).await.map_err(status_from)?;
        tracing::info!(policy_id = %policy.id, "policy created");
        Ok(Response::new(ok_status(&policy.id)))
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let r = request.into_inner();
        let policy = self.control.get_policy(required("id", &r.id)?).await.map_err(status_from)?;
        Ok(Response::new(policy_to_wire(&policy)))
    }

    async fn list_policies(
        &self,
        request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let r = request.into_inner();
        // The Dashboard's `?active=`: any value asks for active policies only.
        let only_active = !r.active.is_empty();
        let all: Vec<pb::Policy> = self
            .control
            .list_policies()
            .await
            .iter()
            .filter(|policy| policy.active || !only_active)
            .map(policy_to_wire)
            .collect();
        let (data, pages) = page(all, r.p);
        Ok(Response::new(pb::ListPoliciesResponse { data, pages }))
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        let id = required("id", &r.id)?.to_owned();
        let policy = policy_from_wire(r.policy).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let policy = self.control.update_policy(&id, policy).await.map_err(status_from)?;
        tracing::info!(policy_id = %policy.id, "policy updated");
        Ok(Response::new(ok_status(&policy.id)))
    }

    async fn delete_policy(
        &self,
        request: Request<pb::DeletePolicyRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        self.control.delete_policy(required("id", &r.id)?).await.map_err(status_from)?;
        tracing::info!(policy_id = %r.id, "policy deleted");
        Ok(Response::new(ok_status("Data deleted")))
    }
}
