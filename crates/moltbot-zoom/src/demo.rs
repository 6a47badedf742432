//! `moltbot-zoom demo`: a scripted meeting played by an embedded fake Zoom
//! through the real pipeline over loopback sockets, printed as chat messages.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use fake_zoom::{FakeConfig, FakeZoom};
use moltbot_channel::{
    CancellationToken, Channel, InboundMessage, OutboundMessage, StartContext, inbound_channel,
};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use zoom::{Credentials, Grant, SessionConfig, TokenProvider, ZoomApi};
use zoom_channel::{Routing, SendAs, ZoomChannel, ZoomChannelConfig};

const MEETING_ID: i64 = 85_746_065_432;
const TOPIC: &str = "Weekly sync";
const WAIT: Duration = Duration::from_secs(10);

/// The scripted meeting: every event the demo pushes, in order, plus how
/// many of them become chat messages (the rest are filtered or dropped).
pub(crate) fn script(start: OffsetDateTime) -> Vec<Value> {
    let at = |mins: i64| {
        (start + time::Duration::minutes(mins))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    let ts = |mins: i64| (start + time::Duration::minutes(mins)).unix_timestamp() * 1000;
    let meeting = |extra: Value| {
        let mut obj = json!({
            "id": MEETING_ID.to_string(), "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "z8yCxjabc",
            "topic": TOPIC, "type": 2, "timezone": "Europe/Berlin", "duration": 30
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut obj, extra) {
            o.extend(e);
        }
        obj
    };
    let participant = |event: &str, mins: i64, name: &str, email: &str, uuid: &str| {
        let time_key = if event.ends_with("joined") { "join_time" } else { "leave_time" };
        json!({"event": event, "event_ts": ts(mins), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"participant": {"user_id": "1677824", "user_name": name,
                "email": email, "participant_uuid": uuid, time_key: at(mins)}}))}})
    };
    vec![
        json!({"event": "meeting.created", "event_ts": ts(-60), "payload": {"account_id": "fake-account",
            "operator": "alice@example.com", "operator_id": "z8yCxjabc",
            "object": meeting(json!({"id": MEETING_ID, "start_time": at(0),
                "join_url": format!("https://example.zoom.us/j/{MEETING_ID}")}))}}),
        json!({"event": "meeting.started", "event_ts": ts(0), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"start_time": at(0)}))}}),
        participant("meeting.participant_joined", 0, "Alice Example", "alice@example.com", "p-alice"),
        participant("meeting.participant_joined", 1, "Bob Builder", "bob@example.com", "p-bob"),
        participant("meeting.participant_joined", 2, "Carol Danvers", "carol@example.com", "p-carol"),
        json!({"event": "team_chat.dm_message_posted", "event_ts": ts(3), "payload": {
            "account_id": "fake-account", "operator": "alice@example.com", "operator_id": "z8yCxjabc",
            "object": {"message_id": "5DD614F4-DD18-4C02-BB05-BAF5A6A5B3F8", "date_time": at(3),
                "timestamp": ts(3), "contact_email": "me@example.com",
                "message": "Can you send everyone the recording once it's ready?"}}}),
        participant("meeting.participant_left", 20, "Bob Builder", "bob@example.com", "p-bob"),
        participant("meeting.participant_left", 29, "Carol Danvers", "carol@example.com", "p-carol"),
        participant("meeting.participant_left", 30, "Alice Example", "alice@example.com", "p-alice"),
        json!({"event": "meeting.ended", "event_ts": ts(30), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"start_time": at(0), "end_time": at(30)}))}}),
        json!({"event": "recording.completed", "event_ts": ts(42), "download_token": "dl-token",
            "payload": {"account_id": "fake-account", "object": {
                "id": MEETING_ID, "uuid": "4444AAAiAAAAAiAiAiiAii==", "host_id": "z8yCxjabc",
                "host_email": "alice@example.com", "topic": TOPIC, "start_time": at(0), "duration": 30,
                "total_size": 183_500_800, "recording_count": 2,
                "share_url": format!("https://example.zoom.us/rec/share/{MEETING_ID}"),
                "recording_files": [
                    {"id": "rf-1", "file_type": "MP4", "file_extension": "MP4", "file_size": 182_452_224,
                     "recording_type": "shared_screen_with_speaker_view", "status": "completed",
                     "download_url": "https://example.zoom.us/rec/download/rf-1"},
                    {"id": "rf-2", "file_type": "TRANSCRIPT", "file_extension": "VTT", "file_size": 1_048_576,
                     "recording_type": "audio_transcript", "status": "completed",
                     "download_url": "https://example.zoom.us/rec/download/rf-2"}]}}}),
        json!({"event": "meeting.sharing_started", "event_ts": ts(5), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"participant": {"user_name": "Bob Builder",
                "sharing_details": {"content": "application"}}}))}}),
    ]
}

