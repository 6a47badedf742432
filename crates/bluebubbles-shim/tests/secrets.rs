//! The password, the webhook secret and webhook query strings never reach
//! the logs, even at TRACE.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use bluebubbles_shim::Store;
use common::*;
use moltbot_channel::{CancellationToken, ChatType};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_appear_in_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut rx = receiver(1).await;
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    config.webhook_secret = Some("webhook-secret-value".into());
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let router = shim.router();

    get(&router, &authed("/api/v1/ping")).await;
    get(&router, &format!("/api/v1/ping?guid={PASSWORD}")).await;
    get(&router, "/api/v1/ping?password=wrong-guess-value").await;
    send(
        &router,
        Request::get("/api/v1/server/info")
            .header("authorization", format!("Bearer {PASSWORD}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;+;feed", "tempGuid": "t", "message": "hi"}),
    )
    .await;
    post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"message": "invalid"}),
    )
    .await;
    post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"url": "http://127.0.0.1:9/other?password=api-hook-pw", "events": ["*"]}),
    )
    .await;

    // A delivery that fails once, then succeeds.
    let (tx, cancel_in, _) = start_inbound(&shim);
    let cancel = CancellationToken::new();
    let s = shim.clone();
    let c = cancel.clone();
    tokio::spawn(async move { s.run_delivery(c).await });
    tx.send_acked(inbound("m1", "zoom;+;feed", ChatType::Group, "x", 1))
        .await
        .unwrap();
    rx.accepted(1).await;
    cancel.cancel();
    cancel_in.cancel();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("/api/v1/ping"), "the capture works: {logs}");
    assert!(logs.contains("delivery failed; will retry"), "{logs}");
    for secret in [
        PASSWORD,
        "wrong-guess-value",
        "webhook-secret-value",
        "hook-pw",
        "api-hook-pw",
        "password=",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into logs:\n{logs}"
        );
    }
    assert!(!format!("{shim:?}").contains(PASSWORD));
}
