//! Zoom's wire formats as plain data: WebSocket frames, the webhook-format event
//! envelope and its typed payloads, OAuth and Team Chat / Chatbot REST bodies, and
//! webhook signatures. Nothing here performs I/O.
//!
//! Every inbound type tolerates unknown fields and unknown enum values: Zoom adds
//! fields often, and an event type we do not model is kept as raw JSON. Integers
//! beyond 64 bits (ids) are kept as strings of their exact digits.

mod chat_ops;
mod error;
mod event;
mod exact;
mod frame;
mod history;
mod ids;
mod payload;
mod rest;
mod signature;
mod summary;

pub use self::{
    chat_ops::{
        ChatFileInfo, ChatFileLimits, EditChatMessage, EmojiReaction, emoji_code_points,
        emoji_from_code_points,
    },
    error::WireError,
    event::{Event, TypedEvent},
    frame::{Frame, heartbeat_request, is_token_error_text},
    history::{ChatMessagePage, ListedChatMessage},
    ids::{MeetingId, NumOrString},
    payload::{
        BotNotification, ChatMessageEvent, ChatMessageObject, MeetingEvent, MeetingObject,
        MeetingUpdatedEvent, Participant, ParticipantEvent, ParticipantObject, RecordingEvent,
        RecordingFile, RecordingObject, TeamChatEvent, TeamChatFile, TeamChatObject, UserEvent,
        UserObject, UserUpdatedEvent,
    },
    rest::{
        ApiError, ChatbotContent, ChatbotMessage, ChatbotMessageResponse, OAuthError,
        SendChatMessage, SendChatMessageResponse, TokenResponse,
    },
    signature::{
        UrlValidationResponse, sign_webhook, url_validation_response, verify_webhook_signature,
    },
    summary::{MeetingSummary, SummarySection},
};
