//! The records the store reads and writes, and the numbers it reports.

use moltbot_channel::ChatType;
use serde::{Deserialize, Serialize};

/// A participant as stored: handle row id, address and name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub(crate) rowid: i64,
    pub(crate) address: String,
    pub(crate) name: Option<String>,
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRecord {
    pub(crate) rowid: i64,
    pub(crate) guid: String,
    pub(crate) kind: ChatType,
    pub(crate) display_name: Option<String>,
    pub(crate) participants: Vec<Member>,
    /// Read with a participant limit that the conversation reaches:
    /// `participants` was left empty.
    pub(crate) crowded: bool,
    pub(crate) last_message_ms: i64,
}

/// Attachment metadata of a stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AttachmentRecord {
    pub(crate) guid: String,
    pub(crate) name: String,
    pub(crate) mime_type: Option<String>,
    pub(crate) total_bytes: i64,
    /// Where an inbound file is saved; absent for files we sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<std::path::PathBuf>,
}

/// The extra `zoom` object of webhook messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ZoomMeta {
    pub(crate) event_type: String,
    pub(crate) mode: String,
    pub(crate) conversation_kind: String,
    pub(crate) conversation_label: Option<String>,
    /// Whether the message names the configured user or chatbot; absent for
    /// events that are not a person's chat message (and in rows stored before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) was_mentioned: Option<bool>,
    /// Zoom's id of a Team Chat message (absent for other events and in
    /// rows stored before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<String>,
}

/// A stored message (inbound or sent by us).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageRecord {
    pub(crate) rowid: i64,
    pub(crate) guid: String,
    pub(crate) chat_guid: String,
    pub(crate) sender: Option<Member>,
    pub(crate) text: String,
    pub(crate) date_ms: i64,
    pub(crate) is_from_me: bool,
    pub(crate) thread_originator: Option<String>,
    pub(crate) temp_guid: Option<String>,
    pub(crate) attachments: Vec<AttachmentRecord>,
    pub(crate) zoom: Option<ZoomMeta>,
    /// Zoom ids of the later parts of a reply we split (the guid is the
    /// first part's).
    pub(crate) parts: Vec<String>,
}

/// A message we sent, to be recorded.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) guid: String,
    pub(crate) chat_guid: String,
    pub(crate) text: String,
    pub(crate) date_ms: i64,
    pub(crate) thread_originator: Option<String>,
    pub(crate) temp_guid: Option<String>,
    pub(crate) attachments: Vec<AttachmentRecord>,
    /// Zoom ids of the later parts of a split reply.
    pub(crate) parts: Vec<String>,
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageFilter {
    pub(crate) chat_guid: Option<String>,
    pub(crate) after_ms: Option<i64>,
    pub(crate) before_ms: Option<i64>,
    pub(crate) ascending: bool,
    pub(crate) offset: i64,
    pub(crate) limit: i64,
}

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Row id (used by `DELETE /api/v1/webhook/:id`).
    pub id: i64,
    /// Target URL; may carry a password in its query, so never log it whole.
    pub url: String,
    /// Subscribed event types (`*` for all).
    pub events: Vec<String>,
    /// Creation time, ms since the epoch.
    #[serde(rename = "created")]
    pub created_ms: i64,
}

impl Webhook {
    pub(crate) fn wants_new_message(&self) -> bool {
        self.events.iter().any(|e| e == "*" || e == "new-message")
    }
}

/// Outbox numbers for `/status`, `/metrics` and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStats {
    /// Outbox rows: deliveries (message × webhook) not yet made, pending or
    /// dead, and messages waiting for a first webhook.
    pub depth: u64,
    /// Deliveries (message × webhook) waiting to be attempted.
    pub pending: u64,
    /// Deliveries that exhausted their attempts.
    pub dead_letters: u64,
    /// Deliveries that got a 2xx, since the database was created.
    pub delivered: u64,
    /// Failed delivery attempts, since the database was created.
    pub failed: u64,
    /// The last delivery error (no URL, no secret).
    pub last_error: Option<String>,
    /// When the last delivery succeeded, ms since the epoch.
    pub last_delivered_at_ms: Option<i64>,
    /// The storage failure the store is waiting out (disk full, I/O error),
    /// if any: inbound messages wait unacknowledged until it is gone.
    pub store_error: Option<String>,
}

/// A delivery that exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Delivery id, for [`Store::requeue`] and [`Store::drop_dead_letter`].
    pub id: i64,
    /// The message's guid.
    pub message_guid: String,
    /// Its conversation.
    pub chat_guid: String,
    /// The webhook it failed to reach.
    pub webhook_id: i64,
    /// The webhook URL without its query string.
    pub webhook_url: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: Option<String>,
    /// When the message entered the outbox, ms since the epoch.
    pub created_ms: i64,
    /// The webhook body, `{type, data}`.
    pub payload: serde_json::Value,
}

/// Result of one delivery attempt.
#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    Delivered,
    /// Counts towards `max_attempts`; the next one follows the backoff.
    Failed(String),
    /// The receiver asked to come back later (503 / 429 with `Retry-After`):
    /// not counted as an attempt; the next one after `retry_after`, kept
    /// within the backoff's bounds.
    Deferred {
        error: String,
        retry_after: std::time::Duration,
    },
}

/// What happened to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    Delivered,
    Retry,
    Dead,
}
