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
