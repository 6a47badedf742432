//! Zoom event → chat message: text, conversation, sender, id, mode. Pure.

use moltbot_channel::{Conversation, DeliveryMode, InboundMessage, Party};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};
use zoom_wire::{
    BotNotification, ChatMessageEvent, Event, MeetingEvent, MeetingObject, MeetingUpdatedEvent,
    ParticipantEvent, RecordingEvent, TeamChatEvent, TypedEvent, UserEvent, UserObject,
    UserUpdatedEvent,
};

use crate::{
    config::{Routing, SendAs, ZoomChannelConfig},
    conversation,
    filter::{self, FilterMiss},
    mention,
};

mod chat_changes;

/// Id of the system sender of event messages.
pub const SYSTEM_SENDER_ID: &str = "zoom";

/// Longest generic summary of an unknown event, in characters.
const SUMMARY_MAX_CHARS: usize = 240;
/// Longest value shown in a changed-field list, in characters.
const VALUE_MAX_CHARS: usize = 80;

/// The outcome of rendering one event.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per event and consumed at once; the shape is part of the contract"
)]
pub enum Rendered {
    /// A message to deliver (subject to dedup and self-echo in the channel).
    Message(InboundMessage),
    /// Not delivered.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

/// Why an event produced no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// `include` is set and no pattern matched.
    NotIncluded,
    /// An `exclude` pattern matched.
    Excluded,
    /// The event's delivery mode is `drop`.
    ModeDrop,
    /// Our own reaction, edit or delete, come back as an event.
    OwnChange,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::NotIncluded => "not matched by `include`",
            SkipReason::Excluded => "matched by `exclude`",
            SkipReason::ModeDrop => "delivery mode is `drop`",
            SkipReason::OwnChange => "our own reaction, edit or delete",
        })
    }
}

/// Turns Zoom events into inbound messages; no I/O.
#[derive(Debug, Clone)]
pub struct Renderer {
    subscription_id: String,
    routing: Routing,
    config: ZoomChannelConfig,
    /// Our own user ids / emails (lowercase): the DM peer is the other side.
    own_ids: Vec<String>,
    /// Ids a mention of us names (lowercase): our own ids and the chatbot's JID.
    mention_ids: Vec<String>,
}

/// What a rendered event says, before id, mode and time are added.
struct Content {
    conversation: Conversation,
    sender: Party,
    body: String,
    reply_to_id: Option<String>,
    participants: Vec<Party>,
}

impl Renderer {
    /// A renderer for `config` (routing, filters, delivery modes, own ids).
    pub fn new(config: &ZoomChannelConfig) -> Self {
        let mut own_ids: Vec<String> = config.self_ids.iter().map(|s| s.to_lowercase()).collect();
        if let SendAs::User { sender } = &config.send_as {
            if !sender.is_empty() {
                own_ids.push(sender.to_lowercase());
            }
        }
        let mut mention_ids = own_ids.clone();
        if let SendAs::Chatbot { robot_jid, .. } = &config.send_as {
            if !robot_jid.is_empty() {
                mention_ids.push(robot_jid.to_lowercase());
            }
        }
        Self {
            subscription_id: config.subscription_id.clone(),
            routing: config.routing,
            config: config.clone(),
            own_ids,
            mention_ids,
        }
    }

    /// Renders one event received at `received_at_ms`.
    pub fn render(&self, event: &Event, received_at_ms: i64) -> Rendered {
        self.render_decoded(event, received_at_ms).0
    }

