//! Meetings as content through the real `moltbot-zoom run`: a
//! `meeting.summary_completed` event becomes the fetched summary in the
//! meeting's conversation, a transcript becomes an excerpt plus a saved text
//! attachment; missing scopes, 404s, cut, oversized and malformed transcripts
//! are said in the message.

mod common;

use common::*;
use serde_json::{Value, json};

/// A `meeting.summary_completed` event for meeting `id` / instance `uuid`.
fn summary_completed(id: u64, uuid: &str, ts: i64) -> Value {
    json!({
        "event": "meeting.summary_completed",
        "event_ts": ts,
        "payload": {
            "account_id": "fake-account",
            "object": {
                "meeting_host_id": "host-1",
                "meeting_host_email": "alice@example.com",
                "meeting_uuid": uuid,
                "meeting_id": id,
                "meeting_topic": format!("Planning {id}"),
                "meeting_start_time": "2025-01-06T09:00:00Z",
                "meeting_end_time": "2025-01-06T09:40:00Z",
                "summary_start_time": "2025-01-06T09:00:00Z",
                "summary_end_time": "2025-01-06T09:40:00Z",
                "summary_created_time": "2025-01-06T09:41:00Z",
                "summary_last_modified_time": "2025-01-06T09:41:00Z",
                "summary_title": "Planning summary",
                "summary_overview": format!("Carried overview {id}."),
                "summary_details": [],
                "next_steps": [format!("Carried step {id}")]
            }
        }
    })
}

/// The REST answer of "Get a meeting summary" for `uuid`.
fn summary_body(id: u64, uuid: &str) -> Value {
    json!({
        "meeting_host_id": "host-1",
        "meeting_host_email": "alice@example.com",
        "meeting_uuid": uuid,
        "meeting_id": id,
        "meeting_topic": format!("Planning {id}"),
        "meeting_start_time": "2025-01-06T09:00:00Z",
        "meeting_end_time": "2025-01-06T09:40:00Z",
        "summary_title": "Planning summary",
        "summary_overview": "The team agreed to ship in March.",
        "summary_details": [
            {"label": "Budget", "summary": "The budget was approved."},
            {"label": "Hiring", "summary": "Two roles open in Q2."}
        ],
        "next_steps": ["Alice: send the plan by Friday", "Bob: book the venue"],
        "summary_doc_url": "https://docs.zoom.us/doc/summary-1"
    })
}

