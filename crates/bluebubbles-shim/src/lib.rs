//! A BlueBubbles-compatible sidecar around a Moltbot [`Channel`]: an axum
//! REST shim speaking BlueBubbles' protocol (so Moltbot's BlueBubbles client
//! and our own extension can send), a conversation store, and a durable
//! SQLite outbox that delivers inbound messages as BlueBubbles `new-message`
//! webhooks with retries, per-conversation order and dead letters.
//!
//! [`Channel`]: moltbot_channel::Channel

mod actions;
mod attachments;
mod auth;
mod bb;
mod config;
mod envelope;
mod error;
mod guid;
mod limit;
mod outbox;
mod routes;
mod scheduler;
mod shim;
mod status;
mod store;
mod webhook_post;

use self::shim::{BLUEBUBBLES_VERSION, now_ms};

pub use self::{
    config::{AuthFailureLimit, RateLimit, ShimConfig, check_webhook_url},
    error::ShimError,
    outbox::redact_url,
    shim::Shim,
    store::{DeadLetter, OutboxStats, Store, Webhook},
};
pub use moltbot_channel::{Backoff, ListenerLimits};
