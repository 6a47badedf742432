//! The BlueBubbles REST routes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use moltbot_channel::{ChannelError, MediaSource, OutboundMedia, OutboundMessage, SendOptions};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::bb::{self, Form};
use crate::envelope::{ApiError, AppJson, BodyLimit, Fields, Success, query_int};
use crate::shim::{Claimed, SendResult};
use crate::store::{AttachmentRecord, ChatRecord, Earlier, MessageFilter, MessageRecord, Sent};
use crate::{Shim, auth, guid, limit, now_ms, status};

/// The upload route, which gets the attachment timeout.
pub(crate) const ATTACHMENT_ROUTE: &str = "/api/v1/message/attachment";

/// Event names `POST /api/v1/webhook` accepts (BlueBubbles' subscription keys).
const WEBHOOK_EVENTS: [&str; 27] = [
    "*",
    "new-message",
    "updated-message",
    "message-send-error",
    "group-name-change",
    "participant-added",
    "participant-removed",
    "participant-left",
    "group-icon-changed",
    "group-icon-removed",
    "chat-read-status-changed",
    "typing-indicator",
    "new-server",
    "hello-world",
    "server-update",
    "incoming-facetime",
    "ft-call-status-changed",
    "new-findmy-location",
    "imessage-alias-removed",
    "scheduled-message-created",
    "scheduled-message-sent",
    "scheduled-message-error",
    "scheduled-message-deleted",
    "scheduled-message-updated",
    "theme-backup-created",
    "settings-backup-created",
    "server-update-downloading",
];

/// Every route with its middleware: logging (outermost), body limit, auth
/// (with the failed-authentication throttle), timeout.
pub(crate) fn router(shim: Shim) -> Router {
    let body_limit = shim.0.config.body_limit;
    Router::new()
        .route("/api/v1/ping", get(ping))
        .route("/api/v1/server/info", get(server_info))
        .route("/api/v1/message/text", post(send_text))
        .route(ATTACHMENT_ROUTE, post(send_attachment))
        .route("/api/v1/message/query", post(query_messages))
        .route("/api/v1/message/react", post(crate::actions::react))
        .route("/api/v1/message/{guid}/edit", post(crate::actions::edit))
        .route(
            "/api/v1/message/{guid}/unsend",
            post(crate::actions::unsend),
        )
        .route(
            "/api/v1/attachment/{guid}/download",
            get(crate::attachments::download),
        )
        .route("/api/v1/chat/query", post(query_chats))
        .route("/api/v1/chat/new", post(new_chat))
        .route("/api/v1/chat/{guid}", get(get_chat))
        .route("/api/v1/chat/{guid}/message", get(chat_messages))
        .route("/api/v1/chat/{guid}/read", post(mark_read))
        .route(
            "/api/v1/chat/{guid}/typing",
            post(start_typing).delete(stop_typing),
        )
        .route("/api/v1/webhook", get(list_webhooks).post(add_webhook))
        .route("/api/v1/webhook/{id}", delete(delete_webhook))
        .route("/status", get(status::status))
        .route("/metrics", get(status::metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(shim.clone(), limit::timeout))
        .layer(from_fn_with_state(shim.clone(), auth::require_password))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(from_fn_with_state(shim.clone(), status::observe))
        .with_state(shim)
}

async fn fallback() -> ApiError {
    ApiError::not_found("Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

// ----- general -------------------------------------------------------------

async fn ping() -> Success {
    Success::new("Ping received!").data("pong")
}

async fn server_info(State(shim): State<Shim>) -> Success {
    let config = &shim.0.config;
    let account = shim.0.channel.status().account_id;
    let (v4, v6): (Vec<String>, Vec<String>) = match shim.0.local_addr.get() {
        Some(addr) if addr.is_ipv4() => (vec![addr.ip().to_string()], vec![]),
        Some(addr) => (vec![], vec![addr.ip().to_string()]),
        None => (vec![], vec![]),
    };
    Success::new("Successfully fetched metadata").data(json!({
        "computer_id": config.computer_id,
        "os_version": config.os_version,
        "server_version": crate::BLUEBUBBLES_VERSION,
        "private_api": false,
        "proxy_service": "lan-url",
        "helper_connected": false,
        "detected_icloud": account,
        "detected_imessage": account,
        "macos_time_sync": null,
        "local_ipv4s": v4,
        "local_ipv6s": v6,
    }))
}

// ----- sending -------------------------------------------------------------

async fn send_text(State(shim): State<Shim>, AppJson(body): AppJson) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let chat_guid = f.required_str("chatGuid")?;
    let temp_guid = f.opt_str("tempGuid")?;
    if !f.has("message") {
        return Err(ApiError::bad_request("The message field must be present."));
    }
    let message = f.opt_str("message")?.unwrap_or_default();
    let method = f.opt_str("method")?;
    if method
        .as_deref()
        .is_some_and(|m| m != "apple-script" && m != "private-api")
    {
        return Err(ApiError::bad_request("The selected method is invalid."));
    }
    let effect = f.opt_str("effectId")?;
    let subject = f.opt_str("subject")?;
    let selected = f.opt_str("selectedMessageGuid")?;
    f.opt_int("partIndex", 0, i64::MAX)?;
    let dd_scan = f.opt_bool("ddScan")?;
    let private_api = method.as_deref() == Some("private-api")
        || effect.is_some()
        || subject.is_some()
        || selected.is_some()
        || dd_scan.is_some()
        || f.has("attributedBody");
    if !private_api && temp_guid.is_none() {
        return Err(ApiError::bad_request(
            "A 'tempGuid' is required when sending via AppleScript",
        ));
    }
    if message.is_empty() && subject.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "A 'message' or 'subject' is required",
        ));
    }
    let text = if message.is_empty() {
        subject.unwrap_or_default()
    } else {
        message
    };
    let sent = send_text_to(&shim, &chat_guid, text, selected, temp_guid).await?;
    let (msg, chat) = &*sent;
    Ok(Success::new("Message sent!").data(bb::rest_message(msg, Some(chat), false)))
}

