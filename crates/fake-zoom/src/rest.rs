//! Team Chat, Chatbot and Users REST endpoints.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use zoom_wire::{ApiError, ChatbotMessage, SendChatMessage, SendChatMessageResponse};

use crate::records::now_ms;
use crate::state::Shared;
use crate::{FakeConfig, SentChatMessage, SentChatbotMessage};

pub(crate) fn api_error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body = ApiError {
        code,
        message: message.into(),
        errors: Vec::new(),
    };
    (status, Json(body)).into_response()
}

fn too_many(retry_after: u64, message: &str) -> Response {
    let mut resp = api_error(StatusCode::TOO_MANY_REQUESTS, 429, message);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, retry_after.into());
    resp
}

/// True when the request carries a valid Bearer token in the header and no token
/// in the query string (Zoom rejects query-string tokens since 2023).
pub(crate) fn authorized(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> bool {
    let in_query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, _)| k == "access_token");
    if in_query {
        return false;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| shared.token_valid(token.trim()))
}

pub(crate) fn invalid_token() -> Response {
    api_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

fn display_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let mut chars = local.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn now_formatted() -> (i64, String) {
    let now = OffsetDateTime::now_utc();
    let text = now
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    (now_ms(), text)
}

/// `GET /v2/users/{userId}`.
pub(crate) async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    match shared.config.resolve_user(&user_id) {
        Some(email) => Json(json!({
            "id": FakeConfig::user_id_of(email),
            "email": email,
            "display_name": display_name(email),
            "type": 1,
        }))
        .into_response(),
        None => api_error(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user_id}"),
        ),
    }
}

/// `POST /v2/chat/users/{userId}/messages`.
pub(crate) async fn send_chat(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let Some(sender) = shared.config.resolve_user(&user_id).map(str::to_owned) else {
        return api_error(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user_id}"),
        );
    };
    let Ok(msg) = serde_json::from_slice::<SendChatMessage>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, 300, "Invalid request body.");
    };
    let len = msg.message.chars().count();
    if len == 0 || len > SendChatMessage::MAX_CHARS {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            format!(
                "message must be 1 to {} characters.",
                SendChatMessage::MAX_CHARS
            ),
        );
    }
    let contact = match (&msg.to_channel, &msg.to_contact) {
        (Some(channel), None) => {
            if !shared.config.channels.contains(channel) {
                return api_error(
                    StatusCode::NOT_FOUND,
                    4130,
                    format!("Channel does not exist: {channel}"),
                );
            }
            None
        }
        (None, Some(contact)) => match shared.config.resolve_user(contact) {
            Some(email) => Some(email.to_owned()),
            None => {
                return api_error(
                    StatusCode::NOT_FOUND,
                    1001,
                    format!("User does not exist: {contact}"),
                );
            }
        },
        _ => {
            return api_error(
                StatusCode::BAD_REQUEST,
                300,
                "Exactly one of to_channel and to_contact is required.",
            );
        }
    };
    if let Some(retry) = shared.take_forced_429() {
        return too_many(retry, "You have reached the maximum per-second rate limit.");
    }
    if shared.knobs().rate_limit_team_chat {
        let retry = shared.knobs().retry_after_secs;
        return too_many(retry, "You have reached the maximum per-second rate limit.");
    }
    if let Some(channel) = &msg.to_channel {
        if let Err(retry) = shared.check_channel_rate(channel) {
            return too_many(
                retry,
                &format!("You have exceeded the send limit for channel {channel}."),
            );
        }
    }

    let id = uuid::Uuid::new_v4().to_string();
    let (at_ms, date_time) = now_formatted();
    shared.lock().team_chat.push(SentChatMessage {
        id: id.clone(),
        user_id,
        body: msg.clone(),
        at_ms,
    });
    crate::history::record(
        &shared,
        msg.to_channel.as_deref(),
        contact.as_deref(),
        json!({
            "id": id,
            "message": msg.message,
            "sender": sender,
            "date_time": date_time,
            "timestamp": at_ms,
            "reply_main_message_id": msg.reply_main_message_id,
        }),
    );
    if shared.knobs().echo_sends {
        let mentions = echo_at_items(&body);
        for event in echo_events(
            &shared,
            &sender,
            contact.as_deref(),
            &msg,
            &mentions,
            &id,
            at_ms,
            &date_time,
        ) {
            shared.push_event(&event);
        }
    }
    if let Some(ms) = shared.knobs().send_response_delay_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    (StatusCode::CREATED, Json(SendChatMessageResponse { id })).into_response()
}

