//! Reactions, edits and deletes through the real sidecar and a fake Zoom:
//! BlueBubbles' `message/react`, `message/:guid/edit` and `/unsend` reach
//! Zoom's emoji-reaction, update and delete APIs (an unknown reaction and a
//! deleted message are clear errors), and Zoom's reaction events come back as
//! context notices, our own excepted.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

async fn call(url: &str, body: Value) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The BlueBubbles error message of an error answer.
fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap()
}

fn reaction_event(operator: &str, msg_id: &str, emoji: &str, ts: i64) -> Value {
    json!({
        "event": "team_chat.channel_reaction_added",
        "event_ts": ts,
        "payload": {
            "account_id": "fake-account",
            "operator": operator,
            "operator_id": format!("{operator}-id"),
            "operator_member_id": "member",
            "by_external_user": false,
            "object": {
                "emoji": emoji,
                "emoji_time": "2026-11-30T10:00:05Z",
                "msg_time": "2026-11-30T10:00:00Z",
                "msg_id": msg_id,
                "channel_id": "chan-1",
                "timestamp": ts,
            },
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_edits_and_deletes_reach_zoom_and_reactions_come_back_as_notices() {
    let Connected {
        fake,
        receiver,
        dir: _dir,
        sidecar,
        ..
    } = start_connected("chat-actions", "info", "").await;
    sidecar
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    let api = |path: &str| format!("{}/api/v1/{path}?password={PASSWORD}", sidecar.url);
    let chat = "zoom;+;channel:chan-1";

    let (status, sent) = call(
        &api("message/text"),
        json!({"chatGuid": chat, "tempGuid": "t-1", "message": "draft"}),
    )
    .await;
    assert_eq!(status, 200, "{sent:#}");
    let guid = sent["data"]["guid"].as_str().unwrap().to_owned();

    // Reactions: a tapback name, its removal, an unknown one.
    for reaction in ["like", "-like"] {
        let (status, body) = call(
            &api("message/react"),
            json!({"chatGuid": chat, "selectedMessageGuid": guid, "reaction": reaction, "partIndex": 0}),
        )
        .await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["message"], "Reaction sent!");
    }
    let (status, body) = call(
        &api("message/react"),
        json!({"chatGuid": chat, "selectedMessageGuid": guid, "reaction": "thumbsup"}),
    )
    .await;
    assert_eq!(status, 400, "{body:#}");
    assert!(
        error_message(&body).contains("unknown reaction `thumbsup`"),
        "{body:#}"
    );

    // Edit, then delete, then edit the deleted message: Zoom has it no more.
    let (status, body) = call(
        &api(&format!("message/{guid}/edit")),
        json!({"editedMessage": "final", "backwardsCompatibilityMessage": "Edited to: final", "partIndex": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let (status, body) = call(
        &api(&format!("message/{guid}/unsend")),
        json!({"partIndex": 0}),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let (status, body) = call(
        &api(&format!("message/{guid}/edit")),
        json!({"editedMessage": "again", "backwardsCompatibilityMessage": "x"}),
    )
    .await;
    assert_eq!(status, 404, "{body:#}");
    assert!(
        error_message(&body).contains("Message does not exist"),
        "{body:#}"
    );

    let ops = fake.chat_ops();
    let summary: Vec<_> = ops
        .iter()
        .map(|o| {
            (
                o.kind.as_str(),
                o.message_id.as_str(),
                o.action.as_deref(),
                o.emoji.as_deref(),
                o.message.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("react", guid.as_str(), Some("add"), Some("U+1F44D"), None),
            (
                "react",
                guid.as_str(),
                Some("remove"),
                Some("U+1F44D"),
                None
            ),
            ("edit", guid.as_str(), None, None, Some("final")),
            ("delete", guid.as_str(), None, None, None),
        ]
    );
    assert!(
        ops.iter()
            .all(|o| o.to_channel.as_deref() == Some("chan-1"))
    );
    assert!(ops.iter().all(|o| o.user_id == "me@example.com"));

    // A reaction to a message received: its Zoom id is found from our guid.
    fake.push_event(json!({
        "event": "team_chat.channel_message_posted",
        "event_ts": 1_764_496_800_000_i64,
        "payload": {
            "account_id": "fake-account", "operator": "bob@example.com", "operator_id": "bob-id",
            "object": {"message_id": "bob-msg-1", "message": "shipped", "channel_id": "chan-1", "channel_name": "Ops", "timestamp": 1_764_496_800_000_i64},
        },
    }));
    let got = receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    let inbound_guid = got[0].body["data"]["guid"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &api("message/react"),
        json!({"chatGuid": chat, "selectedMessageGuid": inbound_guid, "reaction": "love"}),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let last = fake.chat_ops().pop().unwrap();
    assert_eq!(last.message_id, "bob-msg-1");
    assert_eq!(last.emoji.as_deref(), Some("U+2764 U+FE0F"));

    // Zoom's reaction events: ours is dropped, Bob's is a context notice.
    fake.push_event(reaction_event(
        "me@example.com",
        "bob-msg-1",
        "U+2764",
        1_764_496_801_000,
    ));
    fake.push_event(reaction_event(
        "bob@example.com",
        &guid,
        "U+1F44D",
        1_764_496_802_000,
    ));
    let got = receiver.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let data = &got[1].body["data"];
    assert_eq!(
        data["text"],
        "bob@example.com reacted with 👍 to a message (sent 2026-11-30 10:00 UTC)"
    );
    assert_eq!(data["zoom"]["mode"], "context");
    assert_eq!(
        data["zoom"]["eventType"],
        "team_chat.channel_reaction_added"
    );
    assert_eq!(data["chats"][0]["guid"], chat);
    drop(sidecar);
}

/// A Team Chat message posted in `chan-1` (a reply when `root` is given).
fn posted(message_id: &str, text: &str, root: Option<&str>, ts: i64) -> Value {
    let mut object = json!({"message_id": message_id, "message": text, "channel_id": "chan-1", "channel_name": "Ops", "timestamp": ts});
    if let Some(root) = root {
        object["reply_main_message_id"] = json!(root);
    }
    json!({
        "event": "team_chat.channel_message_posted",
        "event_ts": ts,
        "payload": {"account_id": "fake-account", "operator": "bob@example.com", "operator_id": "bob-id", "object": object},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_received_messages_take_reactions_and_threaded_replies_and_a_split_reply_unsends_whole()
 {
    let Connected {
        fake,
        receiver,
        dir: _dir,
        sidecar: first,
        config,
    } = start_connected("chat-actions-restart", "info", "").await;
    fake.push_event(posted("bob-root", "release?", None, 1_764_496_800_000));
    fake.push_event(posted(
        "bob-reply",
        "shipped",
        Some("bob-root"),
        1_764_496_801_000,
    ));
    let got = receiver
        .wait_for(WAIT, |r| without_gap_notices(r).len() >= 2)
        .await;
    let got = without_gap_notices(&got);
    let guid = |i: usize| got[i].body["data"]["guid"].as_str().unwrap().to_owned();
    let (root, reply) = (guid(0), guid(1));
    assert!(root.starts_with("zoom-ev-") && reply.starts_with("zoom-ev-"));
    // A long reply, split into three posts.
    let long = ["a", "b", "c"].map(|p| p.repeat(800)).join("\n\n");
    let (status, body) = call(
        &format!("{}/api/v1/message/text?password={PASSWORD}", first.url),
        json!({"chatGuid": "zoom;+;channel:chan-1", "tempGuid": "t-long", "message": long}),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let long_guid = body["data"]["guid"].as_str().unwrap().to_owned();
    let parts: Vec<String> = fake
        .team_chat_messages()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0], long_guid);
    // The sidecar's memory of Zoom's ids goes with the process.
    first.kill();

    let second = SidecarProcess::start(&config, "info");
    second
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    let api = |path: &str| format!("{}/api/v1/{path}?password={PASSWORD}", second.url);
    let chat = "zoom;+;channel:chan-1";
    let (status, body) = call(
        &api("message/react"),
        json!({"chatGuid": chat, "selectedMessageGuid": reply, "reaction": "like"}),
    )
    .await;
    assert_eq!(status, 200, "{body:#}\n{}", second.output());
    let last = fake.chat_ops().pop().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.message_id.as_str()),
        ("react", "bob-reply")
    );

    // Unsending the long reply deletes its three parts; again, there is
    // nothing left: Zoom's 404.
    let unsend = api(&format!("message/{long_guid}/unsend"));
    let (status, body) = call(&unsend, json!({})).await;
    assert_eq!(status, 200, "{body:#}");
    let deleted: Vec<String> = fake
        .chat_ops()
        .into_iter()
        .filter(|o| o.kind == "delete")
        .map(|o| o.message_id)
        .collect();
    assert_eq!(deleted, parts);
    let (status, body) = call(&unsend, json!({})).await;
    assert_eq!(status, 404, "{body:#}");

    // Replies go into the thread: a reply's root, or the message itself.
    for (selected, thread) in [(&reply, "bob-root"), (&root, "bob-root")] {
        let (status, body) = call(
            &api("message/text"),
            json!({"chatGuid": chat, "tempGuid": format!("t-{selected}"), "message": "noted", "selectedMessageGuid": selected}),
        )
        .await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["data"]["threadOriginatorGuid"], selected.as_str());
        let sent = fake.team_chat_messages().pop().unwrap();
        assert_eq!(
            sent.body.reply_main_message_id.as_deref(),
            Some(thread),
            "{sent:?}"
        );
    }
}