/// Sends text through the channel within the send timeout and records it.
async fn send_text_to(
    shim: &Shim,
    chat_guid: &str,
    text: String,
    reply_to: Option<String>,
    temp_guid: Option<String>,
) -> Result<SendResult, ApiError> {
    let chat_guid = guid::canonical(chat_guid);
    let task_shim = shim.clone();
    let target = chat_guid.clone();
    let key = temp_guid.clone();
    let thread = crate::actions::reply_thread(shim, reply_to.as_deref()).await;
    send_once(
        shim,
        &chat_guid,
        temp_guid.as_deref(),
        &text.clone(),
        shim.0.config.send_timeout,
        move |interrupted: Option<Interrupted>| async move {
            // The tempGuid names the reply first begun: a re-run of the
            // agent may word it differently, and its parts may be on Zoom.
            let (text, interrupted_since_ms) = match interrupted {
                Some(earlier) => {
                    if earlier.text != text {
                        tracing::info!("a retried reply differs from the one begun before; completing the one begun");
                    }
                    (earlier.text, Some(earlier.since_ms))
                }
                None => (text, None),
            };
            let result = task_shim
                .0
                .channel
                .send_text_with(
                    OutboundMessage {
                        conversation_id: target.clone(),
                        text: text.clone(),
                        reply_to_id: thread.clone(),
                    },
                    // A retry with the same tempGuid resumes after the parts
                    // already posted instead of posting them again.
                    SendOptions {
                        idempotency_key: key.clone(),
                        max_wait: None,
                        interrupted_since_ms,
                    },
                )
                .await
                .map_err(send_error)?;
            let sent = Sent {
                guid: result.message_id,
                chat_guid: target,
                text,
                date_ms: if result.timestamp_ms > 0 {
                    result.timestamp_ms
                } else {
                    now_ms()
                },
                thread_originator: reply_to,
                temp_guid: key,
                attachments: Vec::new(),
                parts: result.part_ids.into_iter().skip(1).collect(),
            };
            Ok(task_shim.0.store.record_sent(sent).await?)
        },
    )
    .await
}

