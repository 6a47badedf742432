//! Crash safety of the outbox: events stored while the webhook receiver is
//! down survive a SIGKILL and are delivered, complete and in order per
//! conversation, by the restarted sidecar.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::http::StatusCode;
use common::*;

/// Meetings (conversations) and events per meeting: N = 240.
const MEETINGS: u64 = 8;
const PER_MEETING: u32 = 30;
const N: usize = 240;

/// How long the restarted sidecar may take to deliver everything: the
/// deliveries' backoff (a few failures before the kill) plus the poll interval.
const DELIVERY_WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_messages_survive_sigkill_and_go_out_in_order_after_restart() {
    assert_eq!(N, usize::try_from(MEETINGS).unwrap() * PER_MEETING as usize);
    let fake = fake_zoom().await;
    let hook_port = free_port();
    let dir = TempDir::new("crash");
    let config = write_config(&dir, &fake, "127.0.0.1:0", &webhook_url(hook_port), "");

    let first = SidecarProcess::start(&config, "info");
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "no WebSocket connection; output:\n{}",
        first.output()
    );
    let base_ts = 1_736_150_400_000_i64;
    for seq in 0..PER_MEETING {
        for m in 0..MEETINGS {
            let ts = base_ts + i64::from(seq) * 1000 + i64::try_from(m).unwrap();
            assert_eq!(fake.push_event(meeting_started(1000 + m, seq, ts)), 1);
        }
    }
    let status = first
        .wait_status("every event in the outbox", |s| {
            s["outbox"]["depth"] == serde_json::json!(N)
        })
        .await;
    assert_eq!(status["outbox"]["delivered"], 0, "{status:#}");
    assert_eq!(status["outbox"]["deadLetters"], 0, "{status:#}");
    first.kill();

    let second = SidecarProcess::start(&config, "info");
    let receiver = Receiver::start(hook_port, StatusCode::OK).await;
    let got = receiver
        .wait_for(DELIVERY_WAIT, |r| {
            let mut guids: Vec<_> = r.iter().map(|h| &h.body["data"]["guid"]).collect();
            guids.sort_by_key(|g| g.to_string());
            guids.dedup();
            guids.len() >= N
        })
        .await;

    // Every (conversation, seq) exactly once by guid, first arrivals in order.
    let mut guid_of: HashMap<(String, u32), String> = HashMap::new();
    let mut order: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for hook in &got {
        let data = &hook.body["data"];
        let chat = data["chats"][0]["guid"].as_str().unwrap().to_owned();
        let text = data["text"].as_str().unwrap();
        let seq = seq_of(text).unwrap_or_else(|| panic!("no sequence number in {text}"));
        let guid = data["guid"].as_str().unwrap().to_owned();
        match guid_of.get(&(chat.clone(), seq)) {
            Some(first) => assert_eq!(first, &guid, "a duplicate of {chat} #{seq} with a new guid"),
            None => {
                guid_of.insert((chat.clone(), seq), guid);
                order.entry(chat).or_default().push(seq);
            }
        }
    }
    assert_eq!(
        guid_of.len(),
        N,
        "{} of {N} messages arrived within {DELIVERY_WAIT:?}; output:\n{}",
        guid_of.len(),
        second.output()
    );
    assert_eq!(order.len(), usize::try_from(MEETINGS).unwrap());
    let expected: Vec<u32> = (0..PER_MEETING).collect();
    for (chat, seqs) in &order {
        assert_eq!(seqs, &expected, "delivery order of {chat}");
    }
    let status = second
        .wait_status("an empty outbox", |s| s["outbox"]["depth"] == 0)
        .await;
    assert_eq!(status["outbox"]["deadLetters"], 0, "{status:#}");
}

/// The sidecar-SIGKILL window of a reply: Zoom took the first part of a
/// three-part reply and the sidecar was killed before Zoom's answer (so
/// before it recorded anything). The gateway retries the send with the same
/// tempGuid against the restarted sidecar: Zoom ends up with each part
/// exactly once, and the answer names the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_by_sigkill_is_completed_after_restart_without_posting_a_part_twice() {
    let fake = fake_zoom().await;
    fake.update_knobs(|k| {
        k.echo_sends = false;
        // Zoom keeps the post but answers only after the kill.
        k.send_response_delay_ms = Some(60_000);
    });
    let dir = TempDir::new("crash-reply");
    let config = write_config(&dir, &fake, "127.0.0.1:0", &webhook_url(free_port()), "");
    let three_parts = "lorem ipsum ".repeat(210);
    let body = serde_json::json!({
        "chatGuid": "zoom;+;channel:chan-1",
        "tempGuid": "reply-cut-1",
        "message": three_parts,
    });
    let send = |url: String, body: serde_json::Value| async move {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/message/text?password={PASSWORD}"))
            .json(&body)
            .send()
            .await
    };

    let first = SidecarProcess::start(&config, "info");
    let cut = tokio::spawn(send(first.url.clone(), body.clone()));
    assert!(
        fake.wait_for_team_chat(1, WAIT).await,
        "the first part never reached Zoom; output:\n{}",
        first.output()
    );
    first.kill();
    // The client saw the connection drop, not an answer.
    assert!(cut.await.unwrap().is_err());
    assert_eq!(fake.team_chat_messages().len(), 1);

    fake.update_knobs(|k| k.send_response_delay_ms = None);
    let second = SidecarProcess::start(&config, "info");
    let retry = send(second.url.clone(), body).await.unwrap();
    assert_eq!(retry.status(), 200);
    let reply: serde_json::Value = retry.json().await.unwrap();
    let sent = fake.team_chat_messages();
    let texts: Vec<&str> = sent.iter().map(|m| m.body.message.as_str()).collect();
    assert_eq!(texts.len(), 3, "each part once, not {} posts", texts.len());
    assert_eq!(texts.concat(), three_parts);
    assert_eq!(reply["data"]["guid"], sent[0].id.as_str(), "{reply:#}");
    assert_eq!(reply["data"]["tempGuid"], "reply-cut-1");
    assert!(
        second
            .output()
            .contains("parts already on Zoom are not posted again"),
        "{}",
        second.output()
    );
}
