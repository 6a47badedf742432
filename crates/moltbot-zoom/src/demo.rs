//! `moltbot-zoom demo`: a scripted meeting played by an embedded fake Zoom
//! through the real pipeline over loopback sockets, printed as chat messages.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use fake_zoom::{FakeConfig, FakeZoom};
use moltbot_channel::CancellationToken;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{config::Config, sidecar::Sidecar, stdout::outln};

mod files;

const MEETING_ID: i64 = 85_746_065_432;
const TOPIC: &str = "Weekly sync";
const WAIT: Duration = Duration::from_secs(10);

/// Meeting instance of the scripted meeting.
const MEETING_UUID: &str = "4444AAAiAAAAAiAiAiiAii==";

/// The scripted meeting: every event the demo pushes, in order. Its
/// transcript downloads from `transcript_url`.
pub(crate) fn script(start: OffsetDateTime, transcript_url: &str) -> Vec<Value> {
    let at = |mins: i64| {
        (start + time::Duration::minutes(mins))
            .format(&Rfc3339)
            .unwrap_or_default()
    };
    let ts = |mins: i64| (start + time::Duration::minutes(mins)).unix_timestamp() * 1000;
    let meeting = |extra: Value| {
        let mut obj = json!({
            "id": MEETING_ID.to_string(), "uuid": MEETING_UUID, "host_id": "z8yCxjabc",
            "topic": TOPIC, "type": 2, "timezone": "Europe/Berlin", "duration": 30
        });
        if let (Value::Object(o), Value::Object(e)) = (&mut obj, extra) {
            o.extend(e);
        }
        obj
    };
    let participant = |event: &str, mins: i64, name: &str, email: &str, uuid: &str| {
        let time_key = if event.ends_with("joined") {
            "join_time"
        } else {
            "leave_time"
        };
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
        participant(
            "meeting.participant_joined",
            0,
            "Alice Example",
            "alice@example.com",
            "p-alice",
        ),
        participant(
            "meeting.participant_joined",
            1,
            "Bob Builder",
            "bob@example.com",
            "p-bob",
        ),
        participant(
            "meeting.participant_joined",
            2,
            "Carol Danvers",
            "carol@example.com",
            "p-carol",
        ),
        json!({"event": "team_chat.dm_message_posted", "event_ts": ts(3), "payload": {
            "account_id": "fake-account", "operator": "alice@example.com", "operator_id": "z8yCxjabc",
            "object": {"message_id": "5DD614F4-DD18-4C02-BB05-BAF5A6A5B3F8", "date_time": at(3),
                "timestamp": ts(3), "contact_email": "me@example.com",
                "message": "Can you send everyone the recording once it's ready?"}}}),
        participant(
            "meeting.participant_left",
            20,
            "Bob Builder",
            "bob@example.com",
            "p-bob",
        ),
        participant(
            "meeting.participant_left",
            29,
            "Carol Danvers",
            "carol@example.com",
            "p-carol",
        ),
        participant(
            "meeting.participant_left",
            30,
            "Alice Example",
            "alice@example.com",
            "p-alice",
        ),
        json!({"event": "meeting.ended", "event_ts": ts(30), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"start_time": at(0), "end_time": at(30)}))}}),
        json!({"event": "recording.completed", "event_ts": ts(42), "download_token": "dl-token",
            "payload": {"account_id": "fake-account", "object": {
                "id": MEETING_ID, "uuid": MEETING_UUID, "host_id": "z8yCxjabc",
                "host_email": "alice@example.com", "topic": TOPIC, "start_time": at(0), "duration": 30,
                "total_size": 183_500_800, "recording_count": 2,
                "share_url": format!("https://example.zoom.us/rec/share/{MEETING_ID}"),
                "recording_files": [
                    {"id": "rf-1", "file_type": "MP4", "file_extension": "MP4", "file_size": 182_452_224,
                     "recording_type": "shared_screen_with_speaker_view", "status": "completed",
                     "download_url": "https://example.zoom.us/rec/download/rf-1"},
                    {"id": "rf-2", "file_type": "TRANSCRIPT", "file_extension": "VTT", "file_size": 1_048_576,
                     "recording_type": "audio_transcript", "status": "completed",
                     "download_url": transcript_url}]}}}),
        json!({"event": "meeting.sharing_started", "event_ts": ts(5), "payload": {"account_id": "fake-account",
            "object": meeting(json!({"participant": {"user_name": "Bob Builder",
                "sharing_details": {"content": "application"}}}))}}),
        json!({"event": "meeting.summary_completed", "event_ts": ts(45), "payload": {"account_id": "fake-account",
            "object": {"meeting_id": MEETING_ID, "meeting_uuid": MEETING_UUID, "meeting_topic": TOPIC,
                "meeting_host_id": "z8yCxjabc", "meeting_host_email": "alice@example.com",
                "meeting_start_time": at(0), "meeting_end_time": at(30),
                "summary_start_time": at(0), "summary_end_time": at(30),
                "summary_created_time": at(45), "summary_last_modified_time": at(45),
                "summary_title": "Weekly sync summary", "summary_overview": "Release planning.",
                "summary_details": [], "next_steps": []}}}),
    ]
}

