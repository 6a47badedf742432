//! Team Chat files, emoji reactions, edits and deletes, with Zoom's shapes:
//! `GET /v2/chat/files/{fileId}` (`getFileInfo`) and its `download_url`,
//! `POST /v2/chat/users/{userId}/messages/files` (`sendChatFile`, multipart,
//! 16 MB images / 20 MB other files), `PATCH …/messages/{id}/emoji_reactions`
//! (`reactMessage`), `PUT` / `DELETE …/messages/{id}` (`editMessage`,
//! `deleteChatMessage`). Files are registered with `POST /_fake/files`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zoom_wire::{ChatFileInfo, ChatFileLimits, EditChatMessage, EmojiReaction};

use crate::records::now_ms;
use crate::rest::{api_error, authorized, invalid_token};
use crate::state::Shared;

/// A file the fake serves for download.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    name: String,
    mime: Option<String>,
    data: Vec<u8>,
}

/// A file sent with `sendChatFile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentChatFile {
    /// The new message id.
    pub id: String,
    /// Path `userId`.
    pub user_id: String,
    /// The file part's name.
    pub file_name: String,
    /// The file part's content type.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: usize,
    /// `to_channel`.
    pub to_channel: Option<String>,
    /// `to_contact`.
    pub to_contact: Option<String>,
    /// `reply_main_message_id`.
    pub reply_main_message_id: Option<String>,
    /// When accepted.
    pub at_ms: i64,
}

/// An accepted reaction, edit or delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatOp {
    /// `react`, `edit` or `delete`.
    pub kind: String,
    /// Path `userId`.
    pub user_id: String,
    /// Path `messageId`.
    pub message_id: String,
    /// `add` / `remove` (reactions).
    pub action: Option<String>,
    /// `U+…` code points (reactions).
    pub emoji: Option<String>,
    /// The new text (edits).
    pub message: Option<String>,
    /// `to_channel`.
    pub to_channel: Option<String>,
    /// `to_contact`.
    pub to_contact: Option<String>,
    /// When accepted.
    pub at_ms: i64,
}

/// The fake's files and message operations.
#[derive(Debug, Default)]
pub(crate) struct ChatOps {
    files: HashMap<String, StoredFile>,
    pub(crate) sent_files: Vec<SentChatFile>,
    pub(crate) ops: Vec<ChatOp>,
    /// Message ids seen in pushed events (besides the fake's own sends).
    seen: HashSet<String>,
    deleted: HashSet<String>,
}

impl ChatOps {
    /// Registers a file for download; returns its id.
    pub(crate) fn add_file(&mut self, name: &str, mime: Option<String>, data: Vec<u8>) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.files.insert(
            id.clone(),
            StoredFile {
                name: name.to_owned(),
                mime,
                data,
            },
        );
        id
    }

    /// Notes the message id of a pushed chat event.
    pub(crate) fn note_event(&mut self, event: &Value) {
        let object = event.get("payload").and_then(|p| p.get("object"));
        for key in ["message_id", "id"] {
            if let Some(id) = object.and_then(|o| o.get(key)).and_then(Value::as_str) {
                self.seen.insert(id.to_owned());
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.sent_files.clear();
        self.ops.clear();
    }
}

fn known_message(shared: &Shared, id: &str) -> bool {
    let st = shared.lock();
    !st.chat_ops.deleted.contains(id)
        && (st.team_chat.iter().any(|m| m.id == id)
            || st.chat_ops.sent_files.iter().any(|f| f.id == id)
            || st.chat_ops.seen.contains(id))
}

fn missing_message(id: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        300,
        format!("Message does not exist: {id}"),
    )
}

/// Zoom's refusal unless exactly one of `to_channel` / `to_contact` names a
/// known channel or user.
fn check_place(
    shared: &Shared,
    to_channel: Option<&str>,
    to_contact: Option<&str>,
) -> Option<Response> {
    match (to_channel, to_contact) {
        (Some(c), None) if shared.config.channels.iter().any(|k| k == c) => None,
        (Some(c), None) => Some(api_error(
            StatusCode::NOT_FOUND,
            4130,
            format!("Channel does not exist: {c}"),
        )),
        (None, Some(u)) if shared.config.resolve_user(u).is_some() => None,
        (None, Some(u)) => Some(api_error(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {u}"),
        )),
        _ => Some(api_error(
            StatusCode::BAD_REQUEST,
            300,
            "Must provide either contact or channel parameter.",
        )),
    }
}