/// A keyed send that an earlier process (or an earlier attempt) began and
/// did not record: what it was sending, and since when.
struct Interrupted {
    text: String,
    since_ms: i64,
}

/// Runs a send at most once per tempGuid, in its own task bounded by
/// `limit`. A send with the same tempGuid in flight gets 400 ("already
/// queued"); one that completed is answered with its recorded message
/// without posting again, from memory or, after a restart, from the store.
/// The store records the intent to send `text` before `send` starts, and
/// `send` hears of an earlier send with the tempGuid that recorded no
/// result. When the timeout answers the client, the send still completes
/// and is recorded (and remembered under its tempGuid).
async fn send_once<B, F>(
    shim: &Shim,
    chat_guid: &str,
    temp_guid: Option<&str>,
    text: &str,
    limit: Duration,
    send: B,
) -> Result<SendResult, ApiError>
where
    B: FnOnce(Option<Interrupted>) -> F + Send + 'static,
    F: Future<Output = Result<(MessageRecord, ChatRecord), ApiError>> + Send + 'static,
{
    let claim = match temp_guid
        .map(|t| shim.claim_temp_guid(t, chat_guid))
        .transpose()?
    {
        Some(Claimed::Done(result)) => {
            tracing::info!("tempGuid already sent; answering with the recorded message");
            return Ok(result);
        }
        Some(Claimed::New(claim)) => Some(claim),
        None => None,
    };
    let keyed = temp_guid.map(|t| (t.to_owned(), chat_guid.to_owned(), text.to_owned()));
    let task_shim = shim.clone();
    let task = tokio::spawn(async move {
        let mut interrupted = None;
        if let Some((temp_guid, chat_guid, text)) = keyed {
            let other_chat = || {
                ApiError::bad_request(format!(
                    "The Temp GUID {temp_guid} was already used for a message to another chat."
                ))
            };
            match task_shim
                .0
                .store
                .begin_send(&temp_guid, &chat_guid, &text)?
            {
                Earlier::None => {}
                Earlier::Sent(sent) if sent.1.guid != chat_guid => return Err(other_chat()),
                Earlier::Unfinished(begun) if begun.chat_guid != chat_guid => {
                    return Err(other_chat());
                }
                Earlier::Sent(sent) => {
                    tracing::info!(
                        "tempGuid sent before a restart; answering with the recorded message"
                    );
                    let result = Arc::new(*sent);
                    if let Some(claim) = claim {
                        claim.complete(Arc::clone(&result));
                    }
                    return Ok(result);
                }
                Earlier::Unfinished(begun) => {
                    interrupted = Some(Interrupted {
                        text: begun.text,
                        since_ms: begun.started_ms,
                    });
                }
            }
        }
        let result = Arc::new(send(interrupted).await?);
        if let Some(claim) = claim {
            claim.complete(Arc::clone(&result));
        }
        Ok(result)
    });
    bounded(limit, task).await
}