/// What the fake Zoom serves about the scripted meeting once it is over:
/// the AI Companion summary, and the transcript file (its download URL).
fn meeting_content(fake: &FakeZoom) -> String {
    fake.add_meeting_summary(json!({
        "meeting_id": MEETING_ID, "meeting_uuid": MEETING_UUID, "meeting_topic": TOPIC,
        "meeting_host_email": "alice@example.com",
        "summary_title": "Weekly sync summary",
        "summary_overview": "Alice, Bob and Carol agreed to ship the release on Friday.",
        "summary_details": [
            {"label": "Release", "summary": "The last blocker was fixed; the release goes out on Friday."},
            {"label": "Docs", "summary": "Carol will update the setup guide before the release."}],
        "next_steps": ["Bob: tag the release on Friday", "Carol: update the setup guide"],
        "summary_doc_url": format!("https://docs.zoom.us/doc/{MEETING_ID}")
    }));
    let vtt = "WEBVTT\n\n1\n00:00:02.000 --> 00:00:05.000\nAlice Example: Welcome, let's go through the release.\n\n\
        2\n00:00:06.000 --> 00:00:09.000\nBob Builder: The last blocker is fixed.\n\n\
        3\n00:00:09.500 --> 00:00:12.000\nBob Builder: I can tag it on Friday.\n\n\
        4\n00:00:13.000 --> 00:00:16.000\nCarol Danvers: I'll update the setup guide first.\n\n\
        5\n00:00:17.000 --> 00:00:19.000\nAlice Example: Great, Friday it is.\n";
    fake.add_recording_file("rf-2", vtt.as_bytes().to_vec())
}

/// What the demo's stand-in for the Moltbot gateway received.
#[derive(Clone, Default)]
struct Gateway {
    received: Arc<tokio::sync::Mutex<Vec<Value>>>,
    notify: Arc<tokio::sync::Notify>,
    password: String,
}

