use serde::{Deserialize, Serialize};

/// Text to send (Moltbot's `sendText` context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Target conversation id (chat GUID) or a bare contact (email / user id).
    pub conversation_id: String,
    /// The text; the channel splits it at the platform's limit.
    pub text: String,
    /// Message to reply to (thread root), when replying.
    pub reply_to_id: Option<String>,
}

/// How one send may wait and be retried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// The caller's key for this message (BlueBubbles' `tempGuid`): a later
    /// send with the same key returns the first one's result, or, after a
    /// partial failure, posts only the parts not posted yet.
    pub idempotency_key: Option<String>,
    /// Longest the send may wait for the platform's rate limits (queue,
    /// windows, `Retry-After`); a send that would wait longer fails with
    /// [`crate::ChannelError::RateLimited`] before posting anything. `None`:
    /// the channel's default.
    pub max_wait: Option<std::time::Duration>,
    /// Set when an earlier process began this keyed send at this time (ms
    /// since the epoch) and stopped before it recorded a result: a channel
    /// that can read the conversation's history looks there for the parts
    /// already posted instead of posting them again. Used only when the
    /// channel has no record of the key itself.
    pub interrupted_since_ms: Option<i64>,
}

/// Where media comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum MediaSource {
    /// A URL the platform or recipient can fetch.
    Url {
        /// The URL.
        url: String,
    },
    /// Uploaded bytes.
    Bytes {
        /// File name.
        name: String,
        /// MIME type.
        content_type: Option<String>,
        /// Content.
        #[serde(skip)]
        data: Vec<u8>,
    },
}

/// Media to send (Moltbot's `sendMedia` context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMedia {
    /// Target conversation id or contact.
    pub conversation_id: String,
    /// Caption text.
    pub caption: Option<String>,
    /// The media.
    pub media: MediaSource,
    /// Message to reply to.
    pub reply_to_id: Option<String>,
}

/// Result of a send (Moltbot's `OutboundDeliveryResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryResult {
    /// Platform id of the (first) message sent.
    pub message_id: String,
    /// Ids of every part when the text was split.
    pub part_ids: Vec<String>,
    /// Conversation the message went to.
    pub conversation_id: String,
    /// When it was accepted, ms since the epoch.
    pub timestamp_ms: i64,
}
