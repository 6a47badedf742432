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
    /// The store cannot write for now (disk full, I/O error, database
    /// locked); nothing of the failed work was committed, a retry may
    /// succeed once the cause is gone.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl ShimError {
    /// Whether the failure is the storage's (disk full, I/O error, busy)
    /// rather than the work's: worth retrying later, never a reason to give
    /// up on the data.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Database(e) => transient_sqlite(e),
            _ => false,
        }
    }
}

/// SQLite failures that come from the storage, not from the statement.
pub(crate) fn transient_sqlite(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull | C::SystemIoFailure | C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen
        )
    )
}
