//! Errors of admin operations.

use gatehouse_model::ValidationError;
use gatehouse_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Credentials given in the request (not the admin secret) are wrong.
    #[error("{0}")]
    Unauthenticated(String),
    /// A dependency this operation needs is not configured or not reachable.
    #[error("{0}")]
    Unavailable(String),
}
