use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    BotNotification, ChatMessageEvent, MeetingEvent, MeetingUpdatedEvent, ParticipantEvent,
    RecordingEvent, TeamChatEvent, UserEvent, UserUpdatedEvent, WireError,
};

/// A webhook-format event: `{"event", "event_ts", "payload", …}`.
///
/// This is the envelope as received; [`Event::typed`] decodes the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event name, e.g. `meeting.started`.
    pub event: String,
    /// When the event occurred, in ms since the epoch (optional for some events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ts: Option<i64>,
    /// The payload, kept raw.
    #[serde(default)]
    pub payload: Value,
    /// `recording.completed` carries a top-level download token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_token: Option<String>,
    /// Any other top-level fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An event decoded into the payload type its name calls for.
///
/// Built once per event and consumed at once, so the variants are not boxed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum TypedEvent {
    /// `meeting.created`
    MeetingCreated(MeetingEvent),
    /// `meeting.updated`
    MeetingUpdated(MeetingUpdatedEvent),
    /// `meeting.deleted`
    MeetingDeleted(MeetingEvent),
    /// `meeting.started`
    MeetingStarted(MeetingEvent),
    /// `meeting.ended`
    MeetingEnded(MeetingEvent),
    /// `meeting.participant_joined`
    ParticipantJoined(ParticipantEvent),
    /// `meeting.participant_left`
    ParticipantLeft(ParticipantEvent),
    /// `recording.completed`
    RecordingCompleted(RecordingEvent),
    /// `user.created`
    UserCreated(UserEvent),
    /// `user.updated`
    UserUpdated(UserUpdatedEvent),
    /// `chat_message.sent`
    ChatMessageSent(ChatMessageEvent),
    /// `chat_message.updated`
    ChatMessageUpdated(ChatMessageEvent),
    /// `chat_message.deleted`
    ChatMessageDeleted(ChatMessageEvent),
    /// `chat_message.replied`
    ChatMessageReplied(ChatMessageEvent),
    /// `team_chat.channel_message_posted`
    ChannelMessagePosted(TeamChatEvent),
    /// `team_chat.dm_message_posted`
    DmMessagePosted(TeamChatEvent),
    /// `bot_notification`
    BotNotification(BotNotification),
    /// Any other event name; the envelope is kept raw.
    Other,
}

impl Event {
    /// Decodes a `message` frame's `content`: a JSON string (Zoom's double
    /// encoding) or an object. Returns the event and the raw JSON text.
    ///
    /// # Errors
    /// `content` is not a string or object, or is not an event.
    pub fn from_content(content: Value) -> Result<(Self, String), WireError> {
        match content {
            Value::String(text) => {
                let event = Self::parse(&text)?;
                Ok((event, text))
            }
            Value::Object(_) => {
                let text = content.to_string();
                let event = Self::from_value(content)?;
                Ok((event, text))
            }
            _ => Err(WireError::BadContent),
        }
    }

