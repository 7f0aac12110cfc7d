//! `gatehouse.v1.ApiService`.

use std::sync::Arc;

use gatehouse_control::{ControlPlane, KeylessIntent};
use tonic::{Request, Response, Status};

use super::{ok_status, page, required, status_from};
use crate::pb;
use crate::wire::{
    api_from_wire, api_from_wire_with_warnings, api_to_wire, classic_to_wire, oas_from_wire, oas_to_wire,
};

fn invalid(e: gatehouse_model::ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[derive(Clone)]
pub struct ApiServiceImpl {
    pub control: Arc<ControlPlane>,
}

#[tonic::async_trait]
impl pb::api_service_server::ApiService for ApiServiceImpl {
    async fn create_api(&self, request: Request<pb::CreateApiRequest>) -> Result<Response<pb::Api>, Status> {
        let (api, warnings) = api_from_wire_with_warnings(request.into_inner().api).map_err(invalid)?;
        let api = self.control.create_api(api).await.map_err(status_from)?;
        tracing::info!(api_id = %api.api_id, warnings = warnings.len(), "API created");
        Ok(Response::new(pb::Api { warnings, ..api_to_wire(&api) }))
    }

    async fn import_oas(&self, request: Request<pb::ImportOasRequest>) -> Result<Response<pb::Api>, Status> {
        let imported = oas_from_wire(request.into_inner().document).map_err(invalid)?;
        let warnings = imported.warnings;
        let api = self.control.create_api(imported.api).await.map_err(status_from)?;
        tracing::info!(api_id = %api.api_id, warnings = warnings.len(), "API imported from Tyk OAS");
        Ok(Response::new(pb::Api { warnings, ..api_to_wire(&api) }))
    }

    async fn update_oas(&self, request: Request<pb::UpdateOasRequest>) -> Result<Response<pb::Api>, Status> {
        let r = request.into_inner();
        let api_id = required("api_id", &r.api_id)?.to_owned();
        let imported = oas_from_wire(r.document).map_err(invalid)?;
        let keyless = if r.allow_keyless || imported.explicitly_keyless {
            KeylessIntent::Explicit
        } else {
            KeylessIntent::Unstated
        };
        let warnings = imported.warnings;
        let api = self.control.update_api(&api_id, imported.api, keyless).await.map_err(status_from)?;
        tracing::info!(api_id = %api.api_id, warnings = warnings.len(), "API updated from Tyk OAS");
        Ok(Response::new(pb::Api { warnings, ..api_to_wire(&api) }))
    }

    async fn export_oas(
        &self,
        request: Request<pb::ExportOasRequest>,
    ) -> Result<Response<pb::ExportOasResponse>, Status> {
        let r = request.into_inner();
        let api = self.control.get_api(required("api_id", &r.api_id)?).await.map_err(status_from)?;
        let document = oas_to_wire(&api)?;
        Ok(Response::new(pb::ExportOasResponse { document: Some(document) }))
    }

    async fn export_classic(
        &self,
        request: Request<pb::ExportClassicRequest>,
    ) -> Result<Response<pb::ExportClassicResponse>, Status> {
        let r = request.into_inner();
        let api = self.control.get_api(required("api_id", &r.api_id)?).await.map_err(status_from)?;
        let api_definition = classic_to_wire(&api)?;
        Ok(Response::new(pb::ExportClassicResponse { api_definition: Some(api_definition) }))
    }

    async fn get_api(&self, request: Request<pb::GetApiRequest>) -> Result<Response<pb::Api>, Status> {
        let r = request.into_inner();
        let api = self.control.get_api(required("api_id", &r.api_id)?).await.map_err(status_from)?;
        Ok(Response::new(api_to_wire(&api)))
    }

    async fn list_apis(
        &self,
        request: Request<pb::ListApisRequest>,
    ) -> Result<Response<pb::ListApisResponse>, Status> {
        let apis: Vec<pb::Api> = self.control.list_apis().await.iter().map(api_to_wire).collect();
        let (apis, pages) = page(apis, request.into_inner().p);
        Ok(Response::new(pb::ListApisResponse { apis, pages }))
    }

    async fn update_api(&self, request: Request<pb::UpdateApiRequest>) -> Result<Response<pb::Api>, Status> {
        let r = request.into_inner();
        let api_id = required("api_id", &r.api_id)?.to_owned();
        let api = api_from_wire(r.api).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Gatehouse's own JSON states authentication in full: no oauth and no token_auth is a
        // keyless API on purpose.
        let api =
            self.control.update_api(&api_id, api, KeylessIntent::Explicit).await.map_err(status_from)?;
        tracing::info!(api_id = %api.api_id, "API updated");
        Ok(Response::new(api_to_wire(&api)))
    }

    async fn delete_api(
        &self,
        request: Request<pb::DeleteApiRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        self.control.delete_api(required("api_id", &r.api_id)?).await.map_err(status_from)?;
        tracing::info!(api_id = %r.api_id, "API deleted");
        Ok(Response::new(ok_status("API deleted")))
    }
}
