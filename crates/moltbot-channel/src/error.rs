use std::time::Duration;

use thiserror::Error;

/// Why a channel operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Configuration is missing or invalid; the message names the key.
    #[error("configuration error: {0}")]
    Config(String),
    /// The target conversation id cannot be parsed or is not allowed.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// The platform does not know the conversation or recipient.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request is invalid (empty text, too large, …).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Rate limited; retry after the given delay when known.
    #[error("rate limited{}", .retry_after.map(|d| format!(" (retry after {} ms)", d.as_millis())).unwrap_or_default())]
    RateLimited {
        /// How long to wait.
        retry_after: Option<Duration>,
    },
    /// Credentials were rejected.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The platform answered with an error.
    #[error("platform error (HTTP {status}, code {code}): {message}")]
    Upstream {
        /// HTTP status.
        status: u16,
        /// Platform error code (0 when none).
        code: i64,
        /// Platform message.
        message: String,
    },
    /// The platform did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Network failure before an answer.
    #[error("network error: {0}")]
    Network(String),
    /// The operation is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The channel is shut down.
    #[error("channel closed")]
    Closed,
}

impl ChannelError {
    /// True when the same call may succeed later (rate limits, timeouts,
    /// network failures, platform 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            ChannelError::RateLimited { .. }
            | ChannelError::Timeout(_)
            | ChannelError::Network(_) => true,
            ChannelError::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