async fn send_attachment(
    State(shim): State<Shim>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Success, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(format!("Expected a multipart form: {}", e.body_text()))
    })?;
    let limit = shim.0.config.body_limit;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, limit))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let data = field
                .bytes()
                .await
                .map_err(|e| multipart_error(&e, limit))?;
            file = Some((file_name, content_type, data));
        } else {
            let value = field.text().await.map_err(|e| multipart_error(&e, limit))?;
            fields.insert(name, value);
        }
    }
    let field = |k: &str| fields.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let chat_guid = field("chatGuid")
        .ok_or_else(|| ApiError::bad_request("The chatGuid field is required."))?
        .to_owned();
    let Some((file_name, content_type, data)) = file.filter(|f| !f.2.is_empty()) else {
        return Err(ApiError::bad_request(
            "Attachment not provided or was empty!",
        ));
    };
    let name = field("name")
        .map(str::to_owned)
        .or(file_name)
        .ok_or_else(|| ApiError::bad_request("The name field is required."))?;
    let temp_guid = field("tempGuid").map(str::to_owned);
    let reply_to = field("selectedMessageGuid").map(str::to_owned);
    let caption = ["message", "text", "caption"]
        .iter()
        .find_map(|k| field(k))
        .map(str::to_owned);
    let chat_guid = guid::canonical(&chat_guid);
    let total_bytes = i64::try_from(data.len()).unwrap_or(i64::MAX);
    let thread = crate::actions::reply_thread(&shim, reply_to.as_deref()).await;
    let task_shim = shim.clone();
    let target = chat_guid.clone();
    let key = temp_guid.clone();
    let sent = send_once(&shim, &chat_guid, temp_guid.as_deref(), &caption.clone().unwrap_or_default(), shim.0.config.attachment_timeout, move |_| async move {
        let result = task_shim
            .0
            .channel
            .send_media(OutboundMedia {
                conversation_id: target.clone(),
                caption: caption.clone(),
                media: MediaSource::Bytes {
                    name: name.clone(),
                    content_type: content_type.clone(),
                    data: data.to_vec(),
                },
                reply_to_id: thread.clone(),
            })
            .await
            .map_err(|e| match e {
                ChannelError::Unsupported(reason) => ApiError::bad_request(format!(
                    "Zoom cannot receive attachments this way: {reason}. Send the file as a link in a text message instead."
                )),
                other => send_error(other),
            })?;
        let sent = Sent {
            attachments: vec![AttachmentRecord {
                guid: format!("{}-attachment", result.message_id),
                name,
                mime_type: content_type,
                total_bytes,
                path: None,
            }],
            parts: result.part_ids.into_iter().skip(1).collect(),
            guid: result.message_id,
            chat_guid: target,
            text: caption.unwrap_or_default(),
            date_ms: if result.timestamp_ms > 0 {
                result.timestamp_ms
            } else {
                now_ms()
            },
            thread_originator: reply_to,
            temp_guid: key,
        };
        Ok(task_shim.0.store.record_sent(sent).await?)
    })
    .await?;
    let (msg, chat) = &*sent;
    Ok(Success::new("Attachment sent!").data(bb::rest_message(msg, Some(chat), false)))
}

fn multipart_error(e: &MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(limit)
    } else {
        ApiError::bad_request(format!("Invalid multipart body: {}", e.body_text()))
    }
}

/// Waits for a send task up to `limit`.
async fn bounded<T>(limit: Duration, task: JoinHandle<Result<T, ApiError>>) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "send task failed");
            Err(ApiError::server("The send task failed"))
        }
        Err(_) => Err(ApiError::gateway_timeout(format!(
            "Zoom did not confirm the send within {} ms; it may still be delivered.",
            limit.as_millis()
        ))),
    }
}

/// Maps a channel send error to BlueBubbles' classes.
pub(crate) fn send_error(e: ChannelError) -> ApiError {
    tracing::warn!(error = %e, retryable = e.is_retryable(), "send failed");
    let detail = e.to_string();
    match e {
        ChannelError::InvalidTarget(_)
        | ChannelError::Config(_)
        | ChannelError::BadRequest(_)
        | ChannelError::Unsupported(_) => ApiError::bad_request(detail),
        ChannelError::NotFound(_) => ApiError::not_found(detail),
        ChannelError::Timeout(_) => ApiError::gateway_timeout(detail),
        ChannelError::RateLimited { retry_after } => {
            let mut err = ApiError::imessage("Message Send Error", detail);
            err.retry_after = retry_after;
            err
        }
        _ => ApiError::imessage("Message Send Error", detail),
    }
}

// ----- chats ---------------------------------------------------------------

/// True when a `with` list names one of `names` (case-insensitive).
fn with_has(with: &[String], names: &[&str]) -> bool {
    with.iter()
        .flat_map(|w| w.split(','))
        .any(|w| names.iter().any(|n| w.trim().eq_ignore_ascii_case(n)))
}