/// Runs the demo.
pub(crate) async fn run() -> anyhow::Result<()> {
    let fake = FakeZoom::start(FakeConfig::default())
        .await
        .context("cannot start the embedded fake Zoom")?;
    let fc = fake.config().clone();
    println!("moltbot-zoom demo");
    println!("  fake Zoom listening at {} (WebSocket {})", fake.base_url(), fake.ws_url());

    let http = reqwest::Client::new();
    let tokens = TokenProvider::new(
        http.clone(),
        &fake.base_url(),
        Credentials {
            client_id: fc.client_id.clone(),
            client_secret: fc.client_secret.clone().into(),
            account_id: Some(fc.account_id.clone()),
            grant: Grant::AccountCredentials,
        },
    );
    let api = ZoomApi::new(http, &fake.base_url(), tokens.clone());
    let config = ZoomChannelConfig {
        subscription_id: fc.subscription_id.clone(),
        routing: Routing::Meeting,
        send_as: SendAs::User {
            sender: "me@example.com".into(),
        },
        default_target: Some("me@example.com".into()),
        ..ZoomChannelConfig::default()
    };
    let session = SessionConfig::new(fake.ws_url(), fc.subscription_id.clone());
    let channel = Arc::new(ZoomChannel::new(config, session, tokens, api));

    let (inbound, mut rx) = inbound_channel(64);
    let cancel = CancellationToken::new();
    let runner = {
        let channel = channel.clone();
        let ctx = StartContext {
            account_id: "default".into(),
            inbound,
            cancel: cancel.clone(),
        };
        tokio::spawn(async move { channel.start(ctx).await })
    };
    if !fake.wait_for_open_connections(1, WAIT).await {
        bail!("the Zoom client did not connect to the fake within {WAIT:?}");
    }
    println!("  connected: {:?}\n", channel.status().connection);

    let events = script(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(OffsetDateTime::now_utc()));
    println!("Zoom pushes {} events over the WebSocket; Moltbot receives:\n", events.len());
    for event in &events {
        fake.push_event(event.clone());
    }
    let mut received: Vec<InboundMessage> = Vec::new();
    while received.len() < events.len() {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(delivery)) => {
                let message = delivery.ack();
                print_message(received.len() + 1, &message);
                received.push(message);
            }
            Ok(None) => bail!("the channel stopped unexpectedly"),
            Err(_) => break, // everything that will arrive has arrived
        }
    }
    if received.is_empty() {
        bail!("no chat messages arrived");
    }

    let meeting = format!("zoom;+;meeting:{MEETING_ID}");
    let reply = "Thanks! I'll share the recording with Alice, Bob and Carol.";
    println!("\nThe agent replies in {meeting}:\n  {reply}");
    let result = channel
        .send_text(OutboundMessage {
            conversation_id: meeting,
            text: reply.into(),
            reply_to_id: None,
        })
        .await
        .context("the reply could not be sent")?;
    println!("  → sent as Zoom message {}", result.message_id);
    if !fake.wait_for_team_chat(1, WAIT).await {
        bail!("the fake Zoom did not receive the reply");
    }
    println!("\nZoom Team Chat received:");
    for sent in fake.team_chat_messages() {
        let to = sent
            .body
            .to_contact
            .as_deref()
            .map(|c| format!("contact {c}"))
            .or_else(|| sent.body.to_channel.as_deref().map(|c| format!("channel {c}")))
            .unwrap_or_default();
        println!("  POST /v2/chat/users/{}/messages → {to}: {:?} (id {})", sent.user_id, sent.body.message, sent.id);
    }

    cancel.cancel();
    match tokio::time::timeout(WAIT, runner).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => bail!("the channel failed: {e}"),
        Ok(Err(e)) => bail!("the channel task panicked: {e}"),
        Err(_) => bail!("the channel did not stop within {WAIT:?}"),
    }
    fake.shutdown();
    println!(
        "\nDone: {} events → {} chat messages, 1 reply delivered.",
        events.len(),
        received.len()
    );
    Ok(())
}

fn print_message(n: usize, m: &InboundMessage) {
    let label = m.conversation.label.as_deref().unwrap_or("");
    let sender = m.sender.name.as_deref().unwrap_or(&m.sender.id);
    println!(
        "#{n:<2} {} · {} ({}, {:?})",
        m.conversation.id,
        label,
        m.event_type,
        m.mode
    );
    for line in m.body.lines() {
        println!("     {sender}: {line}");
    }
}
