//! The event boundary: a panic while handling one event neither stops the
//! pipeline nor loses the events after it, over WebSocket and webhooks.

use std::time::Duration;

use fake_zoom::{FakeConfig, FakeZoom};
use moltbot_channel::{Secret, inbound_channel};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use zoom::{Credentials, Grant, WebhookConfig, serve_webhooks, webhook_router};

use super::*;
use crate::config::SendAs;

/// Events with this name make [`Inner::accept`] panic in test builds: an
/// injected rendering failure.
const PANIC_EVENT: &str = "test.panic";
const WAIT: Duration = Duration::from_secs(10);
const WEBHOOK_SECRET: &str = "whsec-boundary";

/// The test hook called at the top of [`Inner::accept`].
pub(super) fn panic_hook(event: &zoom_wire::Event) {
    assert!(
        event.event != PANIC_EVENT,
        "injected renderer panic for {PANIC_EVENT}"
    );
}

fn config(fake: &FakeZoom) -> ZoomChannelConfig {
    ZoomChannelConfig {
        subscription_id: fake.config().subscription_id.clone(),
        send_as: SendAs::User {
            sender: "me@example.com".into(),
        },
        ..Default::default()
    }
}

fn clients(fake: &FakeZoom) -> (TokenProvider, ZoomApi) {
    let http = reqwest::Client::new();
    let creds = Credentials {
        client_id: fake.config().client_id.clone(),
        client_secret: Secret::new(fake.config().client_secret.clone()),
        account_id: Some(fake.config().account_id.clone()),
        grant: Grant::AccountCredentials,
    };
    let tokens = TokenProvider::new(http.clone(), &fake.base_url(), creds);
    let api = ZoomApi::new(http, &fake.base_url(), tokens.clone());
    (tokens, api)
}

fn meeting_started(id: u64) -> Value {
    json!({
        "event": "meeting.started",
        "event_ts": 1_700_000_000_000u64 + id,
        "payload": {"account_id": "fake-account", "object": {
            "id": id.to_string(), "uuid": format!("u{id}"), "host_id": "h",
            "topic": format!("Meeting {id}"), "type": 2,
            "start_time": "2024-01-01T10:00:00Z", "duration": 30
        }}
    })
}

fn poison(n: u64) -> Value {
    json!({"event": PANIC_EVENT, "event_ts": 1_700_000_000_000u64 + n, "payload": {"object": {"id": n.to_string()}}})
}

fn start_context(inbound: moltbot_channel::InboundSender) -> (StartContext, CancellationToken) {
    let cancel = CancellationToken::new();
    let ctx = StartContext {
        account_id: "default".into(),
        inbound,
        cancel: cancel.clone(),
    };
    (ctx, cancel)
}

#[tokio::test]
async fn a_panicking_event_over_websocket_is_dropped_and_the_next_one_flows() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let (tokens, api) = clients(&fake);
    let session = SessionConfig::new(fake.ws_url(), fake.config().subscription_id.clone());
    let channel = ZoomChannel::new(config(&fake), session, tokens, api);
    let (tx, mut inbound) = inbound_channel(16);
    let (ctx, cancel) = start_context(tx);
    let task = tokio::spawn({
        let channel = channel.clone();
        async move { channel.start(ctx).await }
    });
    assert!(fake.wait_for_open_connections(1, WAIT).await);

    assert_eq!(fake.push_event(poison(1)), 1);
    assert_eq!(fake.push_event(meeting_started(1)), 1);
    assert_eq!(fake.push_event(poison(2)), 1);
    assert_eq!(fake.push_event(meeting_started(2)), 1);
    for id in [1, 2] {
        let message = tokio::time::timeout(WAIT, inbound.recv())
            .await
            .expect("the pipeline stopped after a panic")
            .unwrap()
            .ack();
        assert!(
            message.body.contains(&format!("Meeting {id}")),
            "{}",
            message.body
        );
    }
    assert!(!task.is_finished());
    let status = channel.status();
    assert_eq!(status.counters.events_failed, 2);
    assert_eq!(status.counters.messages_emitted, 2);
    assert_eq!(status.connection, ConnectionState::Connected);
    assert_eq!(status.queue.capacity, 10_000);
    assert_eq!(status.queue.depth, 0);
    assert!(status.queue.high_water >= 1);
    assert_eq!(fake.ws_connects(), 1, "the connection stayed up");

    cancel.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn a_panicking_webhook_event_gets_422_and_later_events_get_200() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let (tokens, api) = clients(&fake);
    let (deliveries_tx, deliveries) = mpsc::channel(8);
    let channel = ZoomChannel::new_webhook(config(&fake), deliveries, tokens, api);
    let mut webhook = WebhookConfig::new(Secret::new(WEBHOOK_SECRET));
    webhook.ack_timeout = WAIT;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, mut inbound) = inbound_channel(16);
    let (ctx, cancel) = start_context(tx);
    tokio::spawn(serve_webhooks(
        listener,
        webhook_router(webhook, deliveries_tx),
        cancel.clone(),
    ));
    let task = tokio::spawn({
        let channel = channel.clone();
        async move { channel.start(ctx).await }
    });
    // The consumer acks everything it gets.
    let consumer = tokio::spawn(async move {
        let mut bodies = Vec::new();
        while let Some(delivery) = inbound.recv().await {
            bodies.push(delivery.ack().body);
        }
        bodies
    });
    let post = |event: Value| {
        let url = url.clone();
        async move {
            FakeZoom::send_webhook(&url, WEBHOOK_SECRET, &event, 2, Duration::from_millis(10))
                .await
                .unwrap()
        }
    };
    assert_eq!(post(poison(3)).await, 422);
    assert_eq!(post(meeting_started(7)).await, 200);
    assert_eq!(post(poison(4)).await, 422);
    assert_eq!(post(meeting_started(8)).await, 200);
    let status = channel.status();
    assert_eq!(status.counters.events_failed, 2);
    assert_eq!(status.counters.messages_emitted, 2);
    assert!(!task.is_finished());

    cancel.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let bodies = consumer.await.unwrap();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(bodies[0].contains("Meeting 7") && bodies[1].contains("Meeting 8"));
    fake.shutdown();
}
