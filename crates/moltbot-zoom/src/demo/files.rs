//! The demo's file exchange: a Team Chat file reaches Moltbot as an
//! attachment, and a file the agent sends reaches Zoom's `sendChatFile`.

use anyhow::{Context, bail};
use fake_zoom::FakeZoom;
use serde_json::{Value, json};

use super::{Gateway, WAIT, print_webhook};
use crate::stdout::outln;

/// Plays one file each way; `shim` is the sidecar's base URL.
pub(super) async fn show(
    fake: &FakeZoom,
    gateway: &Gateway,
    shim: &str,
    password: &str,
) -> anyhow::Result<()> {
    let agenda = b"1. Recording\n2. Q3 numbers\n3. Release date\n".to_vec();
    let size = agenda.len();
    let file_id = fake.add_file("agenda.txt", Some("text/plain"), agenda);
    outln!("\nAlice sends a file in Team Chat; Moltbot receives:\n")?;
    let before = gateway.received.lock().await.len();
    let notified = gateway.notify.notified();
    fake.push_event(json!({"event": "team_chat.dm_message_posted",
        "event_ts": crate::status_cmd::now_ms(), "payload": {"account_id": "fake-account",
        "operator": "alice@example.com", "operator_id": "z8yCxjabc",
        "object": {"message_id": "F1A2B3C4-0000-4000-8000-000000000001", "contact_email": "me@example.com",
            "message": "Here is the agenda.", "files": [{"file_id": file_id,
            "file_name": "agenda.txt", "file_size": size, "OS_file_type": "TXT", "file_message_type": "file"}]}}}));
    if tokio::time::timeout(WAIT, notified).await.is_err()
        && gateway.received.lock().await.len() == before
    {
        bail!("the file message did not reach Moltbot within {WAIT:?}");
    }
    let hook = gateway.received.lock().await[before].clone();
    print_webhook(before + 1, &hook)?;
    for a in hook["data"]["attachments"].as_array().into_iter().flatten() {
        let guid = a["guid"].as_str().unwrap_or_default();
        let bytes = reqwest::Client::new()
            .get(format!("{shim}/api/v1/attachment/{guid}/download"))
            .bearer_auth(password)
            .send()
            .await
            .context("the shim did not answer")?
            .bytes()
            .await?;
        outln!(
            "     attachment {} ({}, {} bytes): GET /api/v1/attachment/{guid}/download → {} bytes",
            a["transferName"].as_str().unwrap_or(""),
            a["mimeType"].as_str().unwrap_or("?"),
            a["totalBytes"],
            bytes.len()
        )?;
    }

    outln!("\nThe agent sends a file back: POST {shim}/api/v1/message/attachment")?;
    let form = reqwest::multipart::Form::new()
        .text("chatGuid", "zoom;-;alice@example.com")
        .text("name", "summary.txt")
        .text("tempGuid", uuid::Uuid::new_v4().to_string())
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"Decisions: ship on Friday.\n".to_vec())
                .file_name("summary.txt")
                .mime_str("text/plain")?,
        );
    let response: Value = reqwest::Client::new()
        .post(format!("{shim}/api/v1/message/attachment"))
        .bearer_auth(password)
        .multipart(form)
        .send()
        .await
        .context("the shim did not answer")?
        .json()
        .await?;
    if response["status"] != 200 {
        bail!("the file send failed: {response}");
    }
    for f in fake.sent_files() {
        outln!(
            "  POST /v2/chat/users/{}/messages/files → contact {}: {} ({} bytes, id {})",
            f.user_id,
            f.to_contact.as_deref().unwrap_or(""),
            f.file_name,
            f.size,
            f.id
        )?;
    }
    Ok(())
}