fn chat_json(c: &ChatRecord, last: Option<&MessageRecord>) -> bb::Chat {
    let mut chat = bb::chat(c, Form::Rest);
    chat.last_message = last.map(|m| Box::new(bb::message(m, Form::Rest)));
    chat
}

async fn query_chats(
    State(shim): State<Shim>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let with = f.opt_str_array("with")?.unwrap_or_default();
    let sort = f.opt_str("sort")?;
    let offset = f.opt_int("offset", 0, i64::MAX)?.unwrap_or(0);
    let limit = f.opt_int("limit", 1, 1000)?.unwrap_or(1000);
    let filter = f.opt_str("guid")?.map(|g| guid::canonical(&g));
    let by_activity = sort.as_deref().is_some_and(|s| {
        s.eq_ignore_ascii_case("lastmessage") || s.eq_ignore_ascii_case("last-message")
    });
    let with_last = with_has(&with, &["lastmessage", "last-message"]);
    let (chats, total) = shim
        .0
        .store
        .call(move |s| {
            let (chats, total) = s.chats(filter.as_deref(), by_activity, offset, limit)?;
            let mut out = Vec::with_capacity(chats.len());
            for c in chats {
                let last = if with_last {
                    last_message(s, &c.guid)?
                } else {
                    None
                };
                out.push(chat_json(&c, last.as_ref()));
            }
            Ok((out, total))
        })
        .await?;
    let count = chats.len();
    Ok(Success::new("Success")
        .data(chats)
        .metadata(json!({"count": count, "total": total, "offset": offset, "limit": limit})))
}

fn last_message(
    s: &crate::Store,
    chat_guid: &str,
) -> Result<Option<MessageRecord>, crate::ShimError> {
    let filter = MessageFilter {
        chat_guid: Some(chat_guid.to_owned()),
        limit: 1,
        ..MessageFilter::default()
    };
    Ok(s.messages(&filter)?.0.pop())
}

/// Query-string pairs (form-decoded).
fn query_pairs(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn chat_not_found() -> ApiError {
    ApiError::not_found("Chat does not exist!")
}

async fn get_chat(
    State(shim): State<Shim>,
    Path(chat_guid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Success, ApiError> {
    let chat_guid = guid::canonical(&chat_guid);
    let with: Vec<String> = query_pairs(query.as_deref())
        .remove("with")
        .into_iter()
        .collect();
    let with_last = with_has(&with, &["lastmessage", "last-message"]);
    let chat = shim
        .0
        .store
        .call(move |s| {
            let Some(chat) = s.chat(&chat_guid)? else {
                return Ok(None);
            };
            let last = if with_last {
                last_message(s, &chat.guid)?
            } else {
                None
            };
            Ok(Some(chat_json(&chat, last.as_ref())))
        })
        .await?
        .ok_or_else(chat_not_found)?;
    Ok(Success::new("Success").data(chat))
}

async fn new_chat(State(shim): State<Shim>, AppJson(body): AppJson) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let addresses = f
        .opt_str_array("addresses")?
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>();
    let address = match addresses.as_slice() {
        [] => return Err(ApiError::bad_request("The addresses field is required.")),
        [one] => one.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "Zoom conversations can only be started with one address.",
            ));
        }
    };
    let message = f.opt_str("message")?.filter(|m| !m.is_empty());
    let temp_guid = f.opt_str("tempGuid")?;
    if f.opt_str("method")?
        .is_some_and(|m| m != "apple-script" && m != "private-api")
    {
        return Err(ApiError::bad_request("The selected method is invalid."));
    }
    // Moltbot's chat/new sends neither `method` nor `tempGuid`; unlike
    // BlueBubbles' AppleScript path we do not require one.
    let chat = match message {
        Some(text) => {
            let chat_guid = guid::direct(&address);
            let sent = send_text_to(&shim, &chat_guid, text, None, temp_guid).await?;
            let (msg, chat) = &*sent;
            let mut json = bb::chat(chat, Form::Rest);
            json.messages = Some(vec![bb::message(msg, Form::Rest)]);
            json
        }
        None => {
            let chat = shim
                .0
                .store
                .call(move |s| s.ensure_direct_chat(&address))
                .await?;
            let mut json = bb::chat(&chat, Form::Rest);
            json.messages = Some(Vec::new());
            json
        }
    };
    Ok(Success::new("Successfully created chat!").data(chat))
}