/// `GET /v2/chat/files/{fileId}`.
pub(crate) async fn file_info(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let Some(file) = shared.lock().chat_ops.files.get(&file_id).cloned() else {
        return api_error(StatusCode::NOT_FOUND, 404, "Resource not found.");
    };
    let ext = file.name.rsplit_once('.').map(|(_, e)| e.to_owned());
    Json(ChatFileInfo {
        file_id: file_id.clone(),
        file_name: file.name,
        os_file_type: ext,
        length: file.data.len() as u64,
        digest: None,
        download_url: format!("{}/file/download/{file_id}", shared.base_url()),
        extra: serde_json::Map::from_iter([
            ("created_time".to_owned(), json!(now_ms())),
            ("modified_time".to_owned(), json!(now_ms())),
        ]),
    })
    .into_response()
}

/// `GET /file/download/{fileId}` (the `download_url`; Bearer token required).
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let Some(file) = shared.lock().chat_ops.files.get(&file_id).cloned() else {
        return api_error(StatusCode::NOT_FOUND, 404, "Resource not found.");
    };
    let mime = file
        .mime
        .unwrap_or_else(|| "application/octet-stream".into());
    ([(header::CONTENT_TYPE, mime)], file.data).into_response()
}

/// `POST /v2/chat/users/{userId}/messages/files` (multipart: `files`,
/// `to_channel` / `to_contact`, `reply_main_message_id`).
pub(crate) async fn send_file(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    if shared.config.resolve_user(&user_id).is_none() {
        return api_error(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user_id}"),
        );
    }
    let Ok(mut multipart) = multipart else {
        return api_error(StatusCode::BAD_REQUEST, 300, "Invalid request body.");
    };
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut files = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                if name == "files" {
                    let file_name = field.file_name().unwrap_or("file").to_owned();
                    let content_type = field.content_type().map(str::to_owned);
                    match field.bytes().await {
                        Ok(data) => files.push((file_name, content_type, data)),
                        Err(_) => {
                            return api_error(StatusCode::BAD_REQUEST, 300, "Invalid file part.");
                        }
                    }
                } else if let Ok(text) = field.text().await {
                    fields.insert(name, text);
                }
            }
            Ok(None) => break,
            Err(_) => return api_error(StatusCode::BAD_REQUEST, 300, "Invalid multipart body."),
        }
    }
    if files.len() != 1 {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            "The files field takes exactly one file.",
        );
    }
    let (file_name, content_type, data) = files.remove(0);
    let max = shared
        .knobs()
        .max_file_bytes
        .unwrap_or_else(|| ChatFileLimits::max_bytes(&file_name));
    if data.len() as u64 > max {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            format!("Maximum file size exceeded: {max}"),
        );
    }
    let to_channel = fields.get("to_channel").cloned();
    let to_contact = fields.get("to_contact").cloned();
    if let Some(resp) = check_place(&shared, to_channel.as_deref(), to_contact.as_deref()) {
        return resp;
    }
    let reply = fields.get("reply_main_message_id").cloned();
    if let Some(root) = &reply {
        if !known_message(&shared, root) {
            return api_error(
                StatusCode::BAD_REQUEST,
                5402,
                "This only supports replies to a main message.",
            );
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    shared.lock().chat_ops.sent_files.push(SentChatFile {
        id: id.clone(),
        user_id,
        file_name,
        content_type,
        size: data.len(),
        to_channel,
        to_contact,
        reply_main_message_id: reply,
        at_ms: now_ms(),
    });
    shared.changed();
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

/// `PATCH /v2/chat/users/{userId}/messages/{messageId}/emoji_reactions`.
pub(crate) async fn react(
    State(shared): State<Arc<Shared>>,
    Path((user_id, message_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let Ok(body) = serde_json::from_slice::<EmojiReaction>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, 300, "Invalid request body.");
    };
    if !matches!(body.action.as_str(), "add" | "remove")
        || zoom_wire::emoji_from_code_points(&body.emoji).is_none()
    {
        return api_error(
            StatusCode::BAD_REQUEST,
            300,
            format!("Invalid emoji or action: {} {}", body.action, body.emoji),
        );
    }
    apply(
        &shared,
        ChatOp {
            action: Some(body.action),
            emoji: Some(body.emoji),
            ..ChatOp::new(
                "react",
                user_id,
                message_id,
                body.to_channel,
                body.to_contact,
            )
        },
    )
}

/// `PUT /v2/chat/users/{userId}/messages/{messageId}`.
pub(crate) async fn edit(
    State(shared): State<Arc<Shared>>,
    Path((user_id, message_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let Ok(body) = serde_json::from_slice::<EditChatMessage>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, 300, "Invalid request body.");
    };
    apply(
        &shared,
        ChatOp {
            message: Some(body.message),
            ..ChatOp::new(
                "edit",
                user_id,
                message_id,
                body.to_channel,
                body.to_contact,
            )
        },
    )
}

/// `DELETE /v2/chat/users/{userId}/messages/{messageId}?to_channel|to_contact`.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((user_id, message_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    let pairs: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let to_channel = pairs.get("to_channel").cloned();
    let to_contact = pairs.get("to_contact").cloned();
    apply(
        &shared,
        ChatOp::new("delete", user_id, message_id, to_channel, to_contact),
    )
}

impl ChatOp {
    fn new(
        kind: &str,
        user_id: String,
        message_id: String,
        to_channel: Option<String>,
        to_contact: Option<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            user_id,
            message_id,
            action: None,
            emoji: None,
            message: None,
            to_channel,
            to_contact,
            at_ms: now_ms(),
        }
    }
}

