//! Catch-up after a gap through the real `moltbot-zoom run`: Team Chat
//! messages sent while the WebSocket was down (or the sidecar stopped) are
//! listed on reconnect and delivered in order, bounded per conversation and
//! in total, and a notice in the feed reports the gap; `/status` and
//! `/metrics` count it.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A `chat_message.sent` event: `from` posted `text` (id `id`) in channel
/// `chan-1`, or to us when `channel` is false.
fn chat_event(id: &str, from: &str, text: &str, ts: i64, channel: bool) -> Value {
    let mut object = json!({"id": id, "message": text, "timestamp": ts,
        "date_time": "2025-01-06T09:00:00Z", "session_id": "s-1"});
    if channel {
        object["type"] = "to_channel".into();
        object["channel_id"] = "chan-1".into();
        object["channel_name"] = "General".into();
    } else {
        object["type"] = "to_contact".into();
        object["contact_email"] = "me@example.com".into();
    }
    json!({"event": "chat_message.sent", "event_ts": ts, "payload": {
        "account_id": "fake-account", "operator": from, "operator_id": format!("uid-{from}"),
        "object": object}})
}

/// An item of "List user's chat messages".
fn listed(id: &str, sender: &str, text: &str, ts: i64) -> Value {
    json!({"id": id, "message": text, "sender": sender, "sender_display_name": sender,
        "date_time": "2025-01-06T09:00:00Z", "timestamp": ts})
}

fn texts(got: &[Received]) -> Vec<(String, String)> {
    got.iter()
        .map(|r| {
            let d = &r.body["data"];
            (
                d["chats"][0]["guid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                d["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_caught_up_within_its_bounds_and_reported() {
    let Connected {
        fake,
        receiver,
        dir: _dir,
        config,
        sidecar,
    } = start_connected(
        "catchup",
        "info",
        "catchupMaxPerConversation = 3\ncatchupMaxTotal = 5",
    )
    .await;
    let t0 = now_ms() - 120_000;

    // Seen live: one message in the channel, one DM.
    fake.push_event(chat_event(
        "m-0",
        "alice@example.com",
        "live in channel",
        t0,
        true,
    ));
    fake.push_event(chat_event(
        "d-0",
        "bob@example.com",
        "live dm",
        t0 + 1_000,
        false,
    ));
    let got = receiver.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(got.len(), 2, "{}", sidecar.output());

    // Sent while the socket is down (never pushed): 5 new in the channel
    // (over the per-conversation bound of 3), 3 new DMs, plus what was seen
    // and our own post, which must not come back.
    fake.add_channel_history(
        "chan-1",
        listed("m-0", "alice@example.com", "live in channel", t0),
    );
    for i in 1..=5 {
        fake.add_channel_history(
            "chan-1",
            listed(
                &format!("m-{i}"),
                "alice@example.com",
                &format!("missed channel {i}"),
                t0 + 10_000 + i * 1_000,
            ),
        );
    }
    fake.add_channel_history(
        "chan-1",
        listed("m-own", "me@example.com", "our own post", t0 + 16_000),
    );
    fake.add_contact_history(
        "bob@example.com",
        listed("d-0", "bob@example.com", "live dm", t0 + 1_000),
    );
    for i in 1..=3 {
        fake.add_contact_history(
            "bob@example.com",
            listed(
                &format!("d-{i}"),
                "bob@example.com",
                &format!("missed dm {i}"),
                t0 + 20_000 + i * 1_000,
            ),
        );
    }
    fake.drop_connections(None);

    // 3 DMs (the most recent conversation first, all within its bound), then
    // the total bound leaves 2 for the channel: its latest two. Webhooks of
    // different conversations may interleave; within one, order is kept.
    let got = receiver.wait_for(WAIT, |r| r.len() >= 8).await;
    let t = texts(&got);
    assert_eq!(t.len(), 8, "{t:#?}\n{}", sidecar.output());
    let in_conversation = |t: &[(String, String)], chat: &str| -> Vec<String> {
        t.iter()
            .filter(|(c, _)| c == chat)
            .map(|(_, text)| text.clone())
            .collect()
    };
    assert_eq!(
        in_conversation(&t, "zoom;+;channel:chan-1"),
        ["live in channel", "missed channel 4", "missed channel 5"],
        "{t:#?}"
    );
    assert_eq!(
        in_conversation(&t, "zoom;-;bob@example.com"),
        ["live dm", "missed dm 1", "missed dm 2", "missed dm 3"],
        "{t:#?}"
    );
    let notices = in_conversation(&t, "zoom;+;feed");
    assert_eq!(notices.len(), 1, "{t:#?}");
    let notice = &notices[0];
    assert!(notice.starts_with("Zoom events between "), "{notice}");
    assert!(notice.contains("may be missing"), "{notice}");
    assert!(
        notice.contains("Team Chat messages recovered: 5."),
        "{notice}"
    );
    assert!(
        notice.contains("were missed in zoom;+;channel:chan-1;"),
        "{notice}"
    );
    assert!(!notice.contains("bob@example.com"), "{notice}");
    let hook = got
        .iter()
        .find(|r| r.body["data"]["chats"][0]["guid"] == "zoom;+;feed")
        .unwrap();
    assert_eq!(hook.body["data"]["zoom"]["mode"], "context");
    assert_eq!(hook.body["data"]["zoom"]["eventType"], "zoom.gap");

    let status = sidecar
        .wait_status("the gap counters", |s| s["zoom"]["counters"]["gaps"] == 1)
        .await;
    assert_eq!(
        status["zoom"]["counters"]["messages_recovered"], 5,
        "{status:#}"
    );
    let metrics = sidecar.metrics().await;
    for sample in [
        "moltbot_zoom_gaps_total 1",
        "moltbot_zoom_messages_recovered_total 5",
    ] {
        assert!(
            metrics.lines().any(|l| l == sample),
            "{sample} missing:\n{metrics}"
        );
    }
    let listings = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v2/chat/users/me@example.com/messages")
        .count();
    assert_eq!(listings, 2, "one page per conversation");

    // Stopped, a message arrives, started again: recovered from the saved marks.
    // Every delivery's result committed first (the depth falls only then):
    // a delivery killed before its record is made again after the restart
    // (at-least-once), which this count would take for a recovered message.
    sidecar
        .wait_status("every delivery recorded", |s| s["outbox"]["depth"] == 0)
        .await;
    let _ = sidecar.kill();
    fake.add_channel_history(
        "chan-1",
        listed("m-6", "alice@example.com", "while stopped", now_ms()),
    );
    let sidecar = SidecarProcess::start(&config, "info");
    let got = receiver.wait_for(WAIT, |r| r.len() >= 10).await;
    let t = texts(&got);
    assert_eq!(t.len(), 10, "{t:#?}\n{}", sidecar.output());
    assert_eq!(
        in_conversation(&t, "zoom;+;channel:chan-1")
            .last()
            .map(String::as_str),
        Some("while stopped"),
        "{t:#?}"
    );
    assert_eq!(
        in_conversation(&t, "zoom;-;bob@example.com").len(),
        4,
        "{t:#?}"
    );
    let notices = in_conversation(&t, "zoom;+;feed");
    assert_eq!(notices.len(), 2, "{t:#?}");
    assert!(
        notices[1].contains("Team Chat messages recovered: 1."),
        "{}",
        notices[1]
    );
    assert!(!notices[1].contains("were missed in"), "{}", notices[1]);
}
