//! The webhook receiver: in-memory requests (`tower::ServiceExt::oneshot`) and
//! `fake_zoom::FakeZoom`'s signed emitter over loopback.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Request, StatusCode},
};
use fake_zoom::FakeZoom;
use moltbot_channel::Secret;
use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::mpsc::{self, error::TryRecvError},
    time::{Instant, timeout},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};
use zoom::{WebhookConfig, WebhookDelivery, serve_webhooks, webhook_router};
use zoom_wire::{Event, sign_webhook, url_validation_response};

const SECRET: &str = "whsec-test-6f1c2b9e";
/// Upper bound on any wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

fn config() -> WebhookConfig {
    WebhookConfig::new(Secret::new(SECRET))
}

fn receiver(config: WebhookConfig) -> (Router, mpsc::Receiver<WebhookDelivery>) {
    let (tx, rx) = mpsc::channel(16);
    (webhook_router(config, tx), rx)
}

fn now_secs() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

fn meeting_started(id: &str) -> Value {
    json!({
        "event": "meeting.started",
        "event_ts": 1_626_230_691_572_i64,
        "payload": {
            "account_id": "acc-1",
            "object": {"id": id, "uuid": format!("uuid-{id}"), "host_id": "h1", "topic": "Standup"}
        }
    })
}

/// A POST signed with `secret` at `timestamp` (epoch seconds).
fn signed(secret: &str, timestamp: i64, body: impl Into<Vec<u8>>) -> Request<Body> {
    let body = body.into();
    let ts = timestamp.to_string();
    Request::post("/")
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &ts)
        .header("x-zm-signature", sign_webhook(secret, &ts, &body))
        .header("x-zm-request-id", "req-abc-123")
        .header("x-zm-trackingid", "track-xyz-789")
        .body(Body::from(body))
        .unwrap()
}

fn signed_event(event: &Value) -> Request<Body> {
    signed(SECRET, now_secs(), serde_json::to_vec(event).unwrap())
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// Asserts a 401 whose error names `needle`, and that nothing was forwarded.
async fn assert_refused(
    router: &Router,
    events: &mut mpsc::Receiver<WebhookDelivery>,
    request: Request<Body>,
    status: StatusCode,
    needle: &str,
) {
    let (got, body) = call(router, request).await;
    assert_eq!(got, status, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "error {message:?} should name {needle:?}"
    );
    assert_eq!(events.try_recv().unwrap_err(), TryRecvError::Empty);
}

/// Spawns a consumer that acks every delivery and passes the event on.
fn acking_consumer(
    mut deliveries: mpsc::Receiver<WebhookDelivery>,
) -> mpsc::UnboundedReceiver<zoom::ReceivedEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(d) = deliveries.recv().await {
            let _ = tx.send(d.ack());
        }
    });
    rx
}

/// Serves the receiver on 127.0.0.1:0; returns its URL.
async fn serve(router: Router, cancel: &CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(serve_webhooks(listener, router, cancel.clone()));
    url
}

#[tokio::test]
async fn signed_event_from_fake_is_forwarded_and_acked() {
    let (router, deliveries) = receiver(config());
    let mut events = acking_consumer(deliveries);
    let cancel = CancellationToken::new();
    let url = serve(router, &cancel).await;

    let event = meeting_started("111");
    let status = FakeZoom::send_webhook(&url, SECRET, &event, 0, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let received = timeout(WAIT, events.recv()).await.unwrap().unwrap();
    assert_eq!(received.raw_content, serde_json::to_string(&event).unwrap());
    assert_eq!(received.event, Event::parse(&received.raw_content).unwrap());
    assert_eq!(received.event.event, "meeting.started");
    assert_eq!(received.connection_id, 0);
    assert!(received.received_at_ms > 0);
    cancel.cancel();
}

#[tokio::test]
async fn url_validation_from_fake_gets_the_exact_answer_and_is_not_forwarded() {
    let (router, mut deliveries) = receiver(config());
    let cancel = CancellationToken::new();
    let url = serve(router, &cancel).await;

    let (status, answer) = FakeZoom::send_url_validation(&url, SECRET, "qgg8vlvZRS6UYooatFL8Aw")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let expected = url_validation_response(SECRET, "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(answer["plainToken"], expected.plain_token);
    assert_eq!(answer["encryptedToken"], expected.encrypted_token);
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);
    cancel.cancel();
}

#[tokio::test]
async fn unsigned_url_validation_is_refused() {
    let (router, mut events) = receiver(config());
    let body = json!({"event": "endpoint.url_validation", "payload": {"plainToken": "p"}});
    let request = signed("not-the-secret", now_secs(), body.to_string());
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::UNAUTHORIZED,
        "invalid signature",
    )
    .await;
}

