//! `gatehouse.v1.ClientService`.

use std::sync::Arc;

use gatehouse_control::ControlPlane;
use tonic::{Request, Response, Status};

use super::{ok_status, page, required, status_from};
use crate::pb;
use crate::wire::{client_to_wire, client_update_from_wire, new_client_from_wire};

#[derive(Clone)]
pub struct ClientServiceImpl {
    pub control: Arc<ControlPlane>,
}

#[tonic::async_trait]
impl pb::client_service_server::ClientService for ClientServiceImpl {
    async fn create_client(
        &self,
        request: Request<pb::CreateClientRequest>,
    ) -> Result<Response<pb::OAuthClient>, Status> {
        let r = request.into_inner();
        required("api_id", &r.api_id)?;
        let (client, secret) =
            self.control.create_client(new_client_from_wire(r)).await.map_err(status_from)?;
        tracing::info!(api_id = %client.api_id, client_id = %client.client_id, "OAuth client created");
        Ok(Response::new(client_to_wire(&client, secret, self.control.redirect_uri_separator())))
    }

    async fn get_client(
        &self,
        request: Request<pb::GetClientRequest>,
    ) -> Result<Response<pb::OAuthClient>, Status> {
        let r = request.into_inner();
        let client = self
            .control
            .get_client(required("api_id", &r.api_id)?, required("client_id", &r.client_id)?)
            .await
            .map_err(status_from)?;
        Ok(Response::new(client_to_wire(&client, None, self.control.redirect_uri_separator())))
    }

    async fn list_clients(
        &self,
        request: Request<pb::ListClientsRequest>,
    ) -> Result<Response<pb::ListClientsResponse>, Status> {
        let r = request.into_inner();
        let clients = self.control.list_clients(required("api_id", &r.api_id)?).await.map_err(status_from)?;
        let (apps, pages) = page(
            clients.iter().map(|c| client_to_wire(c, None, self.control.redirect_uri_separator())).collect(),
            r.p,
        );
        Ok(Response::new(pb::ListClientsResponse { apps, pages }))
    }

    async fn update_client(
        &self,
        request: Request<pb::UpdateClientRequest>,
    ) -> Result<Response<pb::OAuthClient>, Status> {
        let r = request.into_inner();
        required("api_id", &r.api_id)?;
        required("client_id", &r.client_id)?;
        let (client, policy_changed) =
            self.control.update_client(client_update_from_wire(r)).await.map_err(status_from)?;
        if policy_changed {
            // Tokens carry their client's policy: as in Tyk, a new policy means new tokens.
            self.control
                .revoke_client_tokens(&client.api_id, &client.client_id)
                .await
                .map_err(status_from)?;
        }
        tracing::info!(api_id = %client.api_id, client_id = %client.client_id, policy_changed, "OAuth client updated");
        Ok(Response::new(client_to_wire(&client, None, self.control.redirect_uri_separator())))
    }

    async fn rotate_client_secret(
        &self,
        request: Request<pb::RotateClientSecretRequest>,
    ) -> Result<Response<pb::OAuthClient>, Status> {
        let r = request.into_inner();
        let (client, secret) = self
            .control
            .rotate_client_secret(required("api_id", &r.api_id)?, required("client_id", &r.client_id)?)
            .await
            .map_err(status_from)?;
        tracing::info!(api_id = %client.api_id, client_id = %client.client_id, "OAuth client secret rotated");
        Ok(Response::new(client_to_wire(&client, Some(secret), self.control.redirect_uri_separator())))
    }

    async fn delete_client(
        &self,
        request: Request<pb::DeleteClientRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        self.control
            .delete_client(required("api_id", &r.api_id)?, required("client_id", &r.client_id)?)
            .await
            .map_err(status_from)?;
        // Tokens of a deleted client must not come back to life if the id is registered again.
        self.control.revoke_client_tokens(&r.api_id, &r.client_id).await.map_err(status_from)?;
        tracing::info!(api_id = %r.api_id, client_id = %r.client_id, "OAuth client deleted");
        Ok(Response::new(ok_status("OAuth client deleted successfully")))
    }
}
