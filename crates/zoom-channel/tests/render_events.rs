//! Every typed event rendered from a realistic fixture, and `docs/events.md`
//! generated from the same table so it cannot drift.

use std::path::{Path, PathBuf};

use moltbot_channel::{ChatType, DeliveryMode, InboundMessage};
use zoom_channel::{Rendered, Renderer, Routing, SendAs, SkipReason, ZoomChannelConfig};
use zoom_wire::Event;

struct Case {
    fixture: &'static str,
    conversation: &'static str,
    kind: ChatType,
    label: Option<&'static str>,
    sender: &'static str,
    reply_to: Option<&'static str>,
    message_id: &'static str,
    body: &'static str,
    /// `WasMentioned` for the configured user (`None`: not a person's message).
    mentioned: Option<bool>,
}

/// Fixtures of events the renderer does not model (rendered generically).
const UNMODELLED: [&str; 2] = ["meeting.sharing_started", "unknown"];

/// Fixtures of events rendered through the Team Chat message shape without a typed payload.
const SHAPED_AS_TEAM_CHAT: [&str; 1] = ["team_chat.app_mention"];

/// Fixtures of Team Chat edits and reactions, rendered from the raw payload as notices.
const CHAT_CHANGES: [&str; 2] = [
    "team_chat.channel_reaction_added",
    "team_chat.dm_message_updated",
];