#[tokio::test]
async fn wrong_secret_is_refused() {
    let (router, deliveries) = receiver(config());
    let cancel = CancellationToken::new();
    let url = serve(router, &cancel).await;
    let status = FakeZoom::send_webhook(
        &url,
        "some-other-secret",
        &meeting_started("1"),
        0,
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    let mut deliveries = deliveries;
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);

    // Same through oneshot, checking the error text.
    let (router, mut events) = receiver(config());
    let request = signed(
        "some-other-secret",
        now_secs(),
        meeting_started("1").to_string(),
    );
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::UNAUTHORIZED,
        "invalid signature",
    )
    .await;
    cancel.cancel();
}

#[tokio::test]
async fn tampered_body_is_refused() {
    let (router, mut events) = receiver(config());
    let ts = now_secs().to_string();
    let signed_body = meeting_started("1").to_string();
    let request = Request::post("/")
        .header("x-zm-request-timestamp", &ts)
        .header(
            "x-zm-signature",
            sign_webhook(SECRET, &ts, signed_body.as_bytes()),
        )
        .body(Body::from(meeting_started("2").to_string()))
        .unwrap();
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::UNAUTHORIZED,
        "invalid signature",
    )
    .await;
}

#[tokio::test]
async fn stale_timestamps_in_both_directions_are_refused() {
    let (router, mut events) = receiver(config());
    let body = meeting_started("1").to_string();
    for skew in [-6 * 60, 6 * 60] {
        // Correctly signed, but too old / too far in the future.
        let request = signed(SECRET, now_secs() + skew, body.clone());
        assert_refused(
            &router,
            &mut events,
            request,
            StatusCode::UNAUTHORIZED,
            "stale timestamp",
        )
        .await;
    }
    // Within the window is fine.
    let mut events = acking_consumer(events);
    let (status, _) = call(&router, signed(SECRET, now_secs() - 4 * 60, body)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(timeout(WAIT, events.recv()).await.unwrap().is_some());
}

#[tokio::test]
async fn missing_signature_header_is_refused() {
    let (router, mut events) = receiver(config());
    let request = Request::post("/")
        .header("x-zm-request-timestamp", now_secs().to_string())
        .body(Body::from(meeting_started("1").to_string()))
        .unwrap();
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::UNAUTHORIZED,
        "x-zm-signature",
    )
    .await;
}

#[tokio::test]
async fn missing_timestamp_header_is_refused() {
    let (router, mut events) = receiver(config());
    let body = meeting_started("1").to_string();
    let request = Request::post("/")
        .header(
            "x-zm-signature",
            sign_webhook(SECRET, &now_secs().to_string(), body.as_bytes()),
        )
        .body(Body::from(body))
        .unwrap();
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::UNAUTHORIZED,
        "x-zm-request-timestamp",
    )
    .await;
}

#[tokio::test]
async fn bad_json_and_non_events_are_bad_requests() {
    let (router, mut events) = receiver(config());
    for body in ["{not json", r#"{"payload":{}}"#, "[1,2]"] {
        let request = signed(SECRET, now_secs(), body);
        assert_refused(
            &router,
            &mut events,
            request,
            StatusCode::BAD_REQUEST,
            "not a Zoom event",
        )
        .await;
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let mut config = config();
    config.body_limit = 1024;
    let (router, mut events) = receiver(config);
    let mut event = meeting_started("1");
    event["payload"]["object"]["topic"] = json!("x".repeat(2048));
    let request = signed_event(&event);
    assert_refused(
        &router,
        &mut events,
        request,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    )
    .await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let (router, _events) = receiver(config());
    let request = Request::get("/").body(Body::empty()).unwrap();
    let (status, _) = call(&router, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn retry_after_ack_is_answered_200_without_forwarding() {
    let (router, mut deliveries) = receiver(config());
    let event = meeting_started("42");
    let first = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    let delivery = timeout(WAIT, deliveries.recv()).await.unwrap().unwrap();
    delivery.ack();
    let (status, body) = first.await.unwrap();
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );

    let (status, body) = call(&router, signed_event(&event)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);

    // A different event is still forwarded.
    let second = tokio::spawn(call_owned(
        router.clone(),
        signed_event(&meeting_started("43")),
    ));
    timeout(WAIT, deliveries.recv())
        .await
        .unwrap()
        .unwrap()
        .ack();
    assert_eq!(second.await.unwrap().0, StatusCode::OK);
}

async fn call_owned(router: Router, request: Request<Body>) -> (StatusCode, Value) {
    call(&router, request).await
}

#[tokio::test(start_paused = true)]
async fn retry_while_in_flight_waits_for_the_same_ack() {
    let mut config = config();
    config.ack_timeout = Duration::from_secs(10);
    let (router, mut deliveries) = receiver(config);
    let event = meeting_started("7");
    let first = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    let delivery = timeout(WAIT, deliveries.recv()).await.unwrap().unwrap();
    let retry = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    // Paused time only advances once every task is idle: the retry is parked.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!retry.is_finished());
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);

    delivery.ack();
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    let (status, body) = retry.await.unwrap();
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);
}