    /// Parses an event from JSON text. Integers beyond 64 bits (ids) are kept
    /// as strings of their exact digits, never rounded through `f64`.
    ///
    /// # Errors
    /// Not JSON, or no `event` name.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        Self::from_value(crate::exact::parse_value(text)?)
    }

    /// Builds an event from a JSON value.
    ///
    /// # Errors
    /// Not an object, or no string `event` name.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        // Taken apart by hand: deriving with `#[serde(flatten)]` buffers the
        // whole payload tree through serde's `Content` twice per event.
        let Value::Object(mut extra) = value else {
            return Err(WireError::MissingEventName);
        };
        let Some(Value::String(event)) = extra.remove("event") else {
            return Err(WireError::MissingEventName);
        };
        let mut field = |key: &str| extra.remove(key).unwrap_or(Value::Null);
        let event_ts = Option::<i64>::deserialize(field("event_ts"))?;
        let payload = field("payload");
        let download_token = Option::<String>::deserialize(field("download_token"))?;
        Ok(Self {
            event,
            event_ts,
            payload,
            download_token,
            extra,
        })
    }

    /// `payload.account_id`, when present.
    pub fn account_id(&self) -> Option<&str> {
        self.payload.get("account_id").and_then(Value::as_str)
    }

    /// `payload.operator_id`, when present.
    pub fn operator_id(&self) -> Option<&str> {
        self.payload.get("operator_id").and_then(Value::as_str)
    }

    /// `payload.object`, when present.
    pub fn object(&self) -> Option<&Value> {
        self.payload.get("object")
    }

    /// Decodes the payload into the type its event name calls for.
    ///
    /// # Errors
    /// A known event whose payload does not fit its type.
    pub fn typed(&self) -> Result<TypedEvent, WireError> {
        // Decoded from a borrow: no copy of the payload tree.
        fn p<'a, T: Deserialize<'a>>(v: &'a Value) -> Result<T, serde_json::Error> {
            T::deserialize(v)
        }
        let v = &self.payload;
        Ok(match self.event.as_str() {
            "meeting.created" => TypedEvent::MeetingCreated(p(v)?),
            "meeting.updated" => TypedEvent::MeetingUpdated(p(v)?),
            "meeting.deleted" => TypedEvent::MeetingDeleted(p(v)?),
            "meeting.started" => TypedEvent::MeetingStarted(p(v)?),
            "meeting.ended" => TypedEvent::MeetingEnded(p(v)?),
            "meeting.participant_joined" => TypedEvent::ParticipantJoined(p(v)?),
            "meeting.participant_left" => TypedEvent::ParticipantLeft(p(v)?),
            "recording.completed" => TypedEvent::RecordingCompleted(p(v)?),
            "user.created" => TypedEvent::UserCreated(p(v)?),
            "user.updated" => TypedEvent::UserUpdated(p(v)?),
            "chat_message.sent" => TypedEvent::ChatMessageSent(p(v)?),
            "chat_message.updated" => TypedEvent::ChatMessageUpdated(p(v)?),
            "chat_message.deleted" => TypedEvent::ChatMessageDeleted(p(v)?),
            "chat_message.replied" => TypedEvent::ChatMessageReplied(p(v)?),
            "team_chat.channel_message_posted" => TypedEvent::ChannelMessagePosted(p(v)?),
            "team_chat.dm_message_posted" => TypedEvent::DmMessagePosted(p(v)?),
            "bot_notification" => TypedEvent::BotNotification(p(v)?),
            _ => TypedEvent::Other,
        })
    }

    /// A stable identity for this occurrence of the event: the event name,
    /// `event_ts`, and the ids of the objects it concerns (meeting, message,
    /// participant and their times). Redeliveries of one event, over either
    /// transport, share it; two different events do not.
    pub fn identity(&self) -> String {
        let mut parts = vec![
            self.event.clone(),
            self.event_ts.map(|t| t.to_string()).unwrap_or_default(),
        ];
        let obj = self.object();
        let field = |v: Option<&Value>, k: &str| -> String {
            match v.and_then(|v| v.get(k)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        for key in [
            "id",
            "uuid",
            "message_id",
            "msg_id",
            "channel_id",
            "session_id",
        ] {
            parts.push(field(obj, key));
        }
        let participant = obj.and_then(|o| o.get("participant"));
        for key in [
            "participant_uuid",
            "id",
            "user_id",
            "email",
            "user_name",
            "join_time",
            "leave_time",
        ] {
            parts.push(field(participant, key));
        }
        if self.event == "bot_notification" || parts[2..].iter().all(String::is_empty) {
            // Nothing object-like to key on: fall back to the whole payload,
            // serialised with sorted keys (serde_json's default map).
            parts.push(hex::encode(Sha256::digest(self.payload.to_string())));
        }
        parts.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_are_other_and_keep_everything() {
        let e = Event::parse(
            r#"{"event":"phone.callee_ringing","event_ts":1,"payload":{"x":1},"extra_top":true}"#,
        )
        .unwrap();
        assert_eq!(e.typed().unwrap(), TypedEvent::Other);
        assert_eq!(e.payload["x"], 1);
        assert_eq!(e.extra["extra_top"], true);
    }

    #[test]
    fn from_value_agrees_with_the_derived_deserializer() {
        for text in [
            r#"{"event":"meeting.started","event_ts":5,"payload":{"object":{"id":1}},"download_token":"t","x":[1]}"#,
            r#"{"event":"a","event_ts":null,"payload":null,"download_token":null}"#,
            r#"{"event":"a"}"#,
            r#"{"event":"a","event_ts":"5"}"#,
            r#"{"event":"a","event_ts":1.5}"#,
            r#"{"event":"a","download_token":7}"#,
            r#"{"event":"a","event_ts":1,"event_ts":2,"extra":{"deep":[null]}}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let derived = serde_json::from_value::<Event>(value.clone()).map_err(|e| e.to_string());
            let by_hand = Event::from_value(value).map_err(|e| e.to_string());
            match (&derived, &by_hand) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{text}: derived {derived:?}, by hand {by_hand:?}"),
            }
        }
    }

    #[test]
    fn event_name_is_required() {
        assert!(matches!(
            Event::parse(r#"{"payload":{}}"#),
            Err(WireError::MissingEventName)
        ));
        assert!(matches!(
            Event::parse(r#"{"event":5}"#),
            Err(WireError::MissingEventName)
        ));
    }

    #[test]
    fn identity_separates_participants_and_matches_redelivery() {
        let a = r#"{"event":"meeting.participant_joined","event_ts":10,"payload":{"object":{"id":"1","uuid":"u","participant":{"user_id":"16778240","user_name":"Ann","join_time":"2021-07-13T21:45:00Z"}}}}"#;
        let b = a.replace("Ann", "Bob");
        let ea = Event::parse(a).unwrap();
        let eb = Event::parse(&b).unwrap();
        assert_ne!(ea.identity(), eb.identity());
        let reordered: Value = serde_json::from_str(a).unwrap();
        let again = Event::from_value(reordered).unwrap();
        assert_eq!(ea.identity(), again.identity());
    }
}