    /// [`Renderer::render`], and whether the payload decoded as its typed
    /// event (the channel counts those that did not), decoded once.
    pub(crate) fn render_decoded(&self, event: &Event, received_at_ms: i64) -> (Rendered, bool) {
        let skipped = |reason| (Rendered::Skipped { reason }, event.typed().is_ok());
        match filter::check(&self.config.include, &self.config.exclude, &event.event) {
            Some(FilterMiss::NotIncluded) => return skipped(SkipReason::NotIncluded),
            Some(FilterMiss::Excluded) => return skipped(SkipReason::Excluded),
            None => {}
        }
        if chat_changes::by_us(event, &self.own_ids) {
            return skipped(SkipReason::OwnChange);
        }
        let mode = self.config.delivery_mode(&event.event);
        if mode == DeliveryMode::Drop {
            return skipped(SkipReason::ModeDrop);
        }
        let (content, decoded) = match event.typed() {
            Ok(typed) => (self.content(event, typed), true),
            Err(_) => (self.generic(event), false),
        };
        let message = InboundMessage {
            message_id: self.message_id(event),
            conversation: content.conversation,
            sender: content.sender,
            body: content.body,
            timestamp_ms: timestamp_ms(event).unwrap_or(received_at_ms),
            reply_to_id: content.reply_to_id,
            event_type: event.event.clone(),
            mode,
            participants: content.participants,
            raw: if self.config.raw_event {
                serde_json::to_value(event).ok()
            } else {
                None
            },
            mentioned: mention::of(event, &self.mention_ids),
            attachments: Vec::new(),
            upstream_id: None,
        };
        (Rendered::Message(message), decoded)
    }

    /// The deterministic message id of `event`: `zoom-ev-` and 32 hex digits,
    /// the event's `event_ts` (12 digits, 0 when absent) then the first 20 of
    /// SHA-256 over the subscription id and [`Event::identity`]. Ids in time
    /// order keep the store's unique index appended to, not written at a
    /// random page per event (docs/performance.md).
    pub fn message_id(&self, event: &Event) -> String {
        let digest = Sha256::digest(format!("{}|{}", self.subscription_id, event.identity()));
        let mut hex = hex::encode(digest);
        hex.truncate(20);
        let ts = event.event_ts.unwrap_or(0).clamp(0, 0xffff_ffff_ffff);
        format!("zoom-ev-{ts:012x}{hex}")
    }

    fn content(&self, event: &Event, typed: TypedEvent) -> Content {
        match typed {
            TypedEvent::MeetingCreated(e) => self.meeting_created(&e),
            TypedEvent::MeetingUpdated(e) => self.meeting_updated(&e, event),
            TypedEvent::MeetingDeleted(e) => self.meeting_deleted(&e),
            TypedEvent::MeetingStarted(e) => self.meeting_started(&e),
            TypedEvent::MeetingEnded(e) => self.meeting_ended(&e),
            TypedEvent::ParticipantJoined(e) => self.participant(&e, true),
            TypedEvent::ParticipantLeft(e) => self.participant(&e, false),
            TypedEvent::RecordingCompleted(e) => self.recording(&e),
            TypedEvent::UserCreated(e) => self.user_created(&e),
            TypedEvent::UserUpdated(e) => self.user_updated(&e, event),
            TypedEvent::ChatMessageSent(e) | TypedEvent::ChatMessageReplied(e) => {
                self.chat_message(&e, ChatAction::Posted)
            }
            TypedEvent::ChatMessageUpdated(e) => self.chat_message(&e, ChatAction::Edited),
            TypedEvent::ChatMessageDeleted(e) => self.chat_message(&e, ChatAction::Deleted),
            TypedEvent::ChannelMessagePosted(e) | TypedEvent::DmMessagePosted(e) => {
                self.team_chat(&e)
            }
            TypedEvent::BotNotification(e) => bot_notification(&e),
            TypedEvent::Other if chat_changes::is_chat_change(event) => self.chat_change(event),
            // A chatbot's `team_chat.app_mention` has the Team Chat message shape.
            TypedEvent::Other if event.event == mention::APP_MENTION => {
                match serde_json::from_value::<TeamChatEvent>(event.payload.clone()) {
                    Ok(e) => self.team_chat(&e),
                    Err(_) => self.generic(event),
                }
            }
            _ => self.generic(event),
        }
    }

    fn event_content(&self, conversation: Conversation, body: String) -> Content {
        Content {
            conversation,
            sender: system_sender(),
            body,
            reply_to_id: None,
            participants: Vec::new(),
        }
    }

