//! Team Chat files through the real sidecar and a fake Zoom: an inbound file
//! is downloaded with the account token and delivered as a BlueBubbles
//! attachment (webhook `attachments[]` and the download route), also when its
//! message waits in the outbox across a restart; a file over `mediaMaxMb`
//! becomes a notice; a redelivered event fetches nothing twice. Outbound,
//! `message/attachment` reaches Zoom's `sendChatFile`, and a file over Zoom's
//! limit is a clear error.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake image bytes";

fn channel_message(message_id: &str, text: &str, files: Value, ts: i64) -> Value {
    json!({
        "event": "team_chat.channel_message_posted",
        "event_ts": ts,
        "payload": {
            "account_id": "fake-account",
            "operator": "bob@example.com",
            "operator_id": "bob-id",
            "operator_member_id": "bob-member",
            "by_external_user": false,
            "object": {
                "message_id": message_id,
                "message": text,
                "timestamp": ts,
                "channel_id": "chan-1",
                "channel_name": "Ops",
                "files": files,
            },
        },
    })
}

fn file_info_calls(fake: &fake_zoom::FakeZoom) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/chat/files/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_files_become_attachments_across_a_restart_and_oversized_ones_a_notice() {
    let fake = fake_zoom().await;
    let pic = fake.add_file("pic.png", Some("image/png"), PNG.to_vec());
    let big = fake.add_file("big.bin", None, vec![0; 2 * 1024 * 1024]);
    let hook_port = free_port();
    let dir = TempDir::new("chat-files");
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(hook_port),
        "mediaMaxMb = 1",
    );

    // First run: no receiver, so the message waits in the outbox. At TRACE,
    // so the downloads' requests are searched for the token below.
    let first = SidecarProcess::start(&config, "trace,reqwest=trace,hyper=trace,hyper_util=trace");
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "{}",
        first.output()
    );
    let event = channel_message(
        "msg-files-1",
        "see attached",
        json!([
            {"file_id": pic, "file_name": "pic.png", "file_size": PNG.len(), "OS_file_type": "PNG", "file_message_type": "image"},
            {"file_id": big, "file_name": "big.bin", "file_size": 2 * 1024 * 1024, "OS_file_type": "BIN", "file_message_type": "file"},
        ]),
        1_736_150_400_000,
    );
    assert_eq!(fake.push_event(event.clone()), 1);
    first
        .wait_status("the message in the outbox", |s| s["outbox"]["depth"] == 1)
        .await;
    // Only the small file was fetched: the big one was refused by its event size.
    assert_eq!(file_info_calls(&fake), 1);
    let saved: Vec<_> = walk(&dir.db().with_extension("media"));
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(std::fs::read(&saved[0]).unwrap(), PNG);
    let output = first.kill();
    assert!(output.contains("/v2/chat/files/"), "TRACE did not apply");
    for n in 1..=fake.token_requests() {
        assert!(
            !output.contains(&format!("tok-{n}")),
            "a token in the output"
        );
    }
    assert!(!output.contains(PASSWORD) && !output.contains(CLIENT_SECRET));

    // Second run: the stored message goes out with its attachment.
    let second = SidecarProcess::start(&config, "info");
    let receiver = Receiver::start(hook_port, StatusCode::OK).await;
    // The restart also brings the feed's gap notice (catch-up); leave it aside.
    let got = receiver
        .wait_for(WAIT, |r| !without_gap_notices(r).is_empty())
        .await;
    let got = without_gap_notices(&got);
    assert_eq!(got.len(), 1, "{got:#?}\n{}", second.output());
    let data = &got[0].body["data"];
    let text = data["text"].as_str().unwrap();
    assert!(text.starts_with("see attached"), "{text}");
    assert!(
        text.contains("file `big.bin` not attached: 2.0 MB is over the 1.0 MB limit (mediaMaxMb)"),
        "{text}"
    );
    let attachments = data["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{data:#}");
    let att = &attachments[0];
    let guid = att["guid"].as_str().unwrap();
    assert!(guid.starts_with("zoom-file-"), "{att:#}");
    assert_eq!(att["transferName"], "pic.png");
    assert_eq!(att["mimeType"], "image/png");
    assert_eq!(att["totalBytes"], PNG.len());
    assert!(
        att.get("path").is_none(),
        "the local path stays private: {att:#}"
    );

    // The download route: the bytes and type, behind the password.
    let http = reqwest::Client::new();
    let url = |guid: &str, pw: Option<&str>| {
        let mut u = format!("{}/api/v1/attachment/{guid}/download", second.url);
        if let Some(pw) = pw {
            u.push_str(&format!("?password={pw}"));
        }
        u
    };
    let res = http.get(url(guid, Some(PASSWORD))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    let res = http.get(url(guid, None)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .get(url("zoom-file-unknown", Some(PASSWORD)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["message"], "Attachment does not exist!",
        "{body:#}"
    );

    // A redelivered event (after the restart, so only the store knows it):
    // no new message and no second download; a later message still flows.
    assert_eq!(fake.push_event(event), 1);
    assert_eq!(
        fake.push_event(channel_message(
            "msg-2",
            "after",
            json!([]),
            1_736_150_401_000
        )),
        1
    );
    let got = receiver
        .wait_for(WAIT, |r| without_gap_notices(r).len() >= 2)
        .await;
    let got = without_gap_notices(&got);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[1].body["data"]["text"], "after");
    assert_eq!(file_info_calls(&fake), 1);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_files_reach_send_chat_file_and_oversized_ones_are_refused() {
    let Connected {
        fake,
        receiver: _receiver,
        dir: _dir,
        sidecar,
        ..
    } = start_connected("chat-files-out", "info", "").await;
    sidecar
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    let http = reqwest::Client::new();
    let send = |name: &'static str, data: Vec<u8>, chat: &'static str, temp: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("chatGuid", chat)
            .text("name", name)
            .text("tempGuid", temp)
            .text("method", "private-api")
            .part(
                "attachment",
                reqwest::multipart::Part::bytes(data).file_name(name),
            );
        http.post(format!(
            "{}/api/v1/message/attachment?password={PASSWORD}",
            sidecar.url
        ))
        .multipart(form)
        .send()
    };
    let res = send("chart.png", PNG.to_vec(), "zoom;+;channel:chan-1", "t-1")
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["message"], "Attachment sent!");
    let sent = fake.sent_files();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].file_name, "chart.png");
    assert_eq!(sent[0].size, PNG.len());
    assert_eq!(sent[0].content_type.as_deref(), Some("image/png"));
    assert_eq!(sent[0].to_channel.as_deref(), Some("chan-1"));
    assert_eq!(sent[0].user_id, "me@example.com");
    assert_eq!(body["data"]["guid"], sent[0].id.as_str());
    assert_eq!(body["data"]["attachments"][0]["transferName"], "chart.png");

    // Zoom's limit, enforced by Zoom (the fake's knob lowers it): a clear 400.
    fake.update_knobs(|k| k.max_file_bytes = Some(8));
    let res = send("notes.txt", vec![b'a'; 64], "zoom;-;bob@example.com", "t-2")
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    let detail = body["error"]["message"].as_str().unwrap_or_default();
    assert!(detail.contains("Maximum file size exceeded"), "{body:#}");
    assert_eq!(fake.sent_files().len(), 1);
    drop(sidecar);
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
