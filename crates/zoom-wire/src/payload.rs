//! Typed payloads for the events the integration renders. Every struct takes
//! `#[serde(default)]` and keeps unknown fields in `extra`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{MeetingId, NumOrString};

/// Payload of `meeting.created`, `.deleted`, `.started` and `.ended`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingEvent {
    /// Account the meeting belongs to.
    pub account_id: String,
    /// Email of the user who acted, when given.
    pub operator: Option<String>,
    /// Id of the user who acted, when given.
    pub operator_id: Option<String>,
    /// The meeting.
    pub object: MeetingObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A meeting as Zoom describes it in events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingObject {
    /// Meeting number (number or string on the wire).
    pub id: MeetingId,
    /// Unique id of this meeting instance.
    pub uuid: String,
    /// Host user id.
    pub host_id: String,
    /// Host email, when given.
    pub host_email: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// Meeting type number.
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    /// ISO-8601 start time.
    pub start_time: Option<String>,
    /// ISO-8601 end time (`meeting.ended`).
    pub end_time: Option<String>,
    /// Scheduled duration in minutes.
    pub duration: Option<i64>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Join link.
    pub join_url: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `meeting.updated`: the changed fields and their old values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingUpdatedEvent {
    /// Account the meeting belongs to.
    pub account_id: String,
    /// Email of the user who changed it.
    pub operator: Option<String>,
    /// Id of the user who changed it.
    pub operator_id: Option<String>,
    /// New values (only changed fields plus `id`).
    pub object: MeetingObject,
    /// Old values.
    pub old_object: MeetingObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `meeting.participant_joined` / `_left`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParticipantEvent {
    /// Account the meeting belongs to.
    pub account_id: String,
    /// The meeting and the participant.
    pub object: ParticipantObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Meeting fields plus the participant in a participant event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParticipantObject {
    /// Meeting number.
    pub id: MeetingId,
    /// Meeting instance id.
    pub uuid: String,
    /// Host user id.
    pub host_id: String,
    /// Topic.
    pub topic: Option<String>,
    /// The participant.
    pub participant: Participant,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A meeting participant. `user_id` is per-meeting and unstable; prefer
/// [`Participant::stable_key`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Participant {
    /// Per-meeting numeric id (changes between join and leave).
    pub user_id: Option<NumOrString>,
    /// Display name.
    pub user_name: Option<String>,
    /// Email, when signed in.
    pub email: Option<String>,
    /// Zoom user id, when signed in.
    pub id: Option<String>,
    /// Participant uuid.
    pub participant_uuid: Option<String>,
    /// ISO-8601 join time.
    pub join_time: Option<String>,
    /// ISO-8601 leave time.
    pub leave_time: Option<String>,
    /// Why they left.
    pub leave_reason: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Participant {
    /// The most stable identifier available: uuid, user id, email, then name.
    pub fn stable_key(&self) -> Option<&str> {
        [
            &self.participant_uuid,
            &self.id,
            &self.email,
            &self.user_name,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .find(|s| !s.is_empty())
    }
}

/// Payload of `recording.completed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingEvent {
    /// Account.
    pub account_id: String,
    /// The recorded meeting.
    pub object: RecordingObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The recorded meeting and its files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingObject {
    /// Meeting number.
    pub id: MeetingId,
    /// Meeting instance id.
    pub uuid: String,
    /// Host id.
    pub host_id: String,
    /// Host email.
    pub host_email: Option<String>,
    /// Topic.
    pub topic: Option<String>,
    /// ISO-8601 start.
    pub start_time: Option<String>,
    /// Minutes.
    pub duration: Option<i64>,
    /// Bytes over all files.
    pub total_size: Option<i64>,
    /// Number of files.
    pub recording_count: Option<i64>,
    /// Share link.
    pub share_url: Option<String>,
    /// Files.
    pub recording_files: Vec<RecordingFile>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One recording file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingFile {
    /// File id.
    pub id: Option<String>,
    /// `MP4`, `M4A`, `TRANSCRIPT`, `CHAT`, …
    pub file_type: Option<String>,
    /// Extension.
    pub file_extension: Option<String>,
    /// Bytes.
    pub file_size: Option<i64>,
    /// Kind of recording, e.g. `shared_screen_with_speaker_view`.
    pub recording_type: Option<String>,
    /// Play link.
    pub play_url: Option<String>,
    /// Download link (needs the download token as a Bearer header).
    pub download_url: Option<String>,
    /// Processing status.
    pub status: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `user.created`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserEvent {
    /// Account.
    pub account_id: String,
    /// Who acted.
    pub operator: Option<String>,
    /// Who acted (id).
    pub operator_id: Option<String>,
    /// `create`, `autoCreate`, …
    pub creation_type: Option<String>,
    /// The user.
    pub object: UserObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `user.updated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserUpdatedEvent {
    /// Account.
    pub account_id: String,
    /// Who acted.
    pub operator: Option<String>,
    /// Who acted (id).
    pub operator_id: Option<String>,
    /// Changed fields (plus `id`).
    pub object: UserObject,
    /// Previous values.
    pub old_object: UserObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Zoom user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserObject {
    /// User id.
    pub id: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// User type number.
    #[serde(rename = "type")]
    pub kind: Option<i64>,
    /// Other (changed) fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserObject {
    /// Display name, else first + last, else email, else id.
    pub fn name(&self) -> String {
        if let Some(d) = self.display_name.as_deref().filter(|s| !s.is_empty()) {
            return d.to_owned();
        }
        let full = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !full.is_empty() {
            return full;
        }
        self.email.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// Payload of the legacy `chat_message.*` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatMessageEvent {
    /// Account.
    pub account_id: String,
    /// Sender email.
    pub operator: Option<String>,
    /// Sender user id.
    pub operator_id: Option<String>,
    /// The message.
    pub object: ChatMessageObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A legacy Team Chat message object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatMessageObject {
    /// Message id.
    pub id: String,
    /// `to_channel` or `to_contact`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// ISO-8601 time.
    pub date_time: Option<String>,
    /// Time in ms.
    pub timestamp: Option<i64>,
    /// Session id.
    pub session_id: Option<String>,
    /// Channel id for channel messages.
    pub channel_id: Option<String>,
    /// Channel name.
    pub channel_name: Option<String>,
    /// DM peer email.
    pub contact_email: Option<String>,
    /// DM peer id.
    pub contact_id: Option<String>,
    /// Text.
    pub message: Option<String>,
    /// Thread parent (`chat_message.replied`).
    pub parent_msg_id: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `team_chat.channel_message_posted` / `dm_message_posted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamChatEvent {
    /// Account.
    pub account_id: String,
    /// Sender email.
    pub operator: Option<String>,
    /// Sender user id.
    pub operator_id: Option<String>,
    /// Sender member id.
    pub operator_member_id: Option<String>,
    /// Whether the sender is outside the account.
    pub by_external_user: Option<bool>,
    /// The message.
    pub object: TeamChatObject,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `team_chat.*` message object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamChatObject {
    /// Message id.
    pub message_id: String,
    /// ISO-8601 time.
    pub date_time: Option<String>,
    /// Time in ms.
    pub timestamp: Option<i64>,
    /// Channel id (channel messages).
    pub channel_id: Option<String>,
    /// Channel name.
    pub channel_name: Option<String>,
    /// DM peer email (DMs).
    pub contact_email: Option<String>,
    /// DM peer id.
    pub contact_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Text.
    pub message: Option<String>,
    /// Thread root for replies.
    pub reply_main_message_id: Option<String>,
    /// Attached files.
    pub files: Vec<TeamChatFile>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A file attached to a Team Chat message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamChatFile {
    /// File id.
    pub file_id: Option<String>,
    /// Name.
    pub file_name: Option<String>,
    /// Bytes.
    pub file_size: Option<i64>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Payload of `bot_notification` (camelCase keys, unlike other events).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BotNotification {
    /// Account.
    pub account_id: Option<String>,
    /// Channel name, when sent in a channel.
    pub channel_name: Option<String>,
    /// The command or message text.
    pub cmd: Option<String>,
    /// Bot name.
    pub name: Option<String>,
    /// Bot JID.
    pub robot_jid: Option<String>,
    /// Time in ms.
    pub timestamp: Option<i64>,
    /// Where to reply (user or channel JID).
    pub to_jid: Option<String>,
    /// Sender user id.
    pub user_id: Option<String>,
    /// Sender JID.
    pub user_jid: Option<String>,
    /// Sender name.
    pub user_name: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use crate::{Event, TypedEvent};

    #[test]
    fn meeting_ids_number_or_string() {
        let created = Event::parse(r#"{"event":"meeting.created","event_ts":1,"payload":{"account_id":"a","object":{"id":123,"topic":"T","new_field":{"x":1}}}}"#).unwrap();
        let TypedEvent::MeetingCreated(m) = created.typed().unwrap() else {
            panic!()
        };
        assert_eq!(m.object.id.as_str(), "123");
        assert!(m.object.extra.contains_key("new_field"));
        let started = Event::parse(
            r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":"123"}}}"#,
        )
        .unwrap();
        let TypedEvent::MeetingStarted(s) = started.typed().unwrap() else {
            panic!()
        };
        assert_eq!(s.object.id, m.object.id);
    }

    #[test]
    fn dm_contact_account_id_with_trailing_space_is_tolerated() {
        let e = Event::parse(r#"{"event":"team_chat.dm_message_posted","event_ts":1,"payload":{"operator":"a@x","object":{"message_id":"m1","contact_email":"b@x","contact_account_id ":"acc","message":"hi"}}}"#).unwrap();
        let TypedEvent::DmMessagePosted(d) = e.typed().unwrap() else {
            panic!()
        };
        assert_eq!(d.object.message.as_deref(), Some("hi"));
        assert!(d.object.extra.contains_key("contact_account_id "));
    }

    #[test]
    fn bot_notification_is_camel_case() {
        let e = Event::parse(r#"{"event":"bot_notification","event_ts":1,"payload":{"accountId":"a","cmd":"hello","toJid":"t@xmpp","userJid":"u@xmpp","userName":"Ann"}}"#).unwrap();
        let TypedEvent::BotNotification(b) = e.typed().unwrap() else {
            panic!()
        };
        assert_eq!(b.cmd.as_deref(), Some("hello"));
        assert_eq!(b.user_name.as_deref(), Some("Ann"));
    }
}
