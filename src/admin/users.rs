//! `gatehouse.v1.UserService`.

use std::sync::Arc;

use gatehouse_control::ControlPlane;
use tonic::{Request, Response, Status};

use super::{ok_status, required, status_from};
use crate::pb;
use crate::wire::{new_user_from_wire, user_to_wire};

#[derive(Clone)]
pub struct UserServiceImpl {
    pub control: Arc<ControlPlane>,
}

#[tonic::async_trait]
impl pb::user_service_server::UserService for UserServiceImpl {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::ResourceOwner>, Status> {
        let user =
            self.control.create_user(new_user_from_wire(request.into_inner())).await.map_err(status_from)?;
        tracing::info!(username = %user.username, "resource owner created");
        Ok(Response::new(user_to_wire(&user)))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::ResourceOwner>, Status> {
        let r = request.into_inner();
        let user = self.control.get_user(required("username", &r.username)?).await.map_err(status_from)?;
        Ok(Response::new(user_to_wire(&user)))
    }

    async fn list_users(
        &self,
        _request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let users = self.control.list_users().await.iter().map(user_to_wire).collect();
        Ok(Response::new(pb::ListUsersResponse { users }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        self.control.delete_user(required("username", &r.username)?).await.map_err(status_from)?;
        tracing::info!(username = %r.username, "resource owner deleted");
        Ok(Response::new(ok_status("user deleted")))
    }
}
