//! Zoom client for moltbot-zoom: a cached, single-flight OAuth [`TokenProvider`], the
//! WebSocket event [`Session`] (heartbeat, liveness, backoff, make-before-break
//! recycling, overlap dedup), the signed-webhook receiver ([`webhook_router`]) as
//! the alternative transport, a one-shot WebSocket probe for `doctor`, and the
//! Team Chat / Chatbot REST client [`ZoomApi`] (with meeting summaries,
//! recording downloads and chat history).
//!
//! Every base URL is configurable through [`Endpoints`], so tests run against a
//! local fake. Tokens and the client secret are held in [`moltbot_channel::Secret`]
//! and never logged; the WebSocket URL (which carries the token) is never logged.

mod backoff;
mod dedup;
mod endpoints;
mod error;
mod meetings;
mod oauth;
mod probe;
mod rest;
mod session;
mod webhook;

pub use self::{
    endpoints::Endpoints,
    error::{RetryKind, ZoomError},
    meetings::{CHAT_HISTORY_MAX_PAGE, Download, HistoryTarget, meeting_uuid_segment},
    oauth::{AccessToken, Credentials, Grant, TokenProvider},
    probe::{WsProbe, probe_websocket},
    rest::{
        ZoomApi,
        chat_ops::{ChatFile, ChatPlace},
    },
    session::{ReceivedEvent, Session, SessionConfig, SessionStatus},
    webhook::{
        WebhookConfig, WebhookDelivery, serve_webhooks, serve_webhooks_with,
        webhook_listener_limits, webhook_router,
    },
};
pub use moltbot_channel::Backoff;