    /// The conversation of an event about meeting `id`.
    fn meeting_conversation(&self, id: &str, topic: Option<&str>) -> Conversation {
        match self.routing {
            Routing::Meeting if !id.is_empty() => conversation::meeting(id, topic),
            _ => conversation::feed(),
        }
    }

    fn meeting_created(&self, e: &MeetingEvent) -> Content {
        let m = &e.object;
        let mut body = format!(
            "Meeting scheduled: {}",
            meeting_ref(m.topic.as_deref(), &m.id.0)
        );
        body.push_str(&host_clause(
            m,
            e.operator.as_deref(),
            e.operator_id.as_deref(),
        ));
        if let Some(start) = &m.start_time {
            body.push_str(&format!(
                ", starts {}",
                time_with_zone(start, m.timezone.as_deref())
            ));
        }
        if let Some(minutes) = m.duration.filter(|d| *d > 0) {
            body.push_str(&format!(" for {}", human_minutes(minutes)));
        }
        body.push('.');
        if let Some(url) = &m.join_url {
            body.push_str(&format!(" Join: {url}"));
        }
        self.event_content(self.meeting_conversation(&m.id.0, m.topic.as_deref()), body)
    }

    fn meeting_updated(&self, e: &MeetingUpdatedEvent, event: &Event) -> Content {
        let topic = e.object.topic.as_deref().or(e.old_object.topic.as_deref());
        let id = if e.object.id.is_empty() {
            &e.old_object.id
        } else {
            &e.object.id
        };
        let mut body = format!("Meeting updated: {}", meeting_ref(topic, &id.0));
        if let Some(op) = &e.operator {
            body.push_str(&format!(" by {op}"));
        }
        body.push_str(&changes(event));
        self.event_content(self.meeting_conversation(&id.0, topic), body)
    }

    fn meeting_deleted(&self, e: &MeetingEvent) -> Content {
        let m = &e.object;
        let mut body = format!(
            "Meeting deleted: {}",
            meeting_ref(m.topic.as_deref(), &m.id.0)
        );
        if let Some(op) = &e.operator {
            body.push_str(&format!(" by {op}"));
        }
        if let Some(start) = &m.start_time {
            body.push_str(&format!(
                "; it was scheduled for {}",
                time_with_zone(start, m.timezone.as_deref())
            ));
        }
        body.push('.');
        self.event_content(self.meeting_conversation(&m.id.0, m.topic.as_deref()), body)
    }

    fn meeting_started(&self, e: &MeetingEvent) -> Content {
        let m = &e.object;
        let mut body = format!(
            "Meeting started: {}",
            meeting_ref(m.topic.as_deref(), &m.id.0)
        );
        body.push_str(&host_clause(
            m,
            e.operator.as_deref(),
            e.operator_id.as_deref(),
        ));
        if let Some(start) = &m.start_time {
            body.push_str(&format!(
                ", at {}",
                time_with_zone(start, m.timezone.as_deref())
            ));
        }
        body.push('.');
        if let Some(url) = &m.join_url {
            body.push_str(&format!(" Join: {url}"));
        }
        self.event_content(self.meeting_conversation(&m.id.0, m.topic.as_deref()), body)
    }

    fn meeting_ended(&self, e: &MeetingEvent) -> Content {
        let m = &e.object;
        let mut body = format!(
            "Meeting ended: {}",
            meeting_ref(m.topic.as_deref(), &m.id.0)
        );
        body.push_str(&host_clause(
            m,
            e.operator.as_deref(),
            e.operator_id.as_deref(),
        ));
        match (&m.start_time, &m.end_time) {
            (Some(start), Some(end)) => {
                body.push_str(&format!(
                    ", {} → {}",
                    utc_time(start),
                    time_with_zone(end, m.timezone.as_deref())
                ));
                if let (Some(s), Some(e)) = (parse_time(start), parse_time(end)) {
                    let secs = (e - s).whole_seconds();
                    if secs >= 0 {
                        body.push_str(&format!(", lasted {}", human_minutes(secs / 60)));
                    }
                }
            }
            (None, Some(end)) => body.push_str(&format!(
                ", at {}",
                time_with_zone(end, m.timezone.as_deref())
            )),
            (Some(start), None) => body.push_str(&format!(
                ", started {}",
                time_with_zone(start, m.timezone.as_deref())
            )),
            (None, None) => {}
        }
        body.push('.');
        self.event_content(self.meeting_conversation(&m.id.0, m.topic.as_deref()), body)
    }

