//! A faithful fake of Zoom for tests, demos and debugging by hand: OAuth
//! (`/oauth/token`), the WebSocket event subscription (`/ws`), the Team Chat, Chatbot
//! and Users REST endpoints, meeting summaries, recording (transcript) downloads, chat history, a webhook emitter, and a control API under `/_fake/`,
//! all on one loopback listener.
//!
//! Behaviour follows `zoom-protocol.md` §9; frame and body shapes come from
//! `zoom-wire`. Runtime [`Knobs`] inject the failure modes a client must survive
//! (zombie sockets, token expiry, duplicate events, 429s, ...).

mod chat_ops;
mod config;
mod content;
mod control;
mod error;
mod history;
mod oauth;
mod records;
mod rest;
mod server;
mod state;
mod summary;
mod transcripts;
mod webhook;
mod ws;

pub use self::{
    chat_ops::{ChatOp, SentChatFile},
    config::{FakeConfig, Knobs, SecondConnection},
    error::FakeError,
    records::{RecordedRequest, SentChatMessage, SentChatbotMessage, Stats},
    server::FakeZoom,
};
