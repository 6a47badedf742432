//! Whether a Team Chat message names us (the host's `WasMentioned`).
//!
//! Team Chat message events carry their mentions in `payload.object.at_items`:
//! `{at_type, at_contact, at_contact_user_id, at_contact_member_id,
//! start_position, end_position}`, where `at_type` 1 names one contact and 2
//! names every member of the channel (see docs/events.md). A chatbot's
//! `team_chat.app_mention` and `bot_notification` are addressed to it, so
//! they count as mentioned. Other events are not a person's chat message and
//! have no answer (`None`).

use serde_json::Value;
use zoom_wire::Event;

/// The event a chatbot receives when it is @-mentioned in a channel.
pub(crate) const APP_MENTION: &str = "team_chat.app_mention";

/// `at_type` of a mention of every channel member (`@all`).
const AT_ALL: i64 = 2;

/// The fields of an `at_items` entry that name the mentioned contact.
const CONTACT_KEYS: [&str; 3] = ["at_contact", "at_contact_user_id", "at_contact_member_id"];

/// Whether `event` mentions one of `ids` (lowercase); `None` for events that
/// are not chat messages.
pub(crate) fn of(event: &Event, ids: &[String]) -> Option<bool> {
    let name = event.event.as_str();
    if name == APP_MENTION || name == "bot_notification" {
        return Some(true);
    }
    if !(name.starts_with("chat_message.") || name.starts_with("team_chat.")) {
        return None;
    }
    let items = event
        .object()
        .and_then(|o| o.get("at_items"))
        .and_then(Value::as_array);
    Some(items.is_some_and(|items| items.iter().any(|item| names_us(item, ids))))
}

fn names_us(item: &Value, ids: &[String]) -> bool {
    let at_type = match item.get("at_type") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if at_type == Some(AT_ALL) {
        return true;
    }
    CONTACT_KEYS
        .iter()
        .filter_map(|k| item.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .any(|c| ids.iter().any(|id| id.eq_ignore_ascii_case(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str, object: Value) -> Event {
        serde_json::from_value(json!({"event": name, "event_ts": 1, "payload": {"operator": "bob@example.com", "object": object}}))
            .unwrap()
    }

    fn ids() -> Vec<String> {
        vec!["bot@example.com".into(), "u-bot".into()]
    }

    #[test]
    fn a_mention_of_our_email_id_or_member_id_counts() {
        for item in [
            json!({"at_type": 1, "at_contact": "Bot@Example.com", "start_position": 0, "end_position": 4}),
            json!({"at_type": 1, "at_contact": "", "at_contact_user_id": "u-bot"}),
            json!({"at_type": "1", "at_contact_member_id": "u-bot"}),
            json!({"at_type": 2, "at_contact": ""}),
        ] {
            let e = event(
                "team_chat.channel_message_posted",
                json!({"message": "@Bot hi", "channel_id": "c1", "at_items": [item.clone()]}),
            );
            assert_eq!(of(&e, &ids()), Some(true), "{item}");
        }
    }

    #[test]
    fn no_or_other_mentions_do_not_count() {
        let other = json!({"message": "@Carol hi", "channel_id": "c1",
            "at_items": [{"at_type": 1, "at_contact": "carol@example.com", "at_contact_user_id": "u-carol"}]});
        assert_eq!(
            of(&event("team_chat.channel_message_posted", other), &ids()),
            Some(false)
        );
        let none = json!({"message": "bot@example.com said hi", "channel_id": "c1"});
        assert_eq!(of(&event("chat_message.sent", none), &ids()), Some(false));
        let odd = json!({"channel_id": "c1", "at_items": "not a list"});
        assert_eq!(
            of(&event("team_chat.channel_message_posted", odd), &ids()),
            Some(false)
        );
        let weird = json!({"channel_id": "c1", "at_items": [7, {"at_type": null}]});
        assert_eq!(
            of(&event("team_chat.channel_message_posted", weird), &ids()),
            Some(false)
        );
        // Nothing configured to be mentioned: only @all names us.
        let all = json!({"channel_id": "c1", "at_items": [{"at_type": 1, "at_contact": ""}]});
        assert_eq!(
            of(&event("team_chat.channel_message_posted", all), &[]),
            Some(false)
        );
    }

    #[test]
    fn chatbot_events_are_mentions_and_meeting_events_have_no_answer() {
        assert_eq!(of(&event(APP_MENTION, json!({})), &[]), Some(true));
        assert_eq!(of(&event("bot_notification", json!({})), &[]), Some(true));
        assert_eq!(
            of(&event("meeting.started", json!({"id": "1"})), &ids()),
            None
        );
    }
}
