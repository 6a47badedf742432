//! The real `moltbot-zoom run` binary against an in-process fake Zoom and a
//! webhook receiver: inbound events become BlueBubbles webhooks, a REST send
//! reaches Team Chat, `/status` reports the connection, and no secret reaches
//! the output even at TRACE.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const MEETING: u64 = 81_234_567_890;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_webhooks_sends_reach_team_chat_and_nothing_secret_is_printed() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new("sidecar");
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(receiver.addr.port()),
        "maxAttempts = 3",
    );
    // Dependencies are capped at INFO unless named: name them, so their TRACE
    // output is searched for secrets too.
    let sidecar = SidecarProcess::start(
        &config,
        "trace,hyper=trace,hyper_util=trace,h2=trace,reqwest=trace,rustls=trace,\
         tungstenite=trace,tokio_tungstenite=trace,tower_http=trace,axum=trace",
    );
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "no WebSocket connection; output:\n{}",
        sidecar.output()
    );

    // /status: connected.
    let status = sidecar
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    assert_eq!(status["zoom"]["connection"]["state"], "connected");
    assert_eq!(status["outbox"]["depth"], 0);
    assert_eq!(
        status["webhooks"],
        json!([format!("http://{}/zoom-webhook", receiver.addr)])
    );

    // Inbound: two events → two webhooks, in order.
    let ts = 1_736_150_400_000_i64;
    assert_eq!(fake.push_event(meeting_started(MEETING, 1, ts)), 1);
    assert_eq!(fake.push_event(meeting_started(MEETING, 2, ts + 1)), 1);
    let got = receiver.wait_for(WAIT, |r| r.len() >= 2).await;
    assert_eq!(got.len(), 2, "webhooks: {got:#?}\n{}", sidecar.output());
    let chat_guid = format!("zoom;+;meeting:{MEETING}");
    let mut guids = Vec::new();
    for (i, hook) in got.iter().enumerate() {
        // The URL carries `?password=`, which the receiver reads: no header.
        assert_eq!(hook.authorization, None);
        assert_eq!(
            hook.query.as_deref(),
            Some(format!("password={HOOK_QUERY_PASSWORD}").as_str())
        );
        let body = &hook.body;
        assert_eq!(body["type"], "new-message", "{body:#}");
        let data = &body["data"];
        let guid = data["guid"].as_str().unwrap();
        assert!(guid.starts_with("zoom-ev-"), "{guid}");
        guids.push(guid.to_owned());
        let text = data["text"].as_str().unwrap();
        assert!(text.starts_with("Meeting started: "), "{text}");
        assert_eq!(seq_of(text), Some(u32::try_from(i + 1).unwrap()), "{text}");
        assert!(text.contains(&MEETING.to_string()), "{text}");
        assert_eq!(data["handle"]["address"], "zoom");
        assert_eq!(data["isFromMe"], false);
        assert_eq!(data["dateCreated"], json!(ts + i64::try_from(i).unwrap()));
        assert_eq!(data["chats"][0]["guid"], chat_guid.as_str());
        assert_eq!(data["chats"][0]["style"], 43);
        assert_eq!(data["zoom"]["eventType"], "meeting.started");
        assert_eq!(data["zoom"]["mode"], "message");
    }
    assert_ne!(guids[0], guids[1]);

    // Outbound: a BlueBubbles send to the meeting goes to the default target.
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/message/text?password={PASSWORD}",
            sidecar.url
        ))
        .json(&json!({
            "chatGuid": chat_guid,
            "tempGuid": "temp-1",
            "message": "Thanks, noted.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reply: Value = res.json().await.unwrap();
    assert!(fake.wait_for_team_chat(1, WAIT).await);
    let sent = fake.team_chat_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.message, "Thanks, noted.");
    assert_eq!(sent[0].body.to_contact.as_deref(), Some(DEFAULT_TARGET));
    assert_eq!(sent[0].body.to_channel, None);
    assert_eq!(reply["data"]["guid"], sent[0].id.as_str(), "{reply:#}");
    assert_eq!(reply["data"]["tempGuid"], "temp-1");
    assert_eq!(reply["data"]["isFromMe"], true);

    let status = sidecar
        .wait_status("the delivered count", |s| s["outbox"]["delivered"] == 2)
        .await;
    assert_eq!(status["zoom"]["counters"]["sent"], 1);
    assert_eq!(status["outbox"]["depth"], 0);

    // Secrets: none of them anywhere in the whole output, at TRACE.
    let tokens_issued = fake.token_requests();
    let output = sidecar.kill();
    assert!(
        output.contains("moltbot-zoom listening on"),
        "output was not captured"
    );
    assert!(
        output.contains("TRACE") || output.contains("DEBUG"),
        "RUST_LOG=trace did not apply"
    );
    assert!(tokens_issued >= 1);
    let mut secrets = vec![
        CLIENT_SECRET.to_owned(),
        PASSWORD.to_owned(),
        WEBHOOK_SECRET_TOKEN.to_owned(),
        HOOK_QUERY_PASSWORD.to_owned(),
        "access_token=".to_owned(),
    ];
    secrets.extend((1..=tokens_issued).map(|n| format!("tok-{n}")));
    for secret in &secrets {
        if let Some(at) = output.find(secret.as_str()) {
            let from = output[..at].rfind('\n').map_or(0, |i| i + 1);
            let to = output[at..].find('\n').map_or(output.len(), |i| at + i);
            panic!("`{secret}` appears in the output:\n{}", &output[from..to]);
        }
    }
}

/// `run` re-executes itself once (same pid) with mimalloc's purge delay
/// set, so freed memory goes back to the system within 10 ms; a value the
/// user set is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allocator_returns_freed_memory_soon_unless_the_user_says_otherwise() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new("purge-delay");
    let hook = webhook_url(receiver.addr.port());
    let config = write_config(&dir, &fake, "127.0.0.1:0", &hook, "");
    let environment = |pid: u32| -> Vec<String> {
        let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        raw.split(|b| *b == 0)
            .filter(|v| v.starts_with(b"MIMALLOC_"))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };

    let sidecar = SidecarProcess::start(&config, "warn");
    assert_eq!(
        environment(sidecar.pid()),
        ["MIMALLOC_PURGE_DELAY=10"],
        "{}",
        sidecar.output()
    );
    sidecar.kill();

    let sidecar =
        SidecarProcess::start_with_env(&config, "warn", &[("MIMALLOC_PURGE_DELAY", "250")]);
    assert_eq!(environment(sidecar.pid()), ["MIMALLOC_PURGE_DELAY=250"]);
    sidecar.kill();
}
