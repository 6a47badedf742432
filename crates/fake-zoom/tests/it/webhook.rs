use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fake_zoom::FakeZoom;
use serde_json::{Value, json};

const SECRET: &str = "webhook-secret";

#[derive(Default)]
struct Receiver {
    /// Status codes to answer, in order; 200 once exhausted.
    script: Vec<u16>,
    /// (signature valid, body) of each request.
    seen: Vec<(bool, Value)>,
}

async fn receive(
    State(rx): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let valid = zoom_wire::verify_webhook_signature(
        SECRET,
        &header("x-zm-request-timestamp"),
        &body,
        &header("x-zm-signature"),
    );
    let value: Value = serde_json::from_slice(&body).unwrap();
    let mut rx = rx.lock().unwrap();
    rx.seen.push((valid, value.clone()));
    let status = if rx.script.is_empty() {
        200
    } else {
        rx.script.remove(0)
    };
    let answer = if value["event"] == "endpoint.url_validation" {
        let plain = value["payload"]["plainToken"].as_str().unwrap();
        serde_json::to_value(zoom_wire::url_validation_response(SECRET, plain)).unwrap()
    } else {
        json!({})
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer))
}

async fn receiver(script: Vec<u16>) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        script,
        seen: Vec::new(),
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

#[tokio::test]
async fn webhooks_are_signed() {
    let (url, rx) = receiver(vec![]).await;
    let event = crate::common::meeting_started("9");
    let status = FakeZoom::send_webhook(&url, SECRET, &event, 3, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let seen = &rx.lock().unwrap().seen;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0, "signature verifies");
    assert_eq!(seen[0].1, event);
}

#[tokio::test]
async fn wrong_secret_fails_verification() {
    let (url, rx) = receiver(vec![]).await;
    FakeZoom::send_webhook(&url, "other", &json!({"event": "x"}), 0, Duration::ZERO)
        .await
        .unwrap();
    assert!(!rx.lock().unwrap().seen[0].0);
}

#[tokio::test]
async fn webhooks_retry_on_5xx_a_bounded_number_of_times() {
    let (url, rx) = receiver(vec![500, 503]).await;
    let status = FakeZoom::send_webhook(
        &url,
        SECRET,
        &json!({"event": "x"}),
        3,
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(rx.lock().unwrap().seen.len(), 3);

    let (url, rx) = receiver(vec![500; 10]).await;
    let status = FakeZoom::send_webhook(
        &url,
        SECRET,
        &json!({"event": "x"}),
        2,
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert_eq!(status, 500);
    {
        let seen = &rx.lock().unwrap().seen;
        assert_eq!(seen.len(), 3, "one try plus two retries");
        assert!(seen.iter().all(|(valid, _)| *valid));
    }

    // 4xx is final.
    let (url, rx) = receiver(vec![400, 200]).await;
    let status = FakeZoom::send_webhook(
        &url,
        SECRET,
        &json!({"event": "x"}),
        3,
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert_eq!(rx.lock().unwrap().seen.len(), 1);
}

#[tokio::test]
async fn unreachable_webhook_is_an_error_after_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let result = FakeZoom::send_webhook(
        &url,
        SECRET,
        &json!({"event": "x"}),
        1,
        Duration::from_millis(1),
    )
    .await;
    assert!(matches!(result, Err(fake_zoom::FakeError::Http(_))));
}

#[tokio::test]
async fn url_validation_is_sent_signed() {
    let (url, rx) = receiver(vec![]).await;
    let (status, answer) = FakeZoom::send_url_validation(&url, SECRET, "plain-123")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::to_value(zoom_wire::url_validation_response(SECRET, "plain-123")).unwrap()
    );
    let seen = &rx.lock().unwrap().seen;
    assert!(seen[0].0);
    assert_eq!(seen[0].1["event"], "endpoint.url_validation");
    assert_eq!(seen[0].1["payload"]["plainToken"], "plain-123");
}
