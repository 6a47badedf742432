//! `GET /v2/chat/users/{userId}/messages` (Zoom API reference, "List user's
//! chat messages"): one conversation (`to_channel` or `to_contact`), messages
//! sent between `from` and `to`, newest first, `page_size` (default 10, at
//! most 50) per page, `next_page_token` to go on.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::FakeZoom;
use crate::content::missing_scope;
use crate::rest::{api_error, authorized, invalid_token};
use crate::state::Shared;

/// Scopes that allow listing messages (granular admin, classic admin, user).
const SCOPES: [&str; 3] = [
    "team_chat:read:list_user_messages:admin",
    "chat_message:read:admin",
    "team_chat:read:list_user_messages",
];

/// One stored message and where it was posted.
pub(crate) struct Stored {
    channel: Option<String>,
    contact: Option<String>,
    message: Value,
}

fn timestamp(v: &Value) -> i64 {
    v.get("timestamp").and_then(Value::as_i64).unwrap_or(0)
}

fn parse_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    if let Some(refused) = missing_scope(&shared, &SCOPES) {
        return refused;
    }
    if shared.config.resolve_user(&user_id).is_none() {
        return api_error(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user_id}"),
        );
    }
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (channel, contact) = (get("to_channel"), get("to_contact"));
    if channel.is_some() == contact.is_some() {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            "Provide either to_channel or to_contact.",
        );
    }
    let range = |k: &str| match get(k) {
        None => Ok(None),
        Some(v) => parse_ms(v).map(Some).ok_or(format!("Invalid {k}: {v}")),
    };
    let (from, to) = match (range("from"), range("to")) {
        (Ok(f), Ok(t)) => (f.unwrap_or(i64::MIN), t.unwrap_or(i64::MAX)),
        (Err(e), _) | (_, Err(e)) => return api_error(StatusCode::BAD_REQUEST, 300, e),
    };
    let page_size = get("page_size")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(10);
    if !(1..=50).contains(&page_size) {
        return api_error(StatusCode::BAD_REQUEST, 300, "page_size must be 1-50.");
    }
    let offset = match get("next_page_token").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match t.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return api_error(StatusCode::BAD_REQUEST, 300, "Invalid next_page_token."),
        },
    };
    let mut matching: Vec<Value> = shared
        .lock()
        .content
        .history
        .iter()
        .filter(|s| s.channel.as_deref() == channel && s.contact.as_deref() == contact)
        .filter(|s| (from..=to).contains(&timestamp(&s.message)))
        .map(|s| s.message.clone())
        .collect();
    matching.sort_by_key(|m| std::cmp::Reverse(timestamp(m)));
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .cloned()
        .collect();
    let next = if offset + page.len() < matching.len() {
        format!("p{}", offset + page.len())
    } else {
        String::new()
    };
    Json(json!({
        "from": get("from"),
        "to": get("to"),
        "page_size": page_size,
        "next_page_token": next,
        "messages": page,
    }))
    .into_response()
}

impl FakeZoom {
    /// Adds `message` (an item of "List user's chat messages": `id`,
    /// `message`, `sender`, `date_time`, `timestamp`, …) to the history of
    /// channel `channel`; it is not pushed as an event.
    pub fn add_channel_history(&self, channel: &str, message: Value) {
        self.add_history(Some(channel), None, message);
    }

    /// As [`FakeZoom::add_channel_history`], for the direct conversation with `contact`.
    pub fn add_contact_history(&self, contact: &str, message: Value) {
        self.add_history(None, Some(contact), message);
    }

    fn add_history(&self, channel: Option<&str>, contact: Option<&str>, message: Value) {
        record(&self.shared, channel, contact, message);
    }
}

/// Adds `message` to the history of a channel or a direct conversation
/// (a user's own sends are listed there too, as on Zoom).
pub(crate) fn record(
    shared: &Shared,
    channel: Option<&str>,
    contact: Option<&str>,
    message: Value,
) {
    shared.lock().content.history.push(Stored {
        channel: channel.map(str::to_owned),
        contact: contact.map(str::to_owned),
        message,
    });
    shared.changed();
}
