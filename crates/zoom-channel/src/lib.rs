//! Zoom as a Moltbot channel: renders Zoom events into chat messages
//! (conversation ids, deterministic message ids, filters, delivery modes),
//! drops duplicates and our own echoes (by message id, sender and
//! conversation), and posts replies to Team Chat or as a chatbot: split,
//! queued per target, checked whole against Zoom's per-channel windows, and
//! idempotent per caller key.

mod channel;
mod config;
mod conversation;
mod dedup;
mod echo;
mod error;
mod files;
mod filter;
mod ledger;
mod mention;
mod outbound;
mod ratelimit;
mod reactions;
mod render;
mod split;

pub use self::{
    channel::ZoomChannel,
    config::{Routing, SendAs, ZoomChannelConfig, default_delivery_mode},
    conversation::{FEED_ID, Target, parse_target},
    reactions::{TAPBACKS, reaction_emoji},
    render::{Rendered, Renderer, SYSTEM_SENDER_ID, SkipReason},
    split::split_text,
};
