//! Zoom as a Moltbot channel: renders Zoom events into chat messages
//! (conversation ids, deterministic message ids, filters, delivery modes),
//! drops duplicates and our own echoes (by message id, sender and
//! conversation), and posts replies to Team Chat or as a chatbot: split,
//! queued per target, checked whole against Zoom's per-channel windows, and
//! idempotent per caller key. Meeting summaries and transcripts are fetched
//! and delivered as content (the transcript as an attachment); Team Chat
//! messages missed during a connection gap are recovered on reconnect.

mod catchup;
mod channel;
mod config;
mod conversation;
mod dedup;
mod echo;
mod enrich;
mod error;
mod files;
mod filter;
mod ledger;
mod markdown;
mod mention;
mod outbound;
mod ratelimit;
mod reactions;
mod render;
mod resume;
mod split;
mod summary;
mod transcript;
mod vtt;

pub use self::{
    channel::ZoomChannel,
    config::{Routing, SendAs, ZoomChannelConfig, default_delivery_mode},
    conversation::{FEED_ID, Target, parse_target},
    reactions::{TAPBACKS, reaction_emoji},
    render::{Rendered, Renderer, SYSTEM_SENDER_ID, SkipReason},
    split::{split_markdown, split_text},
};
