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
    /// The database's schema could not be brought up to date (or is newer
    /// than this program).
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A blocking store task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}