/// Checks the operation's place and message as Zoom does, then records it (204).
fn apply(shared: &Shared, op: ChatOp) -> Response {
    if let Some(resp) = check_place(shared, op.to_channel.as_deref(), op.to_contact.as_deref()) {
        return resp;
    }
    if !known_message(shared, &op.message_id) {
        return missing_message(&op.message_id);
    }
    {
        let mut st = shared.lock();
        if op.kind == "delete" {
            st.chat_ops.deleted.insert(op.message_id.clone());
        }
        st.chat_ops.ops.push(op);
    }
    shared.changed();
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /_fake/files`.
#[derive(Deserialize)]
struct NewFile {
    file_name: String,
    #[serde(default)]
    mime_type: Option<String>,
    /// Content as base64.
    #[serde(default)]
    content_base64: Option<String>,
    /// Content as text.
    #[serde(default)]
    text: Option<String>,
    /// Or this many bytes of filler.
    #[serde(default)]
    size: Option<usize>,
}

/// `POST /_fake/files`: registers a file; answers `{file_id, file_size}`.
pub(crate) async fn add_file(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(new) = serde_json::from_slice::<NewFile>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "body must be {file_name, content_base64 | text | size}"})),
        )
            .into_response();
    };
    let data = match (&new.content_base64, &new.text, new.size) {
        (Some(b64), _, _) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(d) => d,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": format!("content_base64: {e}")})),
                )
                    .into_response();
            }
        },
        (None, Some(text), _) => text.clone().into_bytes(),
        (None, None, Some(n)) => vec![b'x'; n],
        (None, None, None) => Vec::new(),
    };
    let size = data.len();
    let id = shared
        .lock()
        .chat_ops
        .add_file(&new.file_name, new.mime_type, data);
    Json(json!({"file_id": id, "file_size": size})).into_response()
}

/// `GET /_fake/chat-ops`: files sent and reactions / edits / deletes.
pub(crate) async fn list(State(shared): State<Arc<Shared>>) -> Response {
    let st = shared.lock();
    Json(json!({"files": st.chat_ops.sent_files, "ops": st.chat_ops.ops})).into_response()
}
