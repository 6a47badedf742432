use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{
    AccountStatus, ChannelError, ChatType, DeliveryResult, InboundSender, MessageDelete,
    MessageEdit, OutboundMedia, OutboundMessage, ProbeReport, Reaction, SendOptions,
};

/// Catalogue metadata (Moltbot's `ChannelMeta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelMeta {
    /// Channel id, e.g. `zoom`.
    pub id: String,
    /// Display label.
    pub label: String,
    /// Label in channel pickers.
    pub selection_label: String,
    /// One-line description.
    pub blurb: String,
    /// Documentation path.
    pub docs_path: String,
    /// Sort order among plugin channels.
    pub order: u32,
}

/// What the channel supports (Moltbot's `ChannelCapabilities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Conversation kinds.
    pub chat_types: Vec<ChatType>,
    /// Can send media (possibly as a link).
    pub media: bool,
    /// Can reply to a specific message.
    pub reply: bool,
    /// Has threads.
    pub threads: bool,
    /// Supports reactions.
    pub reactions: bool,
    /// Can edit sent messages.
    pub edit: bool,
}

/// What `start` gets: where to put inbound messages and when to stop.
#[derive(Debug, Clone)]
pub struct StartContext {
    /// Account id (Moltbot's `accountId`).
    pub account_id: String,
    /// Inbound messages go here; the receiver decides when they are accepted.
    pub inbound: InboundSender,
    /// Fires when the channel must stop.
    pub cancel: CancellationToken,
}

/// A chat channel as a sidecar sees it.
///
/// `start` runs the inbound side until `ctx.cancel` fires; the send methods may
/// be called concurrently from any task at any time, before or after `start`.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel id (`zoom`).
    fn id(&self) -> &str;

    /// Catalogue metadata.
    fn meta(&self) -> ChannelMeta;

    /// What the channel supports.
    fn capabilities(&self) -> Capabilities;

    /// Receives platform events and sends each resulting message into
    /// `ctx.inbound` until `ctx.cancel` fires, then returns.
    ///
    /// # Errors
    /// A condition the channel cannot recover from inside (its consumer is
    /// gone, an internal task failed); the sidecar then exits so its supervisor
    /// restarts it. Platform failures, rejected credentials included, are
    /// retried inside and reported through [`Channel::status`].
    async fn start(&self, ctx: StartContext) -> Result<(), ChannelError>;

    /// Sends text to a conversation.
    ///
    /// # Errors
    /// See [`ChannelError`]; [`ChannelError::is_retryable`] tells whether the
    /// same call may succeed later.
    async fn send_text(&self, message: OutboundMessage) -> Result<DeliveryResult, ChannelError>;

    /// [`Channel::send_text`] with a caller's idempotency key and wait bound;
    /// channels without either ignore `options`.
    ///
    /// # Errors
    /// As [`Channel::send_text`].
    async fn send_text_with(
        &self,
        message: OutboundMessage,
        options: SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        let _ = options;
        self.send_text(message).await
    }

    /// Sends media to a conversation; a channel that cannot upload may send a
    /// link as text.
    ///
    /// # Errors
    /// As [`Channel::send_text`], plus [`ChannelError::Unsupported`].
    async fn send_media(&self, media: OutboundMedia) -> Result<DeliveryResult, ChannelError>;

    /// Adds or removes a reaction.
    ///
    /// # Errors
    /// As [`Channel::send_text`]; [`ChannelError::Unsupported`] by default.
    async fn react(&self, reaction: Reaction) -> Result<(), ChannelError> {
        let _ = reaction;
        Err(ChannelError::Unsupported(format!(
            "{} has no reactions",
            self.id()
        )))
    }

    /// Replaces the text of a message we sent.
    ///
    /// # Errors
    /// As [`Channel::react`].
    async fn edit(&self, edit: MessageEdit) -> Result<(), ChannelError> {
        let _ = edit;
        Err(ChannelError::Unsupported(format!(
            "{} cannot edit messages",
            self.id()
        )))
    }

    /// Deletes a message we sent.
    ///
    /// # Errors
    /// As [`Channel::react`].
    async fn unsend(&self, delete: MessageDelete) -> Result<(), ChannelError> {
        let _ = delete;
        Err(ChannelError::Unsupported(format!(
            "{} cannot delete messages",
            self.id()
        )))
    }

    /// Checks credentials and reachability without side effects.
    async fn probe(&self) -> ProbeReport;

    /// A snapshot of the account's state.
    fn status(&self) -> AccountStatus;
}
