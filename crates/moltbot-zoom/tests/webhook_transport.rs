//! `transport = "webhook"`: the real binary receives Zoom's signed webhooks,
//! answers URL validation, rejects bad signatures, drops Zoom's retries, and
//! delivers each event once as a BlueBubbles webhook — the same message the
//! WebSocket transport produces.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use fake_zoom::FakeZoom;

const MEETING: u64 = 86_420_864_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_become_chat_messages_once() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new("webhook-transport");
    let zoom_port = free_port();
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(receiver.addr.port()),
        &format!("transport = \"webhook\"\nwebhookListen = \"127.0.0.1:{zoom_port}\""),
    );
    let sidecar = SidecarProcess::start(&config, "info");
    sidecar
        .wait_status("the webhook receiver", |s| s["zoom"]["connected"] == true)
        .await;
    let url = format!("http://127.0.0.1:{zoom_port}/");

    // URL validation is answered with the HMAC of the plain token.
    let (status, body) = FakeZoom::send_url_validation(&url, WEBHOOK_SECRET_TOKEN, "plain-123")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body["encryptedToken"],
        zoom_wire::url_validation_response(WEBHOOK_SECRET_TOKEN, "plain-123").encrypted_token
    );

    // A wrong secret is refused and delivers nothing.
    let event = meeting_started(MEETING, 1, 1_736_150_400_000);
    let wrong = FakeZoom::send_webhook(&url, "not-the-secret", &event, 0, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(wrong, 401);

    // The real event, then Zoom's retry of it: accepted twice, delivered once.
    for _ in 0..2 {
        let status = FakeZoom::send_webhook(&url, WEBHOOK_SECRET_TOKEN, &event, 0, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(status, 200, "{}", sidecar.output());
    }
    let got = receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let data = &got[0].body["data"];
    assert_eq!(
        data["chats"][0]["guid"],
        format!("zoom;+;meeting:{MEETING}")
    );
    assert_eq!(data["zoom"]["eventType"], "meeting.started");
    assert!(
        data["text"]
            .as_str()
            .unwrap()
            .contains(&MEETING.to_string())
    );
    // The sidecar counts the delivery once the receiver's answer is back, which can be
    // after the receiver saw the request.
    let status = sidecar
        .wait_status("the delivery counted", |s| s["outbox"]["delivered"] != 0)
        .await;
    assert_eq!(status["outbox"]["delivered"], 1, "{status:#}");
    assert_eq!(receiver.received().len(), 1, "delivered twice");
    assert!(
        !sidecar.output().contains(WEBHOOK_SECRET_TOKEN),
        "the webhook secret reached the output"
    );
}
