//! The admin gRPC services: authentication, and the mapping of control-plane errors to gRPC
//! statuses. REST reaches the same implementations through [`crate::rest`].
//!
//! - [`auth`]: the admin-secret and node-secret checks, shared by gRPC and REST.
//! - [`apis`], [`clients`], [`policies`], [`users`], [`tokens`]: the admin services over
//!   [`gatehouse_control::ControlPlane`].
//! - [`analytics`]: a client's usage, in the Dashboard's `AggregateAnalyticsData` shape.
//! - [`config_stream`]: `ConfigService.Watch`, the gateways' config stream.

pub mod analytics;
pub mod apis;
pub mod auth;
pub mod clients;
pub mod config_stream;
pub mod gateways;
pub mod policies;
mod throttle;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use gatehouse_control::{ControlError, ControlPlane};
use gatehouse_model::storage::StoreError;
use tonic::Status;

/// The admin service implementations, one per gRPC service; the REST transcoder's generated
/// dispatch calls them by field name (`api_service`, `client_service`, …).
#[derive(Clone)]
pub struct AdminServices {
    pub api_service: apis::ApiServiceImpl,
    pub client_service: clients::ClientServiceImpl,
    pub user_service: users::UserServiceImpl,
    pub token_service: tokens::TokenServiceImpl,
    pub policy_service: policies::PolicyServiceImpl,
    pub gateway_service: gateways::GatewayServiceImpl,
    pub analytics_service: analytics::AnalyticsServiceImpl,
}

impl AdminServices {
    pub fn new(control: Arc<ControlPlane>) -> Self {
        Self {
            api_service: apis::ApiServiceImpl { control: Arc::clone(&control) },
            client_service: clients::ClientServiceImpl { control: Arc::clone(&control) },
            user_service: users::UserServiceImpl { control: Arc::clone(&control) },
            token_service: tokens::TokenServiceImpl { control: Arc::clone(&control) },
            policy_service: policies::PolicyServiceImpl { control: Arc::clone(&control) },
            analytics_service: analytics::AnalyticsServiceImpl { control: Arc::clone(&control) },
            gateway_service: gateways::GatewayServiceImpl { control },
        }
    }
}

pub fn status_from(error: ControlError) -> Status {
    match error {
        ControlError::Invalid(e) => Status::invalid_argument(e.to_string()),
        ControlError::NotFound(m) => Status::not_found(m),
        ControlError::Conflict(m) => Status::already_exists(m),
        ControlError::Store(StoreError::Unavailable(m)) => {
            tracing::error!(error = %m, "state store unavailable");
            Status::unavailable("state store unavailable")
        }
        ControlError::Unavailable(m) => Status::unavailable(m),
        ControlError::Precondition(m) => Status::failed_precondition(m),
        ControlError::Unauthenticated(m) => Status::unauthenticated(m),
        ControlError::Store(e @ (StoreError::Conflict { .. } | StoreError::Truncated(_))) => {
            Status::aborted(format!("concurrent change on another control plane ({e}); retry"))
        }
        ControlError::Store(StoreError::Corrupt(m)) => {
            tracing::error!(error = %m, "state store corrupt");
            Status::internal("state store corrupt")
        }
    }
}

/// The Dashboard's `{"Status":"OK","Message":…,"Meta":null}`.
pub fn ok_status(message: &str) -> crate::pb::AdminStatus {
    crate::pb::AdminStatus {
        status: "OK".to_owned(),
        message: message.to_owned(),
        meta: Some(pbjson_types::Value { kind: Some(pbjson_types::value::Kind::NullValue(0)) }),
    }
}

/// Page size of list responses, as the Tyk Dashboard's default.
pub const PAGE_SIZE: usize = 10;

/// Page `p` (from 1) of `items` and the number of pages; `p` ≤ 0 returns everything.
pub fn page<T>(items: Vec<T>, p: i32) -> (Vec<T>, i32) {
    let pages = i32::try_from(items.len().div_ceil(PAGE_SIZE)).unwrap_or(i32::MAX).max(1);
    let Ok(index) = usize::try_from(p) else { return (items, pages) };
    if index == 0 {
        return (items, pages);
    }
    let items = items.into_iter().skip((index - 1).saturating_mul(PAGE_SIZE)).take(PAGE_SIZE).collect();
    (items, pages)
}

/// A required string field of a request.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() { Err(Status::invalid_argument(format!("{field}: is required"))) } else { Ok(value) }
}