const CASES: &[Case] = &[
    Case {
        fixture: "meeting.created",
        conversation: "zoom;+;meeting:85746065432",
        kind: ChatType::Group,
        label: Some("Weekly sync"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa243f300f1711303e829a8d06471",
        body: "Meeting scheduled: \"Weekly sync\" (ID 85746065432), host ann@example.com, starts 2021-07-14 16:00 UTC (America/Los_Angeles) for 45 min. Join: https://zoom.us/j/85746065432",
        mentioned: None,
    },
    Case {
        fixture: "meeting.updated",
        conversation: "zoom;+;meeting:85746065432",
        kind: ChatType::Group,
        label: Some("Weekly planning"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa25335407db580557afd44359c21",
        body: "Meeting updated: \"Weekly planning\" (ID 85746065432) by ann@example.com: duration 45 → 60; start_time 2021-07-14 16:00 UTC → 2021-07-14 17:00 UTC; topic \"Weekly sync\" → \"Weekly planning\".",
        mentioned: None,
    },
    Case {
        fixture: "meeting.deleted",
        conversation: "zoom;+;meeting:85746065432",
        kind: ChatType::Group,
        label: Some("Weekly planning"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa2627780e2ba0fa3ac69da3f9097",
        body: "Meeting deleted: \"Weekly planning\" (ID 85746065432) by ann@example.com; it was scheduled for 2021-07-14 17:00 UTC (America/Los_Angeles).",
        mentioned: None,
    },
    Case {
        fixture: "meeting.started",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa2e716f4a2c2e4ea496a9dad163a",
        body: "Meeting started: \"My Meeting\" (ID 1234567890), host x1yCzABCDEfg23HiJKl4mN, at 2021-07-13 21:44 UTC (America/Los_Angeles).",
        mentioned: None,
    },
    Case {
        fixture: "meeting.ended",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa322ba404005d55c2ef7fb2fdf84",
        body: "Meeting ended: \"My Meeting\" (ID 1234567890), host x1yCzABCDEfg23HiJKl4mN, 2021-07-13 21:44 UTC → 2021-07-13 22:49 UTC (America/Los_Angeles), lasted 1 h 5 min.",
        mentioned: None,
    },
    Case {
        fixture: "meeting.participant_joined",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa2e737e086e98995ecc445e77e3e",
        body: "Bob Smith (bob@example.com) joined \"My Meeting\" (ID 1234567890) at 2021-07-13 21:45 UTC.",
        mentioned: None,
    },
    Case {
        fixture: "meeting.participant_left",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa32133a0c5b55a2f9ad70ad7c731",
        body: "Bob Smith (bob@example.com) left \"My Meeting\" (ID 1234567890) at 2021-07-13 22:48 UTC (reason: left the meeting).",
        mentioned: None,
    },
    Case {
        fixture: "recording.completed",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa3381700d8071e01e69ad29b518c",
        body: "Recording ready: \"My Meeting\" (ID 1234567890), started 2021-07-13 21:44 UTC, 1 h 5 min, 3 files (251.9 MB): MP4 [shared screen with speaker view] 240.0 MB, M4A [audio only] 11.9 MB, TRANSCRIPT [audio transcript] 12.4 KB. Share link: https://zoom.us/rec/share/4fOpJ3Gr9mXy",
        mentioned: None,
    },
    Case {
        fixture: "user.created",
        conversation: "zoom;+;feed",
        kind: ChatType::Group,
        label: Some("Zoom"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa3475940da68fe947bd5efb4d1d9",
        body: "User created: Jill Chill (jchill@example.com) by admin@example.com.",
        mentioned: None,
    },
    Case {
        fixture: "user.updated",
        conversation: "zoom;+;feed",
        kind: ChatType::Group,
        label: Some("Zoom"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa3569b801bc8d3e84a1ac430e9c8",
        body: "User updated: Jill Chill (jchill@example.com) by admin@example.com: dept \"Sales\" → \"Research\"; type 1 → 2.",
        mentioned: None,
    },
    Case {
        fixture: "chat_message.sent",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "dave@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa365ddc0e0116b1eaf4ddc61a3ca",
        body: "Can someone summarise yesterday's sync?",
        mentioned: Some(false),
    },
    Case {
        fixture: "chat_message.updated",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "dave@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa3676460baf29cd3deb17e1a0623",
        body: "(edited) Can someone summarise yesterday's planning sync?",
        mentioned: Some(false),
    },
    Case {
        fixture: "chat_message.deleted",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "dave@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa368eb00976c861ac26e2605f69b",
        body: "(deleted a message)",
        mentioned: Some(false),
    },
    Case {
        fixture: "chat_message.replied",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "erin@example.com",
        reply_to: Some("5a1b3c4d-0e2f-4a6b-8c9d-1e2f3a4b5c6d"),
        message_id: "zoom-ev-017aa36a71a0be14f939ccaeea0eada8",
        body: "I'll post the notes in a minute.",
        mentioned: Some(false),
    },
    Case {
        fixture: "team_chat.channel_message_posted",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "erin@example.com",
        reply_to: Some("5a1b3c4d-0e2f-4a6b-8c9d-1e2f3a4b5c6d"),
        message_id: "zoom-ev-017aa36bf840394f891164484efee031",
        body: "Notes from the sync are attached.\n[file] sync-notes.pdf (180.0 KB)",
        mentioned: Some(false),
    },
    Case {
        fixture: "team_chat.app_mention",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: Some("Project Falcon"),
        sender: "erin@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa37520008f4b77679b0e5926cd07",
        body: "@Falcon Bot what is blocking the release?",
        mentioned: Some(true),
    },
    Case {
        fixture: "team_chat.channel_reaction_added",
        conversation: "zoom;+;channel:chan-1",
        kind: ChatType::Channel,
        label: None,
        sender: "erin@example.com",
        reply_to: None,
        message_id: "zoom-ev-018cb6b4acd4817076a1229baea8598f",
        body: "erin@example.com reacted with 👌 to a message (sent 2023-12-29 17:51 UTC)",
        mentioned: Some(false),
    },
    Case {
        fixture: "team_chat.dm_message_updated",
        conversation: "zoom;-;alice@example.com",
        kind: ChatType::Direct,
        label: None,
        sender: "alice@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa2e716f450478a1c572dd2df7b13",
        body: "alice@example.com edited a message: Remind me to send the Q3 numbers at 5pm.",
        mentioned: Some(false),
    },
    Case {
        fixture: "team_chat.dm_message_posted",
        conversation: "zoom;-;alice@example.com",
        kind: ChatType::Direct,
        label: None,
        sender: "alice@example.com",
        reply_to: None,
        message_id: "zoom-ev-017aa36d7ee089a49d8635c45f1954f5",
        body: "Remind me to send the Q3 numbers at 4pm.",
        mentioned: Some(false),
    },
    Case {
        fixture: "bot_notification",
        conversation: "zoom;-;kdykjnimt4kpd8ffgqt9fq@xmpp.zoom.us",
        kind: ChatType::Direct,
        label: Some("Frank Ocean"),
        sender: "kdykjnimt4kpd8ffgqt9fq@xmpp.zoom.us",
        reply_to: None,
        message_id: "zoom-ev-017aa36f058074f9138b4af210ff26c4",
        body: "what's on my calendar tomorrow?",
        mentioned: Some(true),
    },
    Case {
        fixture: "meeting.sharing_started",
        conversation: "zoom;+;meeting:1234567890",
        kind: ChatType::Group,
        label: Some("My Meeting"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa1d923400a0adeadf30f61de1018",
        body: "meeting.sharing_started: topic \"My Meeting\", id 1234567890, uuid \"4444AAAiAAAAAiAiAiiAii==\", duration 60, host_id \"x1yCzABCDEfg23HiJKl4mN\", start_time \"2021-07-13T21:44:51Z\", timezone \"America/Los_Angeles\", type 2, participant.id \"iFxeBPYun6SAiWUzBcEkX\", participan…",
        mentioned: None,
    },
    Case {
        fixture: "unknown",
        conversation: "zoom;+;feed",
        kind: ChatType::Group,
        label: Some("Zoom"),
        sender: "zoom",
        reply_to: None,
        message_id: "zoom-ev-017aa3708c203d1f5ff0164fb4bfc619",
        body: "phone.callee_ringing: id \"7183371562389234534\", call_id \"7183371562389234534\", ringing_start_time \"2021-07-14T05:15:00Z\", callee.extension_number 1001, callee.name \"Main line\", caller.name \"Grace Hopper\", caller.phone_number \"+12055550100\"",
        mentioned: None,
    },
];

fn config() -> ZoomChannelConfig {
    ZoomChannelConfig {
        subscription_id: "sub-1".into(),
        send_as: SendAs::User {
            sender: "me@example.com".into(),
        },
        ..Default::default()
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Event {
    let path = crate_dir().join("fixtures").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    Event::parse(&text).unwrap()
}

fn message(renderer: &Renderer, event: &Event) -> InboundMessage {
    match renderer.render(event, 42) {
        Rendered::Message(m) => m,
        other => panic!("{}: {other:?}", event.event),
    }
}

#[test]
fn every_typed_event_rendered() {
    let renderer = Renderer::new(&config());
    let mut fixtures: Vec<String> = std::fs::read_dir(crate_dir().join("fixtures"))
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".json").to_owned()
        })
        .collect();
    fixtures.sort();
    let mut covered: Vec<String> = CASES.iter().map(|c| c.fixture.to_owned()).collect();
    covered.sort();
    assert_eq!(fixtures, covered, "every fixture has a case and vice versa");

    for case in CASES {
        let event = fixture(case.fixture);
        let m = message(&renderer, &event);
        let name = case.fixture;
        assert_eq!(m.body, case.body, "{name}");
        assert_eq!(m.conversation.id, case.conversation, "{name}");
        assert_eq!(m.conversation.kind, case.kind, "{name}");
        assert_eq!(m.conversation.label.as_deref(), case.label, "{name}");
        assert_eq!(m.sender.id, case.sender, "{name}");
        if case.sender == "zoom" {
            assert_eq!(m.sender.name.as_deref(), Some("Zoom"), "{name}");
        }
        assert_eq!(m.reply_to_id.as_deref(), case.reply_to, "{name}");
        assert_eq!(m.mentioned, case.mentioned, "{name}");
        assert_eq!(
            m.message_id, case.message_id,
            "{name}: message ids are stable"
        );
        assert_eq!(m.event_type, event.event, "{name}");
        assert_eq!(m.timestamp_ms, event.event_ts.unwrap(), "{name}");
        assert_eq!(
            m.mode,
            zoom_channel::default_delivery_mode(&event.event),
            "{name}"
        );
        assert_eq!(m.raw, Some(serde_json::to_value(&event).unwrap()), "{name}");
        // Every known event decodes into its typed payload (not the generic fallback).
        if !UNMODELLED.contains(&name)
            && !SHAPED_AS_TEAM_CHAT.contains(&name)
            && !CHAT_CHANGES.contains(&name)
        {
            assert!(
                !matches!(event.typed().unwrap(), zoom_wire::TypedEvent::Other),
                "{name}"
            );
        }
    }
}

#[test]
fn the_raw_event_is_left_out_when_not_wanted_and_nothing_else_changes() {
    let joined = fixture("meeting.participant_joined");
    let with = message(&Renderer::new(&config()), &joined);
    let without = message(
        &Renderer::new(&ZoomChannelConfig {
            raw_event: false,
            ..config()
        }),
        &joined,
    );
    assert_eq!(with.raw, Some(serde_json::to_value(&joined).unwrap()));
    assert_eq!(without.raw, None);
    assert_eq!(InboundMessage { raw: None, ..with }, without);
}

#[test]
fn deterministic_message_ids() {
    let renderer = Renderer::new(&config());
    let joined = fixture("meeting.participant_joined");
    let a = message(&renderer, &joined).message_id;
    // Same event again, re-serialised with a different key order and arrival time.
    let again = Event::parse(&serde_json::to_string(&joined).unwrap()).unwrap();
    let Rendered::Message(b) = renderer.render(&again, 999_999) else {
        panic!()
    };
    assert_eq!(a, b.message_id);
    assert!(a.starts_with("zoom-ev-") && a.len() == "zoom-ev-".len() + 32);

    // A different participant in the same meeting at the same time: different id.
    let mut other = serde_json::to_value(&joined).unwrap();
    other["payload"]["object"]["participant"]["participant_uuid"] = "OTHER-UUID".into();
    other["payload"]["object"]["participant"]["user_name"] = "Carol".into();
    other["payload"]["object"]["participant"]["email"] = "carol@example.com".into();
    other["payload"]["object"]["participant"]["id"] = "carolid".into();
    let other = Event::from_value(other).unwrap();
    assert_ne!(a, message(&renderer, &other).message_id);

    // The subscription id is part of the id.
    let other_sub = Renderer::new(&ZoomChannelConfig {
        subscription_id: "sub-2".into(),
        ..config()
    });
    assert_ne!(a, message(&other_sub, &joined).message_id);
}

#[test]
fn include_exclude_filters() {
    let renderer = Renderer::new(&ZoomChannelConfig {
        include: vec!["meeting.*".into(), "chat_message.*".into()],
        exclude: vec!["meeting.participant_*".into()],
        ..config()
    });
    let kept = ["meeting.started", "meeting.ended", "chat_message.sent"];
    let not_included = ["recording.completed", "user.created", "unknown"];
    let excluded = ["meeting.participant_joined", "meeting.participant_left"];
    for name in kept {
        assert!(
            matches!(renderer.render(&fixture(name), 0), Rendered::Message(_)),
            "{name}"
        );
    }
    for name in not_included {
        assert_eq!(
            renderer.render(&fixture(name), 0),
            Rendered::Skipped {
                reason: SkipReason::NotIncluded
            },
            "{name}"
        );
    }
    for name in excluded {
        assert_eq!(
            renderer.render(&fixture(name), 0),
            Rendered::Skipped {
                reason: SkipReason::Excluded
            },
            "{name}"
        );
    }
    let everything_but_users = Renderer::new(&ZoomChannelConfig {
        exclude: vec!["user.*".into()],
        ..config()
    });
    assert!(matches!(
        everything_but_users.render(&fixture("user.updated"), 0),
        Rendered::Skipped {
            reason: SkipReason::Excluded
        }
    ));
    assert!(matches!(
        everything_but_users.render(&fixture("unknown"), 0),
        Rendered::Message(_)
    ));
}

#[test]
fn feed_routing() {
    let renderer = Renderer::new(&ZoomChannelConfig {
        routing: Routing::Feed,
        ..config()
    });
    for name in [
        "meeting.created",
        "meeting.started",
        "meeting.participant_joined",
        "recording.completed",
        "user.created",
        "meeting.sharing_started",
        "unknown",
    ] {
        let m = message(&renderer, &fixture(name));
        assert_eq!(m.conversation.id, "zoom;+;feed", "{name}");
        assert_eq!(m.conversation.kind, ChatType::Group, "{name}");
    }
    // Chat keeps its real conversations.
    let chat = message(&renderer, &fixture("chat_message.sent"));
    assert_eq!(chat.conversation.id, "zoom;+;channel:chan-1");
    let dm = message(&renderer, &fixture("team_chat.dm_message_posted"));
    assert_eq!(dm.conversation.id, "zoom;-;alice@example.com");
}

#[test]
fn delivery_mode_overrides_apply_and_drop_skips() {
    let renderer = Renderer::new(&ZoomChannelConfig {
        delivery_modes: vec![
            ("meeting.participant_*".into(), DeliveryMode::Message),
            ("user.*".into(), DeliveryMode::Drop),
        ],
        ..config()
    });
    assert_eq!(
        message(&renderer, &fixture("meeting.participant_joined")).mode,
        DeliveryMode::Message
    );
    assert_eq!(
        message(&renderer, &fixture("meeting.created")).mode,
        DeliveryMode::Context
    );
    assert_eq!(
        message(&renderer, &fixture("meeting.started")).mode,
        DeliveryMode::Message
    );
    assert_eq!(
        renderer.render(&fixture("user.created"), 0),
        Rendered::Skipped {
            reason: SkipReason::ModeDrop
        }
    );
}

#[test]
fn dm_from_us_goes_to_the_contact() {
    let renderer = Renderer::new(&config());
    let mut dm = serde_json::to_value(fixture("team_chat.dm_message_posted")).unwrap();
    dm["payload"]["operator"] = "ME@example.com".into();
    dm["payload"]["object"]["contact_email"] = "alice@example.com".into();
    let m = message(&renderer, &Event::from_value(dm).unwrap());
    assert_eq!(m.conversation.id, "zoom;-;alice@example.com");
    assert_eq!(m.sender.id, "ME@example.com");
}

#[test]
fn undecodable_known_event_renders_generically() {
    let renderer = Renderer::new(&config());
    let event = Event::parse(
        r#"{"event":"meeting.started","event_ts":7,"payload":{"object":{"id":{"weird":true},"topic":"Odd","password":"hunter2"}}}"#,
    )
    .unwrap();
    assert!(event.typed().is_err());
    let m = message(&renderer, &event);
    // Its id is no id, so it goes to the feed.
    assert_eq!(m.conversation.id, "zoom;+;feed");
    assert_eq!(m.body, "meeting.started: topic \"Odd\", id.weird true");
    // With a usable id it stays with its meeting.
    let event = Event::parse(
        r#"{"event":"meeting.started","event_ts":7,"payload":{"object":{"id":55,"topic":"Odd","duration":"long"}}}"#,
    )
    .unwrap();
    assert!(event.typed().is_err());
    let m = message(&renderer, &event);
    assert_eq!(m.conversation.id, "zoom;+;meeting:55");
    assert_eq!(m.conversation.label.as_deref(), Some("Odd"));
    assert!(!m.body.contains("hunter2"));
    // No event_ts and no object timestamp: the arrival time is used.
    let bare = Event::parse(r#"{"event":"x.y","payload":"just text"}"#).unwrap();
    let m = message(&renderer, &bare);
    assert_eq!(m.body, "x.y: (no details)");
    assert_eq!(m.timestamp_ms, 42);
}

#[test]
fn unknown_meeting_family_events_route_to_their_meeting() {
    let renderer = Renderer::new(&config());
    let render = |name: &str, object: serde_json::Value| {
        let event = Event::from_value(serde_json::json!({
            "event": name, "event_ts": 1, "payload": {"object": object}
        }))
        .unwrap();
        message(&renderer, &event).conversation
    };
    let webinar = render(
        "webinar.started",
        serde_json::json!({"id": 98765432101u64, "topic": "Launch"}),
    );
    assert_eq!(webinar.id, "zoom;+;meeting:98765432101");
    assert_eq!(webinar.kind, ChatType::Group);
    assert_eq!(webinar.label.as_deref(), Some("Launch"));
    let transcript = render(
        "recording.transcript_completed",
        serde_json::json!({"id": "1234567890"}),
    );
    assert_eq!(transcript.id, "zoom;+;meeting:1234567890");
    assert_eq!(transcript.label, None);
    // No id, an empty id, or another family: the feed.
    for (name, object) in [
        (
            "meeting.sharing_ended",
            serde_json::json!({"topic": "No id"}),
        ),
        ("webinar.started", serde_json::json!({"id": ""})),
        ("meetings.started", serde_json::json!({"id": "1"})),
        ("phone.callee_ringing", serde_json::json!({"id": "1"})),
    ] {
        assert_eq!(render(name, object).id, "zoom;+;feed", "{name}");
    }
    // Feed routing sends them all to the feed.
    let feed = Renderer::new(&ZoomChannelConfig {
        routing: Routing::Feed,
        ..config()
    });
    let m = message(&feed, &fixture("meeting.sharing_started"));
    assert_eq!(m.conversation.id, "zoom;+;feed");
}

#[test]
fn unknown_summary_is_bounded() {
    let renderer = Renderer::new(&config());
    let long = "x".repeat(5000);
    let fields: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| {
            (
                format!("field_{i}"),
                serde_json::Value::String(long.clone()),
            )
        })
        .collect();
    let event = Event::from_value(serde_json::json!({
        "event": "some.new_event", "event_ts": 1, "payload": {"object": fields}
    }))
    .unwrap();
    let m = message(&renderer, &event);
    assert!(
        m.body.chars().count() <= "some.new_event: ".len() + 241,
        "{}",
        m.body.len()
    );
    assert!(m.body.ends_with('…'));
}

// ---- docs/events.md ----

fn events_doc() -> String {
    let renderer = Renderer::new(&config());
    let mut out = String::from(
        "# Zoom events → Moltbot messages\n\n\
         <!-- Generated by `cargo test -p zoom-channel --test render_events`. \
         Do not edit by hand: change the renderer or the fixtures in \
         crates/zoom-channel/fixtures/, then run the test with UPDATE_EVENTS_DOC=1. -->\n\n\
         Every Zoom event the sidecar receives becomes one chat message (unless it is \
         filtered out, dropped by its delivery mode, a duplicate, or an echo of our own \
         post). This page shows what each event becomes, rendered from the fixtures in \
         `crates/zoom-channel/fixtures/`; a test regenerates it and fails when it drifts.\n\n\
         - **Conversation.** Meeting events (`meeting.*`, `recording.completed`) go to \
         `zoom;+;meeting:<meeting id>` (kind group, labelled with the topic) when \
         `routing = \"meeting\"` (the default), or to `zoom;+;feed` when `routing = \"feed\"`. \
         So do events the renderer does not model whose name starts with `meeting.`, \
         `webinar.` or `recording.` and whose `payload.object.id` is present (labelled with \
         `payload.object.topic` when present). User events and other unknown events always \
         go to `zoom;+;feed`. Team Chat messages go to \
         `zoom;+;channel:<channel id>` (kind channel, labelled with the channel name) or \
         `zoom;-;<email or user id>` for direct messages (the other party; when the sender \
         is our own `sender` / `selfIds`, the contact). Chatbot `bot_notification`s go to \
         `zoom;-;<toJid>` (or `zoom;+;channel:<toJid>` for a channel JID).\n\
         - **Meetings as content.** `meeting.summary_completed` (routed by its \
         `meeting_id`) becomes the fetched AI Companion summary, and the transcript of \
         `recording.transcript_completed` / `recording.completed` an excerpt plus a text \
         attachment; both start an agent turn. After a connection gap, missed Team Chat \
         messages are recovered and a `zoom.gap` notice goes to the feed. See \
         [meetings.md](meetings.md).\n\
         - **Sender.** Events come from the system sender `zoom` (\"Zoom\"); chat messages \
         from the real user (operator email, else id; for the chatbot, the user JID and name).\n\
         - **Message id.** `zoom-ev-` + `event_ts` as 12 hex digits + the first 20 hex \
         digits of SHA-256 over `<subscriptionId>|<Event::identity()>` (event name, \
         `event_ts`, object ids): a redelivered event gets the same id on either transport, \
         and ids sort by time (the store's unique index is appended to).\n\
         - **Timestamp.** `event_ts`, else the object's `timestamp`, else the arrival time.\n\
         - **Reply-to.** The thread root for Team Chat replies (`reply_main_message_id`, \
         `parent_msg_id`).\n\
         - **Delivery mode.** `message` starts an agent turn, `context` only adds to the \
         conversation, `drop` discards. Override per pattern with `deliveryModes` \
         (first match wins); filter with `include` / `exclude` (`*` matches anything, \
         e.g. `meeting.*`).\n\
         - **Mentions.** A chat message carries whether it mentions us \
         (`zoom.wasMentioned` in the webhook, the host's `WasMentioned`): an `at_items` \
         entry naming the `sender`, one of `selfIds` or the chatbot's `robotJid` (by \
         `at_contact`, `at_contact_user_id` or `at_contact_member_id`), or one with \
         `at_type` 2 (everyone). `team_chat.app_mention` (rendered as the Team Chat message \
         it carries) and `bot_notification` are mentions. Events from the system sender \
         carry none, and pass none of the extension's DM / channel policies (see \
         configuration.md, Policies).\n\
         - **Edits, deletes, reactions.** `team_chat.channel_message_updated` / \
         `dm_message_updated`, `…_message_deleted` and `…_reaction_added` / `…_removed` \
         become notices in the message's conversation (`<who> edited a message: <text>`, \
         `<who> deleted a message`, `<who> reacted with 👌 to a message (sent …)`), in \
         `context` mode by default: the host adds them as system events, no turn starts. \
         Our own (by `sender` / `selfIds`) are dropped. Shapes: Zoom's Team Chat events \
         reference (developers.zoom.us/docs/api/team-chat/events).\n\
         - **Files.** A Team Chat message's `files[]` are downloaded (`GET \
         /v2/chat/files/{fileId}`, then its `download_url` with the account token), up to \
         `mediaMaxMb`, and delivered as attachments (BlueBubbles `attachments[]`, the host's \
         `MediaPath(s)`); a larger file or one that cannot be fetched becomes a line \
         `(file `<name>` not attached: …)` in the text. The `[file] <name> (<size>)` line \
         stays in the text either way.\n\
         - Unknown events render as `<event name>: <compact summary>` of `payload.object` \
         (bounded; secret-looking fields such as passwords and tokens are never shown). A \
         known event whose payload does not decode renders the same way.\n\n\
         | event | conversation | sender | default mode |\n|---|---|---|---|\n",
    );
    let rendered: Vec<(Event, InboundMessage)> = CASES
        .iter()
        .map(|c| {
            let e = fixture(c.fixture);
            let m = message(&renderer, &e);
            (e, m)
        })
        .collect();
    for (case, (event, m)) in CASES.iter().zip(&rendered) {
        let name = if case.fixture == "unknown" {
            "any other event".to_owned()
        } else if UNMODELLED.contains(&case.fixture) {
            "any other `meeting.*`, `webinar.*` or `recording.*` event with an object id".to_owned()
        } else {
            format!("`{}`", event.event)
        };
        let conversation = conversation_pattern(case.fixture, &m.conversation.id);
        let mode = match m.mode {
            DeliveryMode::Message => "message",
            DeliveryMode::Context => "context",
            DeliveryMode::Drop => "drop",
        };
        let sender = if m.sender.id == "zoom" {
            "`zoom` (Zoom)"
        } else if case.fixture == "bot_notification" {
            "the user (JID)"
        } else {
            "the user (email)"
        };
        out.push_str(&format!(
            "| {name} | `{conversation}` | {sender} | {mode} |\n"
        ));
    }
    out.push_str("\n## Examples\n");
    for (case, (event, m)) in CASES.iter().zip(&rendered) {
        let title = if case.fixture == "unknown" {
            format!("Unknown event (here `{}`)", event.event)
        } else if UNMODELLED.contains(&case.fixture) {
            format!("Unknown meeting event (here `{}`)", event.event)
        } else {
            format!("`{}`", event.event)
        };
        out.push_str(&format!(
            "\n### {title}\n\nFixture `crates/zoom-channel/fixtures/{}.json` → conversation \
             `{}` ({}{}), sender `{}`, mode `{}`{}:\n\n```text\n{}\n```\n",
            case.fixture,
            m.conversation.id,
            m.conversation.kind.as_str(),
            m.conversation
                .label
                .as_deref()
                .map(|l| format!(", label \"{l}\""))
                .unwrap_or_default(),
            m.sender.id,
            match m.mode {
                DeliveryMode::Message => "message",
                DeliveryMode::Context => "context",
                DeliveryMode::Drop => "drop",
            },
            m.reply_to_id
                .as_deref()
                .map(|r| format!(", reply to `{r}`"))
                .unwrap_or_default(),
            m.body,
        ));
    }
    out
}

/// The conversation id with the example's ids replaced by placeholders.
fn conversation_pattern(fixture: &str, id: &str) -> String {
    if id.starts_with("zoom;+;meeting:") {
        "zoom;+;meeting:<meeting id>".into()
    } else if id.starts_with("zoom;+;channel:") {
        "zoom;+;channel:<channel id>".into()
    } else if fixture == "bot_notification" {
        "zoom;-;<toJid>".into()
    } else if id.starts_with("zoom;-;") {
        "zoom;-;<peer email or id>".into()
    } else {
        id.into()
    }
}

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md")
}

#[test]
fn events_doc_is_current() {
    let expected = events_doc();
    let path = doc_path();
    if std::env::var_os("UPDATE_EVENTS_DOC").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/events.md is out of date; run `UPDATE_EVENTS_DOC=1 cargo test -p zoom-channel \
         --test render_events` and review the diff"
    );
    // And, line by line, every example body appears verbatim.
    for case in CASES {
        for line in case.body.lines() {
            assert!(actual.contains(line), "{}: {line}", case.fixture);
        }
    }
}

#[test]
fn was_mentioned_follows_at_items_for_the_sender_and_self_ids() {
    let mut event = fixture("team_chat.channel_message_posted");
    let mention = |contact: &str, member: &str| {
        serde_json::json!([{"at_type": 1, "at_contact": contact, "at_contact_user_id": "",
            "at_contact_member_id": member, "start_position": 0, "end_position": 3}])
    };
    let mut config = config();
    config.self_ids = vec!["Member-Me".into()];
    let renderer = Renderer::new(&config);
    event.payload["object"]["at_items"] = mention("me@example.com", "");
    assert_eq!(
        message(&renderer, &event).mentioned,
        Some(true),
        "the sender's email"
    );
    event.payload["object"]["at_items"] = mention("", "member-me");
    assert_eq!(
        message(&renderer, &event).mentioned,
        Some(true),
        "a self id"
    );
    event.payload["object"]["at_items"] = mention("carol@example.com", "member-carol");
    assert_eq!(
        message(&renderer, &event).mentioned,
        Some(false),
        "someone else"
    );
    // A chatbot is mentioned when its JID is named (or by app_mention / bot_notification).
    let bot = ZoomChannelConfig {
        send_as: SendAs::Chatbot {
            robot_jid: "v1bot@xmpp.zoom.us".into(),
            account_id: "acc".into(),
        },
        ..config
    };
    event.payload["object"]["at_items"] = mention("V1bot@xmpp.zoom.us", "");
    assert_eq!(
        message(&Renderer::new(&bot), &event).mentioned,
        Some(true),
        "the robot JID"
    );
}

/// A chatbot addressed in a channel: `bot_notification` to the channel's
/// conference JID and `team_chat.app_mention` are mentioned messages in
/// `zoom;+;channel:<id>` (the host's mention gate lets them through).
#[test]
fn chatbot_mentions_in_a_channel_are_mentioned_channel_messages() {
    let bot = ZoomChannelConfig {
        send_as: SendAs::Chatbot {
            robot_jid: "v1abcdefghijk@xmpp.zoom.us".into(),
            account_id: "acc".into(),
        },
        ..config()
    };
    let renderer = Renderer::new(&bot);
    let mut event = fixture("bot_notification");
    event.payload["toJid"] = "c0ffee@conference.xmpp.zoom.us".into();
    event.payload["channelName"] = "Launch".into();
    let m = message(&renderer, &event);
    assert_eq!(
        m.conversation.id,
        "zoom;+;channel:c0ffee@conference.xmpp.zoom.us"
    );
    assert_eq!(m.conversation.kind, ChatType::Channel);
    assert_eq!(m.sender.id, "kdykjnimt4kpd8ffgqt9fq@xmpp.zoom.us");
    assert_eq!(m.mentioned, Some(true));

    let m = message(&renderer, &fixture("team_chat.app_mention"));
    assert_eq!(m.conversation.id, "zoom;+;channel:chan-1");
    assert_eq!(m.conversation.kind, ChatType::Channel);
    assert_eq!(m.mentioned, Some(true));
}