    fn participant(&self, e: &ParticipantEvent, joined: bool) -> Content {
        let o = &e.object;
        let p = &o.participant;
        let name = p
            .user_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(p.email.as_deref())
            .unwrap_or("Someone");
        let mut who = name.to_owned();
        if let Some(email) = p.email.as_deref().filter(|m| !m.is_empty() && *m != name) {
            who.push_str(&format!(" ({email})"));
        }
        let verb = if joined { "joined" } else { "left" };
        let mut body = format!("{who} {verb} {}", meeting_ref(o.topic.as_deref(), &o.id.0));
        let at = if joined { &p.join_time } else { &p.leave_time };
        if let Some(at) = at {
            body.push_str(&format!(" at {}", utc_time(at)));
        }
        if let Some(reason) = p.leave_reason.as_deref().filter(|r| !r.is_empty()) {
            body.push_str(&format!(" (reason: {})", reason.trim_end_matches('.')));
        }
        body.push('.');
        let mut content =
            self.event_content(self.meeting_conversation(&o.id.0, o.topic.as_deref()), body);
        if let Some(key) = p.email.as_deref().or(p.stable_key()) {
            content.participants.push(Party {
                id: key.to_owned(),
                name: p.user_name.clone(),
            });
        }
        content
    }

    fn recording(&self, e: &RecordingEvent) -> Content {
        let r = &e.object;
        let mut body = format!(
            "Recording ready: {}",
            meeting_ref(r.topic.as_deref(), &r.id.0)
        );
        if let Some(start) = &r.start_time {
            body.push_str(&format!(", started {}", utc_time(start)));
        }
        if let Some(minutes) = r.duration.filter(|d| *d > 0) {
            body.push_str(&format!(", {}", human_minutes(minutes)));
        }
        let count = if r.recording_files.is_empty() {
            r.recording_count
                .and_then(|c| u64::try_from(c).ok())
                .unwrap_or(0)
        } else {
            r.recording_files.len() as u64
        };
        // Sizes are summed without overflow; negative sizes count as unknown.
        let total = match r.total_size {
            Some(t) => u128::try_from(t).unwrap_or(0),
            None => r
                .recording_files
                .iter()
                .filter_map(|f| f.file_size.and_then(|s| u128::try_from(s).ok()))
                .sum(),
        };
        body.push_str(&format!(
            ", {count} file{}",
            if count == 1 { "" } else { "s" }
        ));
        if total > 0 {
            body.push_str(&format!(" ({})", human_size(total)));
        }
        let files: Vec<String> = r
            .recording_files
            .iter()
            .map(|f| {
                let mut s = f
                    .file_type
                    .clone()
                    .or_else(|| f.file_extension.clone())
                    .unwrap_or_else(|| "file".into());
                if let Some(kind) = f.recording_type.as_deref().filter(|k| !k.is_empty()) {
                    s.push_str(&format!(" [{}]", kind.replace('_', " ")));
                }
                if let Some(size) = f.file_size.and_then(|s| u128::try_from(s).ok()) {
                    s.push_str(&format!(" {}", human_size(size)));
                }
                s
            })
            .collect();
        if !files.is_empty() {
            body.push_str(&format!(": {}", files.join(", ")));
        }
        body.push('.');
        if let Some(url) = &r.share_url {
            body.push_str(&format!(" Share link: {url}"));
        }
        self.event_content(self.meeting_conversation(&r.id.0, r.topic.as_deref()), body)
    }