async fn gateway_webhook(
    axum::extract::State(gw): axum::extract::State<Gateway>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::http::StatusCode {
    // The sidecar authenticates its webhooks with `x-password` (as the
    // BlueBubbles receivers read it), never an Authorization header.
    if headers.get("x-password").and_then(|v| v.to_str().ok()) != Some(gw.password.as_str()) {
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    gw.received.lock().await.push(body);
    gw.notify.notify_waiters();
    axum::http::StatusCode::OK
}

/// Runs the demo; its scratch database is removed however it ends (a reader
/// closing stdout early included).
pub(crate) async fn run() -> anyhow::Result<()> {
    let workdir = std::env::temp_dir().join(format!("moltbot-zoom-demo-{}", std::process::id()));
    let result = play(&workdir).await;
    let _ = std::fs::remove_dir_all(&workdir);
    result
}

async fn play(workdir: &std::path::Path) -> anyhow::Result<()> {
    let fake = FakeZoom::start(FakeConfig::default())
        .await
        .context("cannot start the embedded fake Zoom")?;
    let fc = fake.config().clone();
    let password = format!("demo-{}", uuid::Uuid::new_v4().simple());

    // A stand-in for the Moltbot gateway's `/zoom-webhook` route.
    let gateway = Gateway {
        password: password.clone(),
        ..Gateway::default()
    };
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw_addr = gw_listener.local_addr()?;
    let gw_cancel = CancellationToken::new();
    {
        let app = axum::Router::new()
            .route("/zoom-webhook", axum::routing::post(gateway_webhook))
            .with_state(gateway.clone());
        let cancel = gw_cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(gw_listener, app)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
        });
    }

    let config = Config {
        zoom_account_id: Some(fc.account_id.clone()),
        client_id: Some(fc.client_id.clone()),
        client_secret: Some(fc.client_secret.clone().into()),
        subscription_id: Some(fc.subscription_id.clone()),
        oauth_url: fake.base_url(),
        api_url: fake.base_url(),
        ws_url: fake.ws_url(),
        sender: Some("me@example.com".into()),
        default_target: Some("me@example.com".into()),
        password: Some(password.clone().into()),
        listen: "127.0.0.1:0".into(),
        webhook_url: Some(format!("http://{gw_addr}/zoom-webhook")),
        database: Some(workdir.join("demo.sqlite")),
        // Short, so the excerpt shows how the rest is left to the attachment.
        transcript_excerpt_lines: 3,
        ..Config::default()
    };
    let sidecar = Sidecar::start(&config).await?;
    outln!("moltbot-zoom demo")?;
    outln!(
        "  fake Zoom        {} (WebSocket {})",
        fake.base_url(),
        fake.ws_url()
    )?;
    outln!("  sidecar shim     {}", sidecar.base_url())?;
    outln!("  Moltbot stand-in http://{gw_addr}/zoom-webhook")?;
    if !fake.wait_for_open_connections(1, WAIT).await {
        bail!("the Zoom client did not connect to the fake within {WAIT:?}");
    }
    wait_until_connected(&sidecar).await?;

    let transcript_url = meeting_content(&fake);
    let events = script(
        OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc()),
        &transcript_url,
    );
    outln!(
        "\nZoom pushes {} events over the WebSocket; Moltbot receives these chat messages:\n",
        events.len()
    )?;
    for event in &events {
        fake.push_event(event.clone());
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut printed = 0;
    loop {
        let notified = gateway.notify.notified();
        let batch: Vec<Value> = gateway.received.lock().await[printed..].to_vec();
        for hook in &batch {
            printed += 1;
            print_webhook(printed, hook)?;
        }
        if printed >= events.len() {
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            bail!(
                "only {printed} of {} messages reached Moltbot within {WAIT:?}",
                events.len()
            );
        }
    }

    let meeting = format!("zoom;+;meeting:{MEETING_ID}");
    let reply = "Thanks! I'll share the recording with Alice, Bob and Carol.";
    outln!("\nThe agent replies in {meeting}: {reply:?}")?;
    outln!("  POST {}/api/v1/message/text", sidecar.base_url())?;
    let response: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/message/text", sidecar.base_url()))
        .bearer_auth(&password)
        .json(&json!({"chatGuid": meeting, "message": reply, "tempGuid": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await
        .context("the shim did not answer")?
        .json()
        .await
        .context("the shim's answer is not JSON")?;
    if response["status"] != 200 {
        bail!("the reply failed: {response}");
    }
    outln!(
        "  → {} (guid {})",
        response["message"].as_str().unwrap_or(""),
        response["data"]["guid"].as_str().unwrap_or("")
    )?;
    if !fake.wait_for_team_chat(1, WAIT).await {
        bail!("the fake Zoom did not receive the reply");
    }
    outln!("\nZoom Team Chat received:")?;
    for sent in fake.team_chat_messages() {
        let to = sent
            .body
            .to_contact
            .as_deref()
            .map(|c| format!("contact {c}"))
            .or_else(|| {
                sent.body
                    .to_channel
                    .as_deref()
                    .map(|c| format!("channel {c}"))
            })
            .unwrap_or_default();
        outln!(
            "  POST /v2/chat/users/{}/messages → {to}: {:?} (id {})",
            sent.user_id,
            sent.body.message,
            sent.id
        )?;
    }

    files::show(&fake, &gateway, &sidecar.base_url(), &password).await?;

    sidecar.stop().await?;
    gw_cancel.cancel();
    fake.shutdown();
    outln!(
        "\nDone: {} Zoom events → {} chat messages delivered to Moltbot, 1 reply posted to Zoom; \
         one file each way.",
        events.len(),
        printed
    )?;
    Ok(())
}

/// Waits (bounded) until the channel reports the WebSocket connected.
async fn wait_until_connected(sidecar: &Sidecar) -> anyhow::Result<()> {
    use moltbot_channel::Channel;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !sidecar.channel.status().connected() {
        if tokio::time::Instant::now() >= deadline {
            bail!("the Zoom channel did not report a connection within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Prints one BlueBubbles `new-message` webhook the way a Moltbot user sees it.
fn print_webhook(n: usize, hook: &Value) -> anyhow::Result<()> {
    let data = &hook["data"];
    let chat = &data["chats"][0];
    let text = data["text"].as_str().unwrap_or("");
    let sender = data["handle"]["displayName"]
        .as_str()
        .or_else(|| data["handle"]["address"].as_str())
        .unwrap_or("?");
    let mode = data["zoom"]["mode"].as_str().unwrap_or("message");
    let what = if mode == "context" {
        "context for the next turn"
    } else {
        "starts an agent turn"
    };
    outln!(
        "#{n:<2} {}{} — {} ({what})",
        chat["guid"].as_str().unwrap_or(""),
        chat["displayName"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| format!(" \"{s}\""))
            .unwrap_or_default(),
        data["zoom"]["eventType"].as_str().unwrap_or(""),
    )?;
    for line in text.lines() {
        outln!("     {sender}: {line}")?;
    }
    for file in data["attachments"].as_array().into_iter().flatten() {
        outln!(
            "     [attachment] {} ({} bytes)",
            file["transferName"].as_str().unwrap_or("file"),
            file["totalBytes"].as_u64().unwrap_or(0)
        )?;
    }
    Ok(())
}
