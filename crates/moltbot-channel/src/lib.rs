//! The channel contract moltbot-zoom implements, modelled on Moltbot's
//! `ChannelPlugin` (identity, capabilities, lifecycle, outbound, status) and
//! reduced to what a sidecar owns. The message types mirror the fields of
//! Moltbot's inbound context (`MessageSid`, `From`, `ChatType`, `Body`, …).
//! It also holds the two small pieces every sidecar crate shares: [`Secret`]
//! and the retry [`Backoff`], and the hardened HTTP listener both of the
//! sidecar's servers use ([`serve_http`]).

mod actions;
mod backoff;
mod channel;
mod error;
mod inbound;
mod listener;
mod outbound;
mod secret;
mod status;

pub use self::{
    actions::{MessageDelete, MessageEdit, Reaction},
    backoff::Backoff,
    channel::{Capabilities, Channel, ChannelMeta, StartContext},
    error::ChannelError,
    inbound::{
        Ack, Attachment, ChatType, Conversation, Delivery, DeliveryMode, InboundMessage,
        InboundReceiver, InboundSender, Party, inbound_channel,
    },
    listener::{ListenerLimits, serve_http},
    outbound::{DeliveryResult, MediaSource, OutboundMedia, OutboundMessage, SendOptions},
    secret::Secret,
    status::{
        AccountStatus, ConnectionState, Counters, Metric, ProbeCheck, ProbeReport, QueueStatus,
    },
};
pub use tokio_util::sync::CancellationToken;