    fn user_created(&self, e: &UserEvent) -> Content {
        let mut body = format!("User created: {}", user_ref(&e.object));
        if let Some(op) = &e.operator {
            body.push_str(&format!(" by {op}"));
        }
        body.push('.');
        self.event_content(conversation::feed(), body)
    }

    fn user_updated(&self, e: &UserUpdatedEvent, event: &Event) -> Content {
        // `object` holds only the changed fields; fill the rest from `old_object`.
        let merged = merge(&e.old_object, &e.object);
        let mut body = format!("User updated: {}", user_ref(&merged));
        if let Some(op) = &e.operator {
            body.push_str(&format!(" by {op}"));
        }
        body.push_str(&changes(event));
        self.event_content(conversation::feed(), body)
    }

    fn chat_message(&self, e: &ChatMessageEvent, action: ChatAction) -> Content {
        let o = &e.object;
        let to_channel = match o.kind.as_deref() {
            Some("to_channel") => true,
            Some("to_contact") => false,
            _ => o.channel_id.is_some(),
        };
        let sender = chat_sender(e.operator.as_deref(), e.operator_id.as_deref());
        // A channel message without a channel id is answered to its sender.
        let conversation = match o.channel_id.as_deref().filter(|c| !c.is_empty()) {
            Some(channel) if to_channel => {
                conversation::channel(channel, o.channel_name.as_deref())
            }
            _ => self.dm_conversation(&sender, o.contact_email.as_deref(), o.contact_id.as_deref()),
        };
        let text = o.message.as_deref().unwrap_or_default();
        let body = match action {
            ChatAction::Posted if text.trim().is_empty() => "(empty message)".to_owned(),
            ChatAction::Posted => text.to_owned(),
            ChatAction::Edited => format!("(edited) {text}"),
            ChatAction::Deleted => "(deleted a message)".to_owned(),
        };
        Content {
            conversation,
            sender,
            body,
            reply_to_id: o.parent_msg_id.clone().filter(|p| !p.is_empty()),
            participants: Vec::new(),
        }
    }

    fn team_chat(&self, e: &TeamChatEvent) -> Content {
        let o = &e.object;
        let sender = chat_sender(e.operator.as_deref(), e.operator_id.as_deref());
        let conversation = match o.channel_id.as_deref().filter(|c| !c.is_empty()) {
            Some(channel) => conversation::channel(channel, o.channel_name.as_deref()),
            None => {
                self.dm_conversation(&sender, o.contact_email.as_deref(), o.contact_id.as_deref())
            }
        };
        let mut body = o.message.clone().unwrap_or_default();
        for f in &o.files {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&format!(
                "[file] {}",
                f.file_name.as_deref().unwrap_or("unnamed")
            ));
            if let Some(size) = f.file_size.and_then(|s| u128::try_from(s).ok()) {
                body.push_str(&format!(" ({})", human_size(size)));
            }
        }
        if body.trim().is_empty() {
            body = "(empty message)".into();
        }
        Content {
            conversation,
            sender,
            body,
            reply_to_id: o.reply_main_message_id.clone().filter(|p| !p.is_empty()),
            participants: Vec::new(),
        }
    }

    /// A DM seen from our side: the peer is the sender, unless we sent it.
    fn dm_conversation(
        &self,
        sender: &Party,
        contact_email: Option<&str>,
        contact_id: Option<&str>,
    ) -> Conversation {
        let contact = contact_email.or(contact_id).filter(|c| !c.is_empty());
        let ours = self.own_ids.contains(&sender.id.to_lowercase());
        match contact {
            Some(contact) if ours => conversation::direct(contact, None),
            _ => conversation::direct(&sender.id, sender.name.as_deref()),
        }
    }

    /// `event: key value, …` from `payload.object` (or the payload), in its
    /// meeting's conversation when it is a meeting-family event with an id.
    fn generic(&self, event: &Event) -> Content {
        let body = format!("{}: {}", event.event, summary(event));
        let conversation = match meeting_family_id(event) {
            Some(id) => {
                let topic = event
                    .object()
                    .and_then(|o| o.get("topic").or_else(|| o.get("meeting_topic")))
                    .and_then(Value::as_str);
                self.meeting_conversation(&id, topic)
            }
            None => conversation::feed(),
        };
        self.event_content(conversation, body)
    }
}

