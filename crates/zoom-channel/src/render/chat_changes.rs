//! `team_chat.*` edits, deletes and emoji reactions (Zoom Team Chat events
//! `channel_message_updated` / `dm_message_updated`, `…_deleted`,
//! `channel_reaction_added` / `…_removed`, `dm_reaction_…`) as notices in the
//! message's conversation. By default they are context (the host's system
//! events), not turns.

use serde_json::Value;
use zoom_wire::{Event, emoji_from_code_points};

use super::{Content, Renderer, chat_sender, conversation, utc_time};

/// What changed.
enum Change {
    Edited,
    Deleted,
    Reacted { added: bool },
}

fn change_of(event: &str) -> Option<Change> {
    let name = event.strip_prefix("team_chat.")?;
    Some(match name {
        "channel_message_updated" | "dm_message_updated" => Change::Edited,
        "channel_message_deleted" | "dm_message_deleted" => Change::Deleted,
        "channel_reaction_added" | "dm_reaction_added" => Change::Reacted { added: true },
        "channel_reaction_removed" | "dm_reaction_removed" => Change::Reacted { added: false },
        _ => return None,
    })
}

/// Whether `event` is an edit, delete or reaction this module renders.
pub(super) fn is_chat_change(event: &Event) -> bool {
    change_of(&event.event).is_some()
}

/// Whether the change was made by us (`own_ids`, lowercase): our own
/// reactions, edits and deletes come back as events and are not news.
pub(super) fn by_us(event: &Event, own_ids: &[String]) -> bool {
    is_chat_change(event)
        && ["operator", "operator_id"].iter().any(|k| {
            event
                .payload
                .get(*k)
                .and_then(Value::as_str)
                .is_some_and(|op| own_ids.contains(&op.to_lowercase()))
        })
}

impl Renderer {
    /// The notice of an edit, delete or reaction.
    pub(super) fn chat_change(&self, event: &Event) -> Content {
        let change = change_of(&event.event).unwrap_or(Change::Edited);
        let p = &event.payload;
        let o = event.object().cloned().unwrap_or(Value::Null);
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let sender = chat_sender(s(p, "operator").as_deref(), s(p, "operator_id").as_deref());
        let conversation = match s(&o, "channel_id") {
            Some(channel) => conversation::channel(&channel, s(&o, "channel_name").as_deref()),
            None => self.dm_conversation(
                &sender,
                s(&o, "contact_email").as_deref(),
                s(&o, "contact_id").as_deref(),
            ),
        };
        let who = &sender.id;
        let body = match change {
            Change::Edited => format!(
                "{who} edited a message: {}",
                s(&o, "message").unwrap_or_default()
            ),
            Change::Deleted => format!("{who} deleted a message"),
            Change::Reacted { added } => {
                let spelled = s(&o, "emoji").unwrap_or_default();
                let emoji = emoji_from_code_points(&spelled).unwrap_or(spelled);
                let sent = s(&o, "msg_time")
                    .map(|t| format!(" (sent {})", utc_time(&t)))
                    .unwrap_or_default();
                if added {
                    format!("{who} reacted with {emoji} to a message{sent}")
                } else {
                    format!("{who} removed the reaction {emoji} from a message{sent}")
                }
            }
        };
        Content {
            conversation,
            sender,
            body,
            reply_to_id: None,
            participants: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoomChannelConfig;
    use crate::render::Rendered;

    fn render(json: &str) -> moltbot_channel::InboundMessage {
        let event = Event::parse(json).unwrap();
        match Renderer::new(&ZoomChannelConfig::default()).render(&event, 1) {
            Rendered::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reactions_edits_and_deletes_read_as_notices() {
        // Zoom's example payload of team_chat.channel_reaction_added.
        let m = render(
            r#"{"event":"team_chat.channel_reaction_added","payload":{"operator_member_id":"m","account_id":"a","operator_id":"TlrtEHSyQA-fi-RBu2qKEw","operator":"test@gmail.com","by_external_user":false,"object":{"emoji":"U+1f44c","emoji_time":"2023-12-29T17:52:23Z","msg_time":"2023-12-29T17:51:33Z","msg_id":"B88C3A45","channel_id":"7886237a99ff44499add640d98606264","timestamp":1703872343211}},"event_ts":1703872343252}"#,
        );
        assert_eq!(
            m.body,
            "test@gmail.com reacted with 👌 to a message (sent 2023-12-29 17:51 UTC)"
        );
        assert_eq!(
            m.conversation.id,
            "zoom;+;channel:7886237a99ff44499add640d98606264"
        );
        assert_eq!(m.mode, moltbot_channel::DeliveryMode::Context);
        let m = render(
            r#"{"event":"team_chat.dm_reaction_removed","payload":{"operator":"test@zoom.us","object":{"emoji":"test","msg_id":"33D4","contact_email":"test@gmail.com"}},"event_ts":1}"#,
        );
        assert_eq!(
            m.body,
            "test@zoom.us removed the reaction test from a message"
        );
        assert_eq!(m.conversation.id, "zoom;-;test@zoom.us");
        let m = render(
            r#"{"event":"team_chat.channel_message_updated","payload":{"operator":"bob@example.com","object":{"message_id":"x","channel_id":"c1","message":"fixed typo"}},"event_ts":2}"#,
        );
        assert_eq!(m.body, "bob@example.com edited a message: fixed typo");
        let m = render(
            r#"{"event":"team_chat.dm_message_deleted","payload":{"operator":"bob@example.com","object":{"message_id":"x","contact_email":"me@example.com"}},"event_ts":3}"#,
        );
        assert_eq!(m.body, "bob@example.com deleted a message");
    }

    #[test]
    fn our_own_changes_are_recognised() {
        let event = Event::parse(r#"{"event":"team_chat.dm_reaction_added","payload":{"operator":"Me@Example.com","object":{"emoji":"U+1F44D","msg_id":"m"}}}"#).unwrap();
        assert!(by_us(&event, &["me@example.com".into()]));
        assert!(!by_us(&event, &["other@example.com".into()]));
    }
}
