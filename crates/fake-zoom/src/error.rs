use thiserror::Error;

/// Errors of the fake's client-side helpers (the webhook emitter).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FakeError {
    /// The HTTP request could not be sent or its answer not read.
    #[error("webhook request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A body could not be serialised.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}