#[derive(Clone, Copy)]
enum ChatAction {
    Posted,
    Edited,
    Deleted,
}

fn system_sender() -> Party {
    Party {
        id: SYSTEM_SENDER_ID.into(),
        name: Some("Zoom".into()),
    }
}

fn chat_sender(operator: Option<&str>, operator_id: Option<&str>) -> Party {
    let id = operator
        .or(operator_id)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown");
    Party {
        id: id.to_owned(),
        name: None,
    }
}

fn bot_notification(e: &BotNotification) -> Content {
    let sender_id = e
        .user_jid
        .as_deref()
        .or(e.user_id.as_deref())
        .unwrap_or("unknown");
    let sender = Party {
        id: sender_id.to_owned(),
        name: e.user_name.clone(),
    };
    let to = e
        .to_jid
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(sender_id);
    let conversation = if to.ends_with("@conference.xmpp.zoom.us") {
        conversation::channel(to, e.channel_name.as_deref())
    } else {
        conversation::direct(to, e.user_name.as_deref())
    };
    let body = e
        .cmd
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "(empty message)".into());
    Content {
        conversation,
        sender,
        body,
        reply_to_id: None,
        participants: Vec::new(),
    }
}

/// Event name prefixes of meeting-family events.
const MEETING_FAMILIES: [&str; 3] = ["meeting.", "webinar.", "recording."];

/// `payload.object.id` (a non-empty string or a number) of a `meeting.*`,
/// `webinar.*` or `recording.*` event.
fn meeting_family_id(event: &Event) -> Option<String> {
    if !MEETING_FAMILIES.iter().any(|f| event.event.starts_with(f)) {
        return None;
    }
    let object = event.object()?;
    // `meeting.summary_completed` names its meeting as `meeting_id`.
    match object.get("id").or_else(|| object.get("meeting_id"))? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `event_ts`, else the object's (or bot payload's) `timestamp`.
fn timestamp_ms(event: &Event) -> Option<i64> {
    event.event_ts.or_else(|| {
        event
            .object()
            .and_then(|o| o.get("timestamp"))
            .or_else(|| event.payload.get("timestamp"))
            .and_then(Value::as_i64)
    })
}

/// `"Topic" (ID 123)`, `meeting 123` or `"Topic"`.
pub(crate) fn meeting_ref(topic: Option<&str>, id: &str) -> String {
    match (topic.filter(|t| !t.is_empty()), id.is_empty()) {
        (Some(t), false) => format!("\"{t}\" (ID {id})"),
        (Some(t), true) => format!("\"{t}\""),
        (None, false) => format!("meeting {id}"),
        (None, true) => "a meeting".into(),
    }
}

/// `, host ann@example.com` (email when known, else the acting user when they
/// are the host, else the host id).
fn host_clause(m: &MeetingObject, operator: Option<&str>, operator_id: Option<&str>) -> String {
    let host = m
        .host_email
        .as_deref()
        .filter(|h| !h.is_empty())
        .or(operator.filter(|_| operator_id == Some(m.host_id.as_str())))
        .or(Some(m.host_id.as_str()).filter(|h| !h.is_empty()));
    match host {
        Some(h) => format!(", host {h}"),
        None => String::new(),
    }
}

fn user_ref(u: &UserObject) -> String {
    let name = u.name();
    match u.email.as_deref().filter(|e| !e.is_empty() && *e != name) {
        Some(email) => format!("{name} ({email})"),
        None => name,
    }
}

