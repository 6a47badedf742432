//! What the fake recorded: accepted sends, REST requests, counters.

use serde::{Deserialize, Serialize};
use zoom_wire::{ChatbotMessage, SendChatMessage};

/// An accepted (201) Team Chat send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentChatMessage {
    /// The message id returned to the sender.
    pub id: String,
    /// `{userId}` from the path, as given (`me`, an email or a user id).
    pub user_id: String,
    /// The request body.
    pub body: SendChatMessage,
    /// When it was accepted, in ms since the Unix epoch.
    pub at_ms: i64,
}

/// An accepted (201) Chatbot send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentChatbotMessage {
    /// The message id returned to the sender.
    pub message_id: String,
    /// The request body.
    pub body: ChatbotMessage,
    /// When it was accepted, in ms since the Unix epoch.
    pub at_ms: i64,
}

/// One HTTP request to the fake (control API excluded). Never holds a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// When it was answered, in ms since the Unix epoch.
    pub at_ms: i64,
}

/// Counters, as served by `GET /_fake/stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// `POST /oauth/token` requests, successful or not.
    pub token_requests: u64,
    /// WebSocket upgrades, accepted or not.
    pub ws_connects: u64,
    /// Connections currently open and accepted.
    pub open_connections: usize,
    /// Heartbeat frames received.
    pub heartbeats_received: u64,
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}
