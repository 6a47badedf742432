use thiserror::Error;

/// Why a frame or event could not be decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The text is not JSON, or not the JSON shape expected.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A frame without a `module` field.
    #[error("frame has no \"module\" field")]
    MissingModule,
    /// A `message` frame whose `content` is neither a JSON string nor an object.
    #[error("message frame content is not an event (expected a JSON string or object)")]
    BadContent,
    /// An event object without an `event` name.
    #[error("event has no \"event\" name")]
    MissingEventName,
    /// Binary frame that is not UTF-8.
    #[error("binary frame is not UTF-8 text")]
    NotUtf8,
}