async fn mark_read(Path(_guid): Path<String>) -> Success {
    Success::new("Successfully marked chat as read!")
}

async fn start_typing(Path(_guid): Path<String>) -> Success {
    Success::new("Successfully started typing!")
}

async fn stop_typing(Path(_guid): Path<String>) -> Success {
    Success::new("Successfully stopped typing!")
}

// ----- messages ------------------------------------------------------------

/// What a message listing includes.
struct Listing {
    filter: MessageFilter,
    chats: bool,
    participants: bool,
}

impl Listing {
    fn new(filter: MessageFilter, with: &[String]) -> Self {
        let participants = with_has(with, &["chat.participants", "chats.participants"]);
        Self {
            chats: participants || with_has(with, &["chat", "chats"]),
            participants,
            filter,
        }
    }

    async fn run(self, shim: &Shim) -> Result<Success, ApiError> {
        let Listing {
            filter,
            chats,
            participants,
        } = self;
        let (offset, limit) = (filter.offset, filter.limit);
        let (messages, total) = shim
            .0
            .store
            .call(move |s| {
                let (messages, total) = s.messages(&filter)?;
                let mut cache: HashMap<String, Option<ChatRecord>> = HashMap::new();
                let mut out = Vec::with_capacity(messages.len());
                for m in &messages {
                    let chat = if chats {
                        if !cache.contains_key(&m.chat_guid) {
                            cache.insert(m.chat_guid.clone(), s.chat(&m.chat_guid)?);
                        }
                        cache.get(&m.chat_guid).and_then(Option::as_ref)
                    } else {
                        None
                    };
                    out.push(bb::rest_message(m, chat, participants));
                }
                Ok((out, total))
            })
            .await?;
        let count = messages.len();
        Ok(Success::new("Successfully fetched messages!")
            .data(messages)
            .metadata(json!({"offset": offset, "limit": limit, "total": total, "count": count})))
    }
}

fn parse_sort(sort: Option<&str>) -> Result<bool, ApiError> {
    match sort.map(str::trim) {
        None | Some("") => Ok(false),
        Some(s) if s.eq_ignore_ascii_case("asc") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("desc") => Ok(false),
        Some(_) => Err(ApiError::bad_request("The selected sort is invalid.")),
    }
}

async fn query_messages(
    State(shim): State<Shim>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let chat_guid = f.opt_str("chatGuid")?.map(|g| guid::canonical(&g));
    let with = f.opt_str_array("with")?.unwrap_or_default();
    let filter = MessageFilter {
        chat_guid,
        offset: f.opt_int("offset", 0, i64::MAX)?.unwrap_or(0),
        limit: f.opt_int("limit", 1, 1000)?.unwrap_or(100),
        ascending: parse_sort(f.opt_str("sort")?.as_deref())?,
        after_ms: f.opt_int("after", 0, i64::MAX)?,
        before_ms: f.opt_int("before", 0, i64::MAX)?,
    };
    Listing::new(filter, &with).run(&shim).await
}

