//! The generated Zoom event stream: a deterministic mix of meeting events
//! across many meetings and Team Chat messages across channels, as the
//! double-encoded WebSocket `message` frames Zoom sends.
//!
//! Each event's `event_ts` is [`base_ts`] plus its id, and the sidecar (and
//! the baseline) carry `event_ts` into the webhook's `data.dateCreated`, so the
//! receiver recovers the id of every delivered message from its body.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// `event_ts` of event 0: this run's start, to the second; event `i` has
/// `base_ts() + i`. Events are dated now, as Zoom's are: with a fixed date
/// in 2025 every conversation looked quiet for over 90 days, and the
/// sidecar's pruner deleted live conversations, messages and all, every
/// 30 s, work no real account causes.
pub(crate) fn base_ts() -> i64 {
    static BASE: OnceLock<i64> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        i64::try_from(now).unwrap_or(0) * 1000
    })
}

/// Team Chat channels the messages go to.
pub(crate) const CHANNELS: u64 = 50;
/// Meetings the meeting events belong to.
pub(crate) const MEETINGS: u64 = 500;
/// Distinct participants per meeting (bounds each meeting's participant list).
const PARTICIPANTS: u64 = 25;

/// One pre-encoded WebSocket frame per event, shared by every run.
pub(crate) type Frames = Arc<Vec<Arc<str>>>;

/// The Zoom event with id `id`: even ids are Team Chat channel messages, odd
/// ids cycle through participant joins, leaves and meeting starts.
pub(crate) fn event(id: u64) -> Value {
    let base = base_ts();
    let ts = base + i64::try_from(id).unwrap_or(i64::MAX - base);
    let half = id / 2;
    if id % 2 == 0 {
        let channel = half % CHANNELS;
        let sender = if half % 3 == 0 {
            "bob@example.com"
        } else {
            "alice@example.com"
        };
        return json!({
            "event": "team_chat.channel_message_posted",
            "event_ts": ts,
            "payload": {
                "account_id": "fake-account",
                "operator": sender,
                "operator_id": format!("uid-{}", sender.replace(['@', '.'], "-")),
                "object": {
                    "message_id": format!("bench-msg-{id}"),
                    "message": format!("status update {id}: all green, see the dashboard"),
                    "channel_id": format!("bench-ch-{channel}"),
                    "channel_name": format!("Bench channel {channel}"),
                    "timestamp": ts,
                    "date_time": "2025-01-06T08:00:00Z"
                }
            }
        });
    }
    let meeting = 90_000_000_000 + half % MEETINGS;
    let round = half / MEETINGS;
    let user = round / 3 % PARTICIPANTS;
    let object = |extra: Value| {
        let mut o = json!({
            "id": meeting.to_string(),
            "uuid": format!("bench-{meeting}=="),
            "host_id": "host-1",
            "topic": format!("Bench meeting {meeting}"),
            "type": 2,
            "start_time": "2025-01-06T08:00:00Z",
            "timezone": "Europe/Berlin",
            "duration": 30
        });
        if let (Some(o), Value::Object(extra)) = (o.as_object_mut(), extra) {
            o.extend(extra);
        }
        o
    };
    let participant = json!({
        "user_id": format!("{}", 16_778_240 + user),
        "user_name": format!("Participant {user}"),
        "email": format!("p{user}@example.com"),
        "join_time": "2025-01-06T08:01:00Z",
        "leave_time": "2025-01-06T08:31:00Z",
        "participant_uuid": format!("pu-{meeting}-{user}-{round}")
    });
    let (name, object) = match round % 3 {
        0 => (
            "meeting.participant_joined",
            object(json!({ "participant": participant })),
        ),
        1 => (
            "meeting.participant_left",
            object(json!({ "participant": participant })),
        ),
        _ => ("meeting.started", object(json!({}))),
    };
    json!({
        "event": name,
        "event_ts": ts,
        "payload": { "account_id": "fake-account", "object": object }
    })
}

/// The double-encoded `message` frame carrying `event`.
pub(crate) fn frame(event: &Value) -> String {
    json!({
        "module": "message",
        "success": true,
        "content": event.to_string(),
        "header": {}
    })
    .to_string()
}

/// Frames of events `0..n`.
pub(crate) fn frames(n: u64) -> Frames {
    Arc::new((0..n).map(|id| Arc::from(frame(&event(id)))).collect())
}

/// The event id a webhook body names through `data.dateCreated`.
///
/// Read with a typed probe that skips every other field: building a `Value`
/// tree of each 2–4 kB BlueBubbles body cost the receiver about as much CPU
/// as the sidecar's own rendering, on the two cores the system under test
/// shares with the bench.
pub(crate) fn id_of(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        #[serde(rename = "dateCreated")]
        date_created: i64,
    }
    let ts = serde_json::from_slice::<Body>(body).ok()?.data.date_created;
    u64::try_from(ts.checked_sub(base_ts())?).ok()
}

/// How many distinct conversations events `0..n` fall into.
pub(crate) fn conversations(n: u64) -> u64 {
    let chats = n.div_ceil(2).min(CHANNELS);
    let meetings = (n / 2).min(MEETINGS);
    chats + meetings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_double_encoded_and_ids_round_trip() {
        for id in [0, 1, 2, 3, 999, 1001, 77_777] {
            let frame: Value = serde_json::from_str(&frame(&event(id))).unwrap();
            assert_eq!(frame["module"], "message");
            let content: Value = serde_json::from_str(frame["content"].as_str().unwrap()).unwrap();
            let body = json!({"type": "new-message", "data": {"guid": "g", "chats": [{"participants": []}], "dateCreated": content["event_ts"]}});
            assert_eq!(id_of(body.to_string().as_bytes()), Some(id));
        }
        assert_eq!(id_of(br#"{"data": {"dateCreated": 5}}"#), None);
        assert_eq!(id_of(br#"{"data": {"dateCreated": "x"}}"#), None);
        assert_eq!(id_of(b"not json"), None);
        assert_eq!(conversations(4), 4);
        assert_eq!(conversations(1_000_000), CHANNELS + MEETINGS);
    }

    #[test]
    fn the_mix_spans_chats_and_meeting_events() {
        let names: Vec<String> = (0..3000)
            .map(|i| event(i)["event"].as_str().unwrap().to_owned())
            .collect();
        for name in [
            "team_chat.channel_message_posted",
            "meeting.participant_joined",
            "meeting.participant_left",
            "meeting.started",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing");
        }
    }
}
