use thiserror::Error;

/// Why a shim operation (store, outbox, configuration) failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ShimError {
    /// The SQLite database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A stored JSON value could not be encoded or decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The configuration is invalid; the message names the field.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A blocking store task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}