#[tokio::test(start_paused = true)]
async fn unacked_event_gets_503_and_is_not_forwarded_again() {
    let mut config = config();
    config.ack_timeout = Duration::from_millis(200);
    let (router, mut deliveries) = receiver(config);
    let event = meeting_started("9");

    let started = Instant::now();
    let first = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    let delivery = timeout(WAIT, deliveries.recv()).await.unwrap().unwrap();
    let (status, body) = first.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Zoom retries while the first copy is still held by the consumer.
    let (status, _) = call(&router, signed_event(&event)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);

    // The consumer finally accepts it: the next retry is a 200 duplicate.
    delivery.ack();
    let (status, _) = call(&router, signed_event(&event)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deliveries.try_recv().unwrap_err(), TryRecvError::Empty);
}

#[tokio::test]
async fn dropped_delivery_is_503_and_the_retry_is_forwarded_again() {
    let (router, mut deliveries) = receiver(config());
    let event = meeting_started("5");
    let first = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    drop(timeout(WAIT, deliveries.recv()).await.unwrap().unwrap());
    assert_eq!(first.await.unwrap().0, StatusCode::SERVICE_UNAVAILABLE);

    let retry = tokio::spawn(call_owned(router.clone(), signed_event(&event)));
    timeout(WAIT, deliveries.recv())
        .await
        .unwrap()
        .unwrap()
        .ack();
    assert_eq!(retry.await.unwrap().0, StatusCode::OK);
}

#[tokio::test]
async fn consumer_gone_is_503() {
    let (router, deliveries) = receiver(config());
    drop(deliveries);
    let (status, body) = call(&router, signed_event(&meeting_started("1"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secret_and_body_never_appear_in_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_filter(Targets::new().with_default(tracing::Level::TRACE));
    // Global, not thread-scoped: with tests on other threads, a scoped subscriber
    // races tracing's per-callsite interest cache. Only this test installs one;
    // the other tests' logs land here too and must be just as clean.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let (router, deliveries) = receiver(config());
    let mut events = acking_consumer(deliveries);
    let mut event = meeting_started("1");
    event["payload"]["object"]["topic"] = json!("body-marker-private-topic");
    assert_eq!(call(&router, signed_event(&event)).await.0, StatusCode::OK);
    assert!(events.recv().await.is_some());
    let bad = signed("wrong", now_secs(), event.to_string());
    assert_eq!(call(&router, bad).await.0, StatusCode::UNAUTHORIZED);
    let crc = json!({"event": "endpoint.url_validation", "payload": {"plainToken": "plain-1"}});
    assert_eq!(call(&router, signed_event(&crc)).await.0, StatusCode::OK);
    let stale = signed(SECRET, now_secs() - 3600, event.to_string());
    assert_eq!(call(&router, stale).await.0, StatusCode::UNAUTHORIZED);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The request ids are logged, so the capture works ...
    assert!(
        logs.contains("req-abc-123") && logs.contains("track-xyz-789"),
        "{logs}"
    );
    // ... but never the secret, a signature, or the body.
    assert!(!logs.contains(SECRET), "{logs}");
    assert!(!logs.contains("v0="), "{logs}");
    assert!(!logs.contains("body-marker-private-topic"), "{logs}");
}