/// `old` with `new`'s fields on top.
fn merge(old: &UserObject, new: &UserObject) -> UserObject {
    let mut merged = serde_json::to_value(old).unwrap_or_default();
    if let (Some(m), Value::Object(n)) = (
        merged.as_object_mut(),
        serde_json::to_value(new).unwrap_or_default(),
    ) {
        for (k, v) in n {
            if !v.is_null() && v != Value::String(String::new()) {
                m.insert(k, v);
            }
        }
    }
    serde_json::from_value(merged).unwrap_or_else(|_| new.clone())
}

/// `: topic "A" → "B"; duration 30 → 45` from `payload.object` vs `payload.old_object`.
fn changes(event: &Event) -> String {
    let empty = Map::new();
    let new = event
        .payload
        .get("object")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let old = event
        .payload
        .get("old_object")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    diff("", new, Some(old), &mut out);
    if out.is_empty() {
        ".".into()
    } else {
        format!(": {}.", out.join("; "))
    }
}

fn diff(
    prefix: &str,
    new: &Map<String, Value>,
    old: Option<&Map<String, Value>>,
    out: &mut Vec<String>,
) {
    for (key, value) in new {
        if prefix.is_empty() && matches!(key.as_str(), "id" | "uuid") {
            continue;
        }
        let path = format!("{prefix}{key}");
        let before = old.and_then(|o| o.get(key));
        if let Value::Object(inner) = value {
            diff(
                &format!("{path}."),
                inner,
                before.and_then(Value::as_object),
                out,
            );
            continue;
        }
        if before == Some(value) {
            continue;
        }
        let shown = show_value(key, value);
        match before {
            Some(b) => out.push(format!("{path} {} → {shown}", show_value(key, b))),
            None => out.push(format!("{path} → {shown}")),
        }
    }
}

/// A value for humans: times as UTC, strings quoted, long values cut.
fn show_value(key: &str, v: &Value) -> String {
    if is_secret_key(key) {
        return "(hidden)".into();
    }
    let text = match v {
        Value::String(s) if key.ends_with("time") && parse_time(s).is_some() => utc_time(s),
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    truncate(&text, VALUE_MAX_CHARS)
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_lowercase();
    ["password", "passcode", "token", "secret", "pwd"]
        .iter()
        .any(|s| k.contains(s))
}

/// A compact summary of an unknown event: well-known fields first, then other
/// scalar fields, bounded.
fn summary(event: &Event) -> String {
    let object = event
        .object()
        .and_then(Value::as_object)
        .or(event.payload.as_object());
    let Some(object) = object else {
        return "(no details)".into();
    };
    const FIRST: [&str; 9] = [
        "topic",
        "name",
        "display_name",
        "user_name",
        "email",
        "id",
        "uuid",
        "channel_name",
        "message",
    ];
    let scalar = |k: &str, v: &Value| -> Option<String> {
        if is_secret_key(k) {
            return None;
        }
        match v {
            Value::String(s) if !s.is_empty() => {
                Some(format!("{k} \"{}\"", truncate(s, VALUE_MAX_CHARS)))
            }
            Value::Number(n) => Some(format!("{k} {n}")),
            Value::Bool(b) => Some(format!("{k} {b}")),
            _ => None,
        }
    };
    let mut parts: Vec<String> = FIRST
        .iter()
        .filter_map(|k| object.get(*k).and_then(|v| scalar(k, v)))
        .collect();
    parts.extend(
        object
            .iter()
            .filter(|(k, _)| !FIRST.contains(&k.as_str()))
            .filter_map(|(k, v)| scalar(k, v)),
    );
    // One level of nested objects, e.g. `caller.name`.
    for (k, v) in object {
        if let Value::Object(inner) = v {
            if is_secret_key(k) {
                continue;
            }
            parts.extend(
                inner
                    .iter()
                    .filter_map(|(ik, iv)| scalar(ik, iv).map(|s| format!("{k}.{s}"))),
            );
        }
    }
    if parts.is_empty() {
        return "(no details)".into();
    }
    truncate(&parts.join(", "), SUMMARY_MAX_CHARS)
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn parse_time(iso: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(iso, &Rfc3339).ok()
}

/// `2021-07-13 21:44 UTC`, or the text as given when it is not RFC 3339 or
/// leaves the supported range in UTC (e.g. `9999-12-31T23:59:59-05:00`).
pub(crate) fn utc_time(iso: &str) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    parse_time(iso)
        .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| iso.to_owned())
}

