use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::ChannelError;

/// Kind of conversation (Moltbot's `ChatType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// One-to-one.
    Direct,
    /// A group (a meeting's events, the account feed).
    Group,
    /// A named channel.
    Channel,
}

impl ChatType {
    /// `direct`, `group` or `channel`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Direct => "direct",
            ChatType::Group => "group",
            ChatType::Channel => "channel",
        }
    }
}

/// A conversation: its id (a BlueBubbles-style chat GUID), kind and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Chat GUID, e.g. `zoom;+;meeting:123` or `zoom;-;ann@example.com`.
    pub id: String,
    /// Direct, group or channel.
    pub kind: ChatType,
    /// Human label (meeting topic, channel name, contact name).
    pub label: Option<String>,
}

/// Someone who speaks in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Stable id (email or platform user id; `zoom` for the system sender).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// What the agent side should do with a message (per event type, configurable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Start an agent turn.
    #[default]
    Message,
    /// Add to the conversation's context for the next turn; no reply.
    Context,
    /// Do not deliver.
    Drop,
}

/// One inbound chat message, mirroring Moltbot's inbound context fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// Deterministic id (`MessageSid`); a redelivered event has the same id.
    pub message_id: String,
    /// Where it was said (`To`, `ChatType`, `ConversationLabel`).
    pub conversation: Conversation,
    /// Who said it (`From`, `SenderId`, `SenderName`).
    pub sender: Party,
    /// The text (`Body`).
    pub body: String,
    /// When, in ms since the epoch (`Timestamp`).
    pub timestamp_ms: i64,
    /// The message this replies to (`ReplyToId`).
    pub reply_to_id: Option<String>,
    /// Platform event type, e.g. `meeting.started`.
    pub event_type: String,
    /// What to do with it on the agent side.
    pub mode: DeliveryMode,
    /// Other known members of the conversation.
    pub participants: Vec<Party>,
    /// The raw platform event.
    pub raw: Option<serde_json::Value>,
    /// Whether the message names us (`WasMentioned`): `None` when the event is
    /// not a person's chat message (e.g. a meeting event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentioned: Option<bool>,
    /// Files that come with the message, already saved locally.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The platform's own id of the message (Zoom's Team Chat message id),
    /// kept so reactions, edits, deletes and threaded replies can name it
    /// after a restart; `None` for events that are not a chat message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_id: Option<String>,
}

/// A file that comes with an inbound message (a Team Chat file, a meeting
/// transcript), saved under the channel's media directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Stable id (the BlueBubbles attachment GUID); the same source file
    /// always gets the same id.
    pub id: String,
    /// File name shown to the agent.
    pub file_name: String,
    /// MIME type, when known.
    pub mime_type: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Where the file is saved.
    pub path: PathBuf,
}

/// An inbound message handed to the consumer, with an acknowledgement the
/// consumer fires once the message is safely stored.
#[derive(Debug)]
pub struct Delivery {
    /// The message.
    pub message: InboundMessage,
    ack: Option<oneshot::Sender<()>>,
}

impl Delivery {
    /// Wraps a message with no one waiting for its acknowledgement.
    pub fn new(message: InboundMessage) -> Self {
        Self { message, ack: None }
    }

    /// Tells the producer the message is accepted (durably stored).
    pub fn ack(self) -> InboundMessage {
        let (message, ack) = self.into_parts();
        ack.send();
        message
    }

    /// The message and its acknowledgement apart, so a consumer can hand
    /// the message on without copying it and acknowledge later.
    pub fn into_parts(self) -> (InboundMessage, Ack) {
        (self.message, Ack(self.ack))
    }

    /// A delivery from its parts again.
    pub fn from_parts(message: InboundMessage, ack: Ack) -> Self {
        Self {
            message,
            ack: ack.0,
        }
    }
}

/// The acknowledgement of a [`Delivery`] taken apart from its message.
/// Dropping it unsent tells the producer the message was not accepted.
#[derive(Debug)]
pub struct Ack(Option<oneshot::Sender<()>>);

impl Ack {
    /// Tells the producer the message is accepted (durably stored).
    pub fn send(self) {
        if let Some(tx) = self.0 {
            let _ = tx.send(());
        }
    }
}

/// Producer side of the inbound queue (bounded).
#[derive(Debug, Clone)]
pub struct InboundSender(mpsc::Sender<Delivery>);

/// Consumer side of the inbound queue.
pub type InboundReceiver = mpsc::Receiver<Delivery>;

/// A bounded inbound queue of `capacity` messages.
pub fn inbound_channel(capacity: usize) -> (InboundSender, InboundReceiver) {
    let (tx, rx) = mpsc::channel(capacity);
    (InboundSender(tx), rx)
}

impl InboundSender {
    /// Queues a message without waiting for it to be stored.
    ///
    /// # Errors
    /// [`ChannelError::Closed`] when the consumer is gone.
    pub async fn send(&self, message: InboundMessage) -> Result<(), ChannelError> {
        self.0
            .send(Delivery::new(message))
            .await
            .map_err(|_| ChannelError::Closed)
    }

    /// Queues a message and waits until the consumer acknowledges it.
    ///
    /// # Errors
    /// [`ChannelError::Closed`] when the consumer is gone or dropped the
    /// message without acknowledging it.
    pub async fn send_acked(&self, message: InboundMessage) -> Result<(), ChannelError> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(Delivery {
                message,
                ack: Some(tx),
            })
            .await
            .map_err(|_| ChannelError::Closed)?;
        rx.await.map_err(|_| ChannelError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> InboundMessage {
        InboundMessage {
            message_id: "m1".into(),
            conversation: Conversation {
                id: "zoom;+;feed".into(),
                kind: ChatType::Group,
                label: None,
            },
            sender: Party {
                id: "zoom".into(),
                name: Some("Zoom".into()),
            },
            body: "hi".into(),
            timestamp_ms: 1,
            reply_to_id: None,
            event_type: "x".into(),
            mode: DeliveryMode::Message,
            participants: vec![],
            raw: None,
            mentioned: None,
            attachments: Vec::new(),
            upstream_id: None,
        }
    }

    #[tokio::test]
    async fn send_acked_waits_for_the_ack() {
        let (tx, mut rx) = inbound_channel(1);
        let producer = tokio::spawn(async move { tx.send_acked(msg()).await });
        let d = rx.recv().await.unwrap();
        assert!(!producer.is_finished());
        assert_eq!(d.ack().message_id, "m1");
        producer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn dropped_delivery_is_an_error_for_the_producer() {
        let (tx, mut rx) = inbound_channel(1);
        let producer = tokio::spawn(async move { tx.send_acked(msg()).await });
        drop(rx.recv().await.unwrap());
        assert!(matches!(producer.await.unwrap(), Err(ChannelError::Closed)));
    }
}