fn webhook_texts(got: &[Received]) -> Vec<(String, String, String)> {
    got.iter()
        .map(|r| {
            let d = &r.body["data"];
            (
                d["chats"][0]["guid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                d["text"].as_str().unwrap_or_default().to_owned(),
                d["zoom"]["mode"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The `n`th webhook's conversation, text and mode (1-based), once `n` arrived.
async fn nth_webhook(receiver: &Receiver, n: usize) -> (String, String, String) {
    let got = receiver.wait_for(WAIT, |r| r.len() >= n).await;
    webhook_texts(&got)[n - 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_reach_the_meeting_conversation_and_failures_say_why() {
    let Connected {
        fake,
        receiver,
        dir: _dir,
        sidecar,
        ..
    } = start_connected("summary", "info", "").await;
    // Needs double encoding: it starts with `/` and contains `//`.
    let slashed = "/ab//cd+ef==";
    fake.add_meeting_summary(summary_body(1001, slashed));
    fake.add_meeting_summary(summary_body(1003, "plain-uuid-3=="));

    // 1. Fetched: overview, sections, next steps, link; the meeting's conversation.
    let ts = 1_736_150_400_000_i64;
    assert_eq!(fake.push_event(summary_completed(1001, slashed, ts)), 1);
    let got = receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    let texts = webhook_texts(&got);
    assert_eq!(texts.len(), 1, "{}", sidecar.output());
    let (chat, text, mode) = &texts[0];
    assert_eq!(chat, "zoom;+;meeting:1001");
    assert_eq!(mode, "message");
    for part in [
        "Meeting summary: \"Planning 1001\" (ID 1001)",
        "Overview:\nThe team agreed to ship in March.",
        "Budget:\nThe budget was approved.",
        "Hiring:\nTwo roles open in Q2.",
        "Next steps:\n- Alice: send the plan by Friday\n- Bob: book the venue",
        "Full summary: https://docs.zoom.us/doc/summary-1",
    ] {
        assert!(text.contains(part), "missing {part:?} in {text}");
    }
    assert!(!text.contains("Carried"), "{text}");
    assert!(!text.contains("Only what the event carried"), "{text}");
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(
            &"/v2/meetings/%252Fab%252F%252Fcd%252Bef%253D%253D/meeting_summary".to_owned()
        ),
        "{paths:?}"
    );

    // 2. No summary on Zoom (404): what the event carried, and why.
    fake.push_event(summary_completed(1002, "no-such-uuid==", ts + 1));
    let (chat, text, _) = nth_webhook(&receiver, 2).await;
    assert_eq!(chat, "zoom;+;meeting:1002");
    assert!(text.contains("Overview:\nCarried overview 1002."), "{text}");
    assert!(text.contains("Next steps:\n- Carried step 1002"), "{text}");
    assert!(
        text.contains("(Only what the event carried is shown: Zoom has no summary for this meeting instance (HTTP 404"),
        "{text}"
    );

    // 3. The scope is missing: the summary exists but cannot be read.
    fake.update_knobs(|k| k.withheld_scopes = vec!["meeting:read:summary:admin".into()]);
    fake.push_event(summary_completed(1003, "plain-uuid-3==", ts + 2));
    let (chat, text, _) = nth_webhook(&receiver, 3).await;
    assert_eq!(chat, "zoom;+;meeting:1003");
    assert!(text.contains("Carried overview 1003."), "{text}");
    assert!(!text.contains("ship in March"), "{text}");
    assert!(
        text.contains("lacks the scope to read meeting summaries"),
        "{text}"
    );
    assert!(text.contains("meeting:read:summary:admin"), "{text}");

    // 4. Redelivered: deduplicated, not fetched again.
    let fetches = |fake: &fake_zoom::FakeZoom| {
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/meeting_summary"))
            .count()
    };
    let before = fetches(&fake);
    fake.push_event(summary_completed(1001, slashed, ts));
    fake.push_event(summary_completed(1004, "no-such-uuid-4==", ts + 3));
    let got = receiver.wait_for(WAIT, |r| r.len() >= 4).await;
    assert_eq!(got.len(), 4);
    assert_eq!(webhook_texts(&got)[3].0, "zoom;+;meeting:1004");
    assert_eq!(
        fetches(&fake),
        before + 1,
        "the duplicate was fetched again"
    );
    let output = sidecar.kill();
    assert!(!output.contains(CLIENT_SECRET), "{output}");
}

/// `n` cues alternating between two speakers, two cues per turn.
fn vtt(n: usize) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for i in 0..n {
        let speaker = if (i / 2) % 2 == 0 {
            "Alice Example"
        } else {
            "Bob Builder"
        };
        out.push_str(&format!(
            "{}\n00:{:02}:{:02}.500 --> 00:{:02}:{:02}.900\n{speaker}: line {i} of the talk.\n\n",
            i + 1,
            i / 60,
            i % 60,
            i / 60,
            i % 60
        ));
    }
    out
}

fn transcript_event(name: &str, id: u64, file_id: &str, url: &str, ts: i64) -> Value {
    json!({
        "event": name,
        "event_ts": ts,
        "payload": {
            "account_id": "fake-account",
            "object": {
                "id": id, "uuid": format!("uuid-{id}=="), "host_id": "host-1",
                "topic": format!("Review {id}"), "start_time": "2025-01-06T09:00:00Z", "duration": 30,
                "recording_files": [
                    {"id": format!("{file_id}-mp4"), "file_type": "MP4", "file_extension": "MP4",
                     "recording_type": "shared_screen_with_speaker_view", "status": "completed",
                     "download_url": "https://zoom.invalid/never-fetched"},
                    {"id": file_id, "meeting_id": format!("uuid-{id}=="), "file_type": "TRANSCRIPT",
                     "file_extension": "VTT", "file_size": 1234, "recording_type": "audio_transcript",
                     "status": "completed", "download_url": url}
                ]
            }
        }
    })
}

fn media_files(dir: &TempDir) -> Vec<std::path::PathBuf> {
    let media = dir.db().with_extension("media");
    let mut files: Vec<_> = std::fs::read_dir(media)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_arrive_as_excerpt_and_attachment_and_bad_files_are_explained() {
    let Connected {
        fake,
        receiver,
        dir,
        sidecar,
        ..
    } = start_connected(
        "transcript",
        "info",
        "transcriptExcerptLines = 3\ntranscriptMaxBytes = 4000",
    )
    .await;
    let ts = 1_736_150_400_000_i64;
    let transcript_completed = |id, file_id: &str, url: &str, ts| {
        fake.push_event(transcript_event(
            "recording.transcript_completed",
            id,
            file_id,
            url,
            ts,
        ))
    };

    // 1. 20 cues → 10 turns; 3 shown, 7 in the attachment only.
    let url = fake.add_recording_file("tr-1", vtt(20).into_bytes());
    transcript_completed(2001, "tr-1", &url, ts);
    let (chat, text, mode) = nth_webhook(&receiver, 1).await;
    assert_eq!(chat, "zoom;+;meeting:2001", "{}", sidecar.output());
    assert_eq!(mode, "message");
    assert!(
        text.starts_with("Transcript ready: \"Review 2001\" (ID 2001)."),
        "{text}"
    );
    assert!(
        text.contains("Transcript (10 turns, full text attached):"),
        "{text}"
    );
    assert!(
        text.contains("\n[00:00] Alice Example: line 0 of the talk. line 1 of the talk.\n[00:02] Bob Builder: line 2 of the talk. line 3 of the talk.\n[00:04] Alice Example:"),
        "{text}"
    );
    assert!(!text.contains("line 6 of"), "{text}");
    assert!(text.contains("… 7 more lines in the attachment"), "{text}");
    assert_eq!(fake.recording_downloads("tr-1"), 1);
    let files = media_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        saved.starts_with("Transcript of \"Review 2001\" (ID 2001), started 2025-01-06 09:00 UTC"),
        "{saved}"
    );
    assert!(
        saved.contains("[00:18] Bob Builder: line 18 of the talk. line 19 of the talk."),
        "{saved}"
    );
    assert_eq!(
        saved.lines().filter(|l| l.starts_with('[')).count(),
        10,
        "{saved}"
    );

    // 2. The same file in `recording.completed`: same attachment id, no new file.
    fake.push_event(transcript_event(
        "recording.completed",
        2001,
        "tr-1",
        &url,
        ts + 1,
    ));
    let text = nth_webhook(&receiver, 2).await.1;
    assert!(text.starts_with("Recording ready: "), "{text}");
    assert!(text.contains("… 7 more lines in the attachment"), "{text}");
    assert_eq!(media_files(&dir), files);

    // 3. Oversized: cut at transcriptMaxBytes, said in the message.
    let url = fake.add_recording_file("tr-big", vtt(200).into_bytes());
    transcript_completed(2003, "tr-big", &url, ts + 2);
    let text = nth_webhook(&receiver, 3).await.1;
    assert!(
        text.contains("longer than transcriptMaxBytes (4000 bytes)"),
        "{text}"
    );
    assert!(text.contains("more lines in the attachment"), "{text}");

    // 4. A transfer cut mid-cue: the readable turns, nothing invented.
    fake.update_knobs(|k| k.recording_cut_at = Some(150));
    let url = fake.add_recording_file("tr-cut", vtt(6).into_bytes());
    transcript_completed(2004, "tr-cut", &url, ts + 3);
    let text = nth_webhook(&receiver, 4).await.1;
    assert!(
        text.contains("[00:00] Alice Example: line 0 of the talk."),
        "{text}"
    );
    assert!(!text.contains("line 5"), "{text}");
    fake.update_knobs(|k| k.recording_cut_at = None);

    // 5. Not WebVTT, and a missing scope: no attachment, the reason instead.
    let url = fake.add_recording_file("tr-junk", b"<html>oops</html>".to_vec());
    transcript_completed(2005, "tr-junk", &url, ts + 4);
    let text = nth_webhook(&receiver, 5).await.1;
    assert!(
        text.contains(
            "(The transcript could not be fetched: the file is not a readable WebVTT transcript"
        ),
        "{text}"
    );
    fake.update_knobs(|k| k.withheld_scopes = vec!["cloud_recording:read:recording:admin".into()]);
    let url = fake.add_recording_file("tr-scope", vtt(4).into_bytes());
    transcript_completed(2006, "tr-scope", &url, ts + 5);
    let text = nth_webhook(&receiver, 6).await.1;
    assert!(
        text.contains("(The transcript could not be fetched: Zoom API error 4711"),
        "{text}"
    );
    assert!(text.contains("does not contain scopes"), "{text}");
    assert_eq!(fake.recording_downloads("tr-scope"), 0);
    // Files: tr-1, tr-big, tr-cut.
    assert_eq!(media_files(&dir).len(), 3, "{:?}", media_files(&dir));
    let output = sidecar.kill();
    assert!(!output.contains(CLIENT_SECRET), "{output}");
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_the_summary_and_the_transcript_excerpt() {
    let out = cli(&["demo"], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for part in [
        "meeting.summary_completed (starts an agent turn)",
        "Zoom: Meeting summary: \"Weekly sync\" (ID 85746065432)",
        "Zoom: Next steps:",
        "Zoom: - Bob: tag the release on Friday",
        "Zoom: Full summary: https://docs.zoom.us/doc/85746065432",
        "Zoom: Transcript (4 turns, full text attached):",
        "Zoom: [00:06] Bob Builder: The last blocker is fixed. I can tag it on Friday.",
        "Zoom: … 1 more line in the attachment",
    ] {
        assert!(
            out.stdout.contains(part),
            "missing {part:?} in:\n{}",
            out.stdout
        );
    }
}
