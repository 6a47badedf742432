//! The control API under `/_fake/` (no auth; the fake binds loopback).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Knobs;
use crate::state::Shared;

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

/// Parses an optional JSON body (empty means `null`).
fn json_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

pub(crate) async fn events(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let events = match value {
        Value::Object(mut map) if map.contains_key("events") && !map.contains_key("event") => {
            match map.remove("events") {
                Some(Value::Array(list)) => list,
                _ => return bad_request("\"events\" must be an array"),
            }
        }
        v @ Value::Object(_) => vec![v],
        _ => return bad_request("body must be an event object or {\"events\":[...]}"),
    };
    let delivered: usize = events.iter().map(|e| shared.push_event(e)).sum();
    Json(json!({ "delivered": delivered })).into_response()
}

pub(crate) async fn frames(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match json_body(&body) {
        Ok(v) => match v.get("frame").and_then(Value::as_str) {
            Some(frame) => {
                let delivered = shared.push_raw(frame.to_owned());
                Json(json!({ "delivered": delivered })).into_response()
            }
            None => bad_request("body must be {\"frame\":\"<text>\"}"),
        },
        Err(e) => bad_request(e),
    }
}

pub(crate) async fn drop_connections(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e),
    };
    let code = match value.get("close_code") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|c| u16::try_from(c).ok()) {
            Some(c) => Some(c),
            None => return bad_request("close_code must be a number 0-65535"),
        },
    };
    Json(json!({ "dropped": shared.drop_connections(code) })).into_response()
}

pub(crate) async fn expire_token(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "notified": shared.expire_tokens() })).into_response()
}

pub(crate) async fn get_knobs(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.knobs()).into_response()
}

/// Merges the given fields into the current knobs.
pub(crate) async fn set_knobs(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let patch = match json_body(&body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return bad_request("body must be a JSON object of knobs"),
        Err(e) => return bad_request(e),
    };
    let mut current = match serde_json::to_value(shared.knobs()) {
        Ok(Value::Object(map)) => map,
        _ => return bad_request("knobs are not an object"),
    };
    current.extend(patch);
    match serde_json::from_value::<Knobs>(Value::Object(current)) {
        Ok(knobs) => {
            shared.knobs.send_replace(knobs.clone());
            Json(knobs).into_response()
        }
        Err(e) => bad_request(format!("invalid knobs: {e}")),
    }
}

pub(crate) async fn team_chat(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().team_chat.clone()).into_response()
}

pub(crate) async fn chatbot(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().chatbot.clone()).into_response()
}

pub(crate) async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().requests.clone()).into_response()
}

pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats()).into_response()
}

pub(crate) async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    Json(json!({ "reset": true })).into_response()
}
