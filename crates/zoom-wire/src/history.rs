//! `GET /v2/chat/users/{userId}/messages`: a page of a Team Chat
//! conversation's history (Zoom API reference, "List user's chat messages").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One page of messages, newest first as Zoom lists them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatMessagePage {
    /// Start of the queried range (ISO-8601), as echoed by Zoom.
    pub from: Option<String>,
    /// End of the queried range (ISO-8601), as echoed by Zoom.
    pub to: Option<String>,
    /// Page size used.
    pub page_size: Option<u32>,
    /// Token of the next page; empty or absent on the last one.
    pub next_page_token: Option<String>,
    /// The messages.
    pub messages: Vec<ListedChatMessage>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One listed message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListedChatMessage {
    /// Message id (the id events carry as `message_id` / `id`).
    pub id: String,
    /// Text.
    pub message: Option<String>,
    /// Sender email.
    pub sender: Option<String>,
    /// Sender's member id.
    pub sender_member_id: Option<String>,
    /// Sender's display name.
    pub sender_display_name: Option<String>,
    /// ISO-8601 time sent.
    pub date_time: Option<String>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// Thread root, when a reply.
    pub reply_main_message_id: Option<String>,
    /// Unknown fields (files, rich text, bot flags, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
