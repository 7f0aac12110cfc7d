//! Errors of admin operations.

use gatehouse_model::ValidationError;
use gatehouse_model::storage::StoreError;

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
    /// The operation would have an effect the caller did not ask for (e.g. making a protected
    /// API keyless); it is refused until they do.
    #[error("{0}")]
    Precondition(String),
    /// A dependency this operation needs is not configured or not reachable.
    #[error("{0}")]
    Unavailable(String),
}