/// `2021-07-13 21:44:05 UTC` for a time in ms since the epoch.
pub(crate) fn utc_time_ms(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `2021-07-13 21:44 UTC (America/Los_Angeles)`.
fn time_with_zone(iso: &str, zone: Option<&str>) -> String {
    match zone.filter(|z| !z.is_empty()) {
        Some(z) => format!("{} ({z})", utc_time(iso)),
        None => utc_time(iso),
    }
}

/// `1 h 5 min`, `45 min`, `2 h`, `less than a minute` (never negative: a
/// negative count reads as less than a minute).
fn human_minutes(minutes: i64) -> String {
    let minutes = minutes.max(0);
    match (minutes / 60, minutes % 60) {
        (0, 0) => "less than a minute".into(),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// `512 B`, `12.3 KB`, `240.0 MB`, `1.2 GB` (1024-based).
fn human_size(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Facts the channel needs about a chat event for self-echo and threading.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ChatFacts {
    /// Zoom message id.
    pub(crate) message_id: String,
    /// Sender email and id.
    pub(crate) operators: Vec<String>,
    /// Text.
    pub(crate) text: Option<String>,
    /// Where it was posted, as target keys (`channel:<id>`, `contact:<email or id>`).
    pub(crate) targets: Vec<String>,
}

/// Chat facts of `chat_message.*` / `team_chat.*` events, from the raw payload.
pub(crate) fn chat_facts(event: &Event) -> Option<ChatFacts> {
    if !(event.event.starts_with("chat_message.") || event.event.starts_with("team_chat.")) {
        return None;
    }
    let o = event.object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let message_id = s("message_id").or(s("id"))?.to_owned();
    let operators = ["operator", "operator_id"]
        .iter()
        .filter_map(|k| event.payload.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut targets: Vec<String> = s("channel_id")
        .map(|c| format!("channel:{c}"))
        .into_iter()
        .collect();
    targets.extend(
        ["contact_email", "contact_id"]
            .into_iter()
            .filter_map(&s)
            .map(|c| format!("contact:{}", c.to_lowercase())),
    );
    Some(ChatFacts {
        message_id,
        operators,
        text: s("message").map(str::to_owned),
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_times() {
        assert_eq!(human_minutes(65), "1 h 5 min");
        assert_eq!(human_minutes(45), "45 min");
        assert_eq!(human_minutes(2 * 60), "2 h");
        assert_eq!(human_minutes(0), "less than a minute");
        assert_eq!(human_minutes(-3), "less than a minute");
        assert_eq!(human_minutes(i64::MAX), "153722867280912930 h 7 min");
        assert_eq!(human_size(u128::from(u64::MAX) * 2), "32.0 EB");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(12_595), "12.3 KB");
        assert_eq!(human_size(251_658_240), "240.0 MB");
        assert_eq!(human_size(1_288_490_189), "1.2 GB");
        assert_eq!(utc_time("2021-07-13T21:44:51Z"), "2021-07-13 21:44 UTC");
        assert_eq!(
            utc_time("2021-07-13T23:44:51+02:00"),
            "2021-07-13 21:44 UTC"
        );
        assert_eq!(utc_time("not a time"), "not a time");
        assert_eq!(truncate("ééé", 2), "éé…");
    }

    #[test]
    fn skip_reasons_read_as_text() {
        assert_eq!(
            SkipReason::NotIncluded.to_string(),
            "not matched by `include`"
        );
        assert_eq!(SkipReason::Excluded.to_string(), "matched by `exclude`");
        assert_eq!(SkipReason::ModeDrop.to_string(), "delivery mode is `drop`");
    }
}