async fn chat_messages(
    State(shim): State<Shim>,
    Path(chat_guid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Success, ApiError> {
    let chat_guid = guid::canonical(&chat_guid);
    let q = query_pairs(query.as_deref());
    let get = |k: &str| q.get(k).map(String::as_str);
    let filter = MessageFilter {
        chat_guid: Some(chat_guid.clone()),
        offset: query_int("offset", get("offset"), 0, i64::MAX)?.unwrap_or(0),
        limit: query_int("limit", get("limit"), 1, 1000)?.unwrap_or(100),
        ascending: parse_sort(get("sort"))?,
        after_ms: query_int("after", get("after"), 0, i64::MAX)?,
        before_ms: query_int("before", get("before"), 0, i64::MAX)?,
    };
    let with: Vec<String> = get("with").map(str::to_owned).into_iter().collect();
    let lookup = chat_guid.clone();
    if shim.0.store.call(move |s| s.chat(&lookup)).await?.is_none() {
        return Err(chat_not_found());
    }
    Listing::new(filter, &with).run(&shim).await
}

// ----- webhooks ------------------------------------------------------------

async fn list_webhooks(
    State(shim): State<Shim>,
    RawQuery(query): RawQuery,
) -> Result<Success, ApiError> {
    let q = query_pairs(query.as_deref());
    let id = query_int("id", q.get("id").map(String::as_str), i64::MIN, i64::MAX)?;
    let url = q.get("url").cloned();
    let hooks = shim.0.store.call(|s| s.webhooks()).await?;
    let hooks: Vec<_> = hooks
        .into_iter()
        .filter(|w| id.is_none_or(|id| w.id == id) && url.as_ref().is_none_or(|u| &w.url == u))
        .collect();
    Ok(Success::new("Successfully fetched webhooks!").data(hooks))
}

async fn add_webhook(
    State(shim): State<Shim>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let url = f.required_str("url")?;
    crate::check_webhook_url(&url)
        .map_err(|why| ApiError::bad_request(format!("The url {why}.")))?;
    let events = f
        .opt_str_array("events")?
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::bad_request("The events field is required."))?;
    if let Some(bad) = events
        .iter()
        .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid webhook event: {bad}! Valid events: {}",
            WEBHOOK_EVENTS.join(", ")
        )));
    }
    let (hook, created) = shim
        .0
        .store
        .call(move |s| s.add_webhook(&url, &events, now_ms()))
        .await?;
    if created {
        tracing::info!(id = hook.id, url = %crate::outbox::redact_url(&hook.url), "webhook registered");
        shim.0.wake.notify_one();
    }
    Ok(Success::new("Successfully created webhook!").data(hook))
}

async fn delete_webhook(
    State(shim): State<Shim>,
    Path(id): Path<String>,
) -> Result<Success, ApiError> {
    let missing = || ApiError::not_found("Webhook does not exist!");
    let id: i64 = id.trim().parse().map_err(|_| missing())?;
    if shim.0.store.call(move |s| s.delete_webhook(id)).await? {
        tracing::info!(id, "webhook deleted");
        Ok(Success::new("Successfully deleted webhook!"))
    } else {
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_lists_and_sort() {
        assert!(with_has(
            &["Chat.Participants".into()],
            &["chat.participants"]
        ));
        assert!(with_has(
            &["participants,lastmessage".into()],
            &["lastmessage"]
        ));
        assert!(!with_has(&[], &["chat"]));
        assert!(parse_sort(Some("ASC")).unwrap());
        assert!(!parse_sort(None).unwrap());
        assert!(parse_sort(Some("up")).is_err());
    }

    #[test]
    fn channel_errors_map_to_bluebubbles_classes() {
        let cases = [
            (ChannelError::InvalidTarget("x".into()), 400),
            (ChannelError::Config("no default target".into()), 400),
            (ChannelError::BadRequest("empty".into()), 400),
            (ChannelError::NotFound("who".into()), 404),
            (ChannelError::RateLimited { retry_after: None }, 500),
            (ChannelError::Auth("bad".into()), 500),
            (ChannelError::Network("down".into()), 500),
            (ChannelError::Timeout("slow".into()), 504),
            (ChannelError::Closed, 500),
        ];
        for (e, status) in cases {
            let text = e.to_string();
            let api = send_error(e);
            assert_eq!(api.status.as_u16(), status, "{text}");
            assert_eq!(api.detail, text);
        }
        let rl = send_error(ChannelError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        });
        assert_eq!(rl.message, "Message Send Error");
        assert_eq!(rl.kind, "iMessage Error");
        assert_eq!(rl.retry_after, Some(Duration::from_secs(2)));
    }
}
