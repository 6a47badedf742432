//! BlueBubbles' JSON shapes (Handle, Chat, Attachment, Message) built from
//! stored records. `Form::Rest` adds the fields BlueBubbles only puts in REST
//! replies; `Form::Notification` is the smaller webhook form.

use serde::Serialize;

use crate::guid;
use crate::store::{AttachmentRecord, ChatRecord, Member, MessageRecord, ZoomMeta};

/// Above this size BlueBubbles drops `chats[].participants` from webhooks.
pub(crate) const MAX_NOTIFICATION_BYTES: usize = 4000;

/// Participants read for a webhook body: each handle takes at least 49
/// bytes of JSON, so a conversation with this many cannot fit in
/// [`MAX_NOTIFICATION_BYTES`] and is sent without participants anyway.
pub(crate) const NOTIFICATION_PARTICIPANTS: usize = MAX_NOTIFICATION_BYTES / 49 + 1;

/// The `service` of every handle.
const SERVICE: &str = "zoom";

/// Which serializer variant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// REST replies.
    Rest,
    /// Webhook payloads.
    Notification,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Handle {
    #[serde(rename = "originalROWID")]
    original_rowid: i64,
    address: String,
    service: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
}

impl Handle {
    fn from_member(m: &Member) -> Self {
        Self {
            original_rowid: m.rowid,
            address: m.address.clone(),
            service: SERVICE,
            display_name: m.name.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Chat {
    #[serde(rename = "originalROWID")]
    original_rowid: i64,
    guid: String,
    style: u8,
    chat_identifier: String,
    is_archived: bool,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) participants: Option<Vec<Handle>>,
    /// Not in BlueBubbles; lets Moltbot's `chat_id:` targets match.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extras: Option<ChatExtras>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages: Option<Vec<Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_message: Option<Box<Message>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChatExtras {
    is_filtered: bool,
    group_id: Option<String>,
    properties: Option<()>,
    last_addressed_handle: Option<String>,
}

/// A chat with its participants.
pub(crate) fn chat(c: &ChatRecord, form: Form) -> Chat {
    let rest = form == Form::Rest;
    Chat {
        original_rowid: c.rowid,
        guid: c.guid.clone(),
        style: guid::style(c.kind),
        chat_identifier: guid::identifier(&c.guid).to_owned(),
        is_archived: false,
        display_name: c.display_name.clone().unwrap_or_default(),
        participants: Some(c.participants.iter().map(Handle::from_member).collect()),
        id: rest.then_some(c.rowid),
        extras: rest.then_some(ChatExtras {
            is_filtered: false,
            group_id: None,
            properties: None,
            last_addressed_handle: None,
        }),
        messages: None,
        last_message: None,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    #[serde(rename = "originalROWID")]
    original_rowid: i64,
    guid: String,
    uti: Option<String>,
    mime_type: Option<String>,
    transfer_name: String,
    total_bytes: i64,
    height: i64,
    width: i64,
    metadata: Option<()>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    #[serde(rename = "originalROWID")]
    original_rowid: i64,
    guid: String,
    text: String,
    attributed_body: Option<()>,
    handle: Option<Handle>,
    handle_id: i64,
    other_handle: i64,
    attachments: Vec<Attachment>,
    subject: Option<String>,
    error: i32,
    date_created: i64,
    date_read: Option<i64>,
    date_delivered: Option<i64>,
    is_delivered: bool,
    is_from_me: bool,
    has_dd_results: bool,
    is_archived: bool,
    item_type: i32,
    group_title: Option<String>,
    group_action_type: i32,
    balloon_bundle_id: Option<String>,
    associated_message_guid: Option<String>,
    associated_message_type: Option<String>,
    expressive_send_style_id: Option<String>,
    thread_originator_guid: Option<String>,
    has_payload_data: bool,
    message_summary_info: Option<()>,
    payload_data: Option<()>,
    date_edited: Option<i64>,
    date_retracted: Option<i64>,
    part_count: i32,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extras: Option<MessageExtras>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) chats: Option<Vec<Chat>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temp_guid: Option<String>,
    /// Not in BlueBubbles: what our Moltbot extension needs to route the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    zoom: Option<ZoomMeta>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageExtras {
    country: Option<String>,
    is_delayed: bool,
    is_auto_reply: bool,
    is_system_message: bool,
    is_service_message: bool,
    is_forward: bool,
    thread_originator_part: Option<String>,
    is_corrupt: bool,
    date_played: Option<i64>,
    cache_roomnames: Option<String>,
    is_spam: bool,
    is_expired: bool,
    time_expressive_send_played: Option<i64>,
    is_audio_message: bool,
    reply_to_guid: Option<String>,
    share_status: Option<i32>,
    share_direction: Option<i32>,
    was_delivered_quietly: bool,
    did_notify_recipient: bool,
}

fn attachment(a: &AttachmentRecord) -> Attachment {
    Attachment {
        original_rowid: 0,
        guid: a.guid.clone(),
        uti: None,
        mime_type: a.mime_type.clone(),
        transfer_name: a.name.clone(),
        total_bytes: a.total_bytes,
        height: 0,
        width: 0,
        metadata: None,
    }
}

/// A message without `chats`; callers add them where BlueBubbles does.
pub(crate) fn message(m: &MessageRecord, form: Form) -> Message {
    Message {
        original_rowid: m.rowid,
        guid: m.guid.clone(),
        text: m.text.clone(),
        attributed_body: None,
        handle: m.sender.as_ref().map(Handle::from_member),
        handle_id: m.sender.as_ref().map_or(0, |s| s.rowid),
        other_handle: 0,
        attachments: m.attachments.iter().map(attachment).collect(),
        subject: None,
        error: 0,
        date_created: m.date_ms,
        date_read: None,
        date_delivered: m.is_from_me.then_some(m.date_ms),
        is_delivered: true,
        is_from_me: m.is_from_me,
        has_dd_results: false,
        is_archived: false,
        item_type: 0,
        group_title: None,
        group_action_type: 0,
        balloon_bundle_id: None,
        associated_message_guid: None,
        associated_message_type: None,
        expressive_send_style_id: None,
        thread_originator_guid: m.thread_originator.clone(),
        has_payload_data: false,
        message_summary_info: None,
        payload_data: None,
        date_edited: None,
        date_retracted: None,
        part_count: 1,
        extras: (form == Form::Rest).then(MessageExtras::default),
        chats: None,
        temp_guid: m.temp_guid.clone(),
        zoom: m.zoom.clone(),
    }
}

/// A REST message with its chat in `chats` (participants included when
/// `participants` is set).
pub(crate) fn rest_message(
    m: &MessageRecord,
    c: Option<&ChatRecord>,
    participants: bool,
) -> Message {
    let mut out = message(m, Form::Rest);
    out.chats = c.map(|c| {
        let mut chat = chat(c, Form::Rest);
        if !participants {
            chat.participants = None;
        }
        vec![chat]
    });
    out
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a Message,
}

/// The `new-message` webhook body for a message in a chat, kept under
/// [`MAX_NOTIFICATION_BYTES`] by dropping participants as BlueBubbles does.
pub(crate) fn new_message_event(m: &MessageRecord, c: &ChatRecord) -> String {
    let mut data = message(m, Form::Notification);
    data.chats = Some(vec![chat(c, Form::Notification)]);
    if !c.crowded && c.participants.len() < NOTIFICATION_PARTICIPANTS {
        let body = encode(&data);
        if body.len() <= MAX_NOTIFICATION_BYTES {
            return body;
        }
    }
    for chat in data.chats.iter_mut().flatten() {
        chat.participants = None;
    }
    encode(&data)
}

/// Room for a body: serde_json starts at 128 bytes and doubles, copying the
/// body five times on its way to a typical 2–4 kB (1.7 % of the sidecar's
/// CPU in a blast).
const BODY_CAPACITY: usize = MAX_NOTIFICATION_BYTES + 512;

fn encode(data: &Message) -> String {
    let mut out = Vec::with_capacity(BODY_CAPACITY);
    let event = Event {
        kind: "new-message",
        data,
    };
    match serde_json::to_writer(&mut out, &event).map(|()| String::from_utf8(out)) {
        Ok(Ok(body)) => body,
        _ => String::from("{}"),
    }
}