/// The `at_items` of a send body as the posted event carries them: each
/// mention with the contact's user and member ids filled in (empty for a
/// mention of everyone, `at_type` 2, as Zoom leaves them).
fn echo_at_items(body: &[u8]) -> Vec<Value> {
    let Ok(raw) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let Some(items) = raw.get("at_items").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .map(|item| {
            let contact = item
                .get("at_contact")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let id = if contact.is_empty() {
                String::new()
            } else {
                FakeConfig::user_id_of(contact)
            };
            json!({
                "at_contact": contact,
                "at_contact_user_id": id,
                "at_contact_member_id": id,
                "at_type": item.get("at_type").cloned().unwrap_or(json!(1)),
                "start_position": item.get("start_position").cloned().unwrap_or(json!(0)),
                "end_position": item.get("end_position").cloned().unwrap_or(json!(0)),
            })
        })
        .collect()
}

/// The events Zoom fires back for a user's own send.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the fields of one send"
)]
fn echo_events(
    shared: &Shared,
    sender: &str,
    contact: Option<&str>,
    msg: &SendChatMessage,
    mentions: &[Value],
    id: &str,
    at_ms: i64,
    date_time: &str,
) -> [Value; 2] {
    let account_id = &shared.config.account_id;
    let operator_id = FakeConfig::user_id_of(sender);
    let mut legacy = json!({
        "id": id,
        "type": if contact.is_some() { "to_contact" } else { "to_channel" },
        "message": msg.message,
        "timestamp": at_ms,
        "date_time": date_time,
        "session_id": uuid::Uuid::new_v4().to_string(),
    });
    let mut posted = json!({
        "message_id": id,
        "message": msg.message,
        "timestamp": at_ms,
        "date_time": date_time,
    });
    let name = match (&msg.to_channel, contact) {
        (Some(channel), _) => {
            for obj in [&mut legacy, &mut posted] {
                obj["channel_id"] = json!(channel);
                obj["channel_name"] = json!(channel);
            }
            posted["channel_owner_account_id"] = json!(account_id);
            "team_chat.channel_message_posted"
        }
        (None, Some(email)) => {
            for obj in [&mut legacy, &mut posted] {
                obj["contact_email"] = json!(email);
                obj["contact_id"] = json!(FakeConfig::user_id_of(email));
            }
            posted["contact_member_id"] = json!(FakeConfig::user_id_of(email));
            posted["contact_account_id"] = json!(account_id);
            "team_chat.dm_message_posted"
        }
        (None, None) => "team_chat.channel_message_posted",
    };
    if let Some(reply) = &msg.reply_main_message_id {
        posted["reply_main_message_id"] = json!(reply);
    }
    if !mentions.is_empty() {
        posted["at_items"] = json!(mentions);
    }
    [
        json!({
            "event": "chat_message.sent",
            "event_ts": at_ms,
            "payload": {
                "account_id": account_id,
                "operator": sender,
                "operator_id": operator_id,
                "object": legacy,
            },
        }),
        json!({
            "event": name,
            "event_ts": at_ms,
            "payload": {
                "account_id": account_id,
                "operator": sender,
                "operator_id": operator_id,
                "operator_member_id": operator_id,
                "by_external_user": false,
                "object": posted,
            },
        }),
    ]
}

/// `POST /v2/im/chat/messages`.
pub(crate) async fn send_chatbot(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return api_error(StatusCode::UNAUTHORIZED, 7010, "Invalid access token.");
    }
    let msg = match serde_json::from_slice::<ChatbotMessage>(&body) {
        Ok(m) if !m.robot_jid.is_empty() && !m.to_jid.is_empty() && !m.account_id.is_empty() => m,
        _ => return api_error(StatusCode::BAD_REQUEST, 7001, "Invalid request body."),
    };
    if msg.robot_jid != shared.config.robot_jid {
        return api_error(
            StatusCode::NOT_FOUND,
            7002,
            format!("Invalid robot_jid: {}", msg.robot_jid),
        );
    }
    if msg.account_id != shared.config.account_id {
        return api_error(
            StatusCode::FORBIDDEN,
            7003,
            "No chatbot is installed for this account.",
        );
    }
    if !(msg.to_jid.ends_with("@xmpp.zoom.us") || msg.to_jid.ends_with("@conference.xmpp.zoom.us"))
    {
        return api_error(
            StatusCode::FORBIDDEN,
            7004,
            format!("to_jid not found: {}", msg.to_jid),
        );
    }
    if let Some(retry) = shared.take_forced_429() {
        return too_many(retry, "You have reached the maximum per-second rate limit.");
    }
    let message_id = uuid::Uuid::new_v4().to_string();
    let sent_time = OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    let resp = json!({
        "robot_jid": msg.robot_jid,
        "to_jid": msg.to_jid,
        "sent_time": sent_time,
        "message_id": message_id,
        "user_jid": msg.user_jid,
    });
    shared.lock().chatbot.push(SentChatbotMessage {
        message_id,
        body: msg,
        at_ms: now_ms(),
    });
    shared.changed();
    (StatusCode::CREATED, Json(resp)).into_response()
}
