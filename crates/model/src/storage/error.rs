//! What a store call may fail with.

/// Why a store could not answer. `Clone`, so one failure can answer every request that waited
/// on the same call (the gateway's limit coalescer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or answered with an error; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data read back could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Another writer (a control-plane replica) committed first; the store is at `current`.
    #[error("the state moved on to revision {current}")]
    Conflict { current: u64 },
    /// The change log no longer reaches back to the revision asked for: reload the state.
    #[error("the change log no longer reaches back to revision {0}")]
    Truncated(u64),
}
