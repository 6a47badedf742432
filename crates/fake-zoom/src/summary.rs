//! `GET /v2/meetings/{meetingUUID}/meeting_summary` (Zoom API reference,
//! "Get a meeting summary"; scope `meeting:read:summary:admin`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::content::missing_scope;
use crate::rest::{api_error, authorized, invalid_token};
use crate::state::Shared;

/// Scopes that allow reading summaries (granular, admin first).
const SCOPES: [&str; 2] = ["meeting:read:summary:admin", "meeting:read:summary"];

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path(uuid): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    if let Some(refused) = missing_scope(&shared, &SCOPES) {
        return refused;
    }
    // The router decoded the segment once. A UUID with `/` at its start or
    // `//` inside reaches Zoom intact only double-encoded: decoded once here
    // it must still be encoded.
    if uuid.starts_with('/') || uuid.contains("//") {
        return not_found();
    }
    let uuid = percent_decode_str(&uuid).decode_utf8_lossy().into_owned();
    match shared.lock().content.summaries.get(&uuid) {
        Some(summary) => Json(summary.clone()).into_response(),
        None => not_found(),
    }
}

fn not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        3001,
        "Meeting summary does not exist.",
    )
}

/// `POST /_fake/meeting-summaries`: serves the body as a summary.
pub(crate) async fn control_add(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(summary)
            if summary
                .get("meeting_uuid")
                .and_then(Value::as_str)
                .is_some() =>
        {
            let uuid = summary["meeting_uuid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            shared
                .lock()
                .content
                .summaries
                .insert(uuid.clone(), summary);
            shared.changed();
            Json(json!({ "meeting_uuid": uuid })).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be a summary object with a meeting_uuid"})),
        )
            .into_response(),
    }
}
