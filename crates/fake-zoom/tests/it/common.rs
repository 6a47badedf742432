//! Helpers shared by the integration tests.

use std::time::Duration;

use fake_zoom::{FakeConfig, FakeZoom};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn start() -> FakeZoom {
    FakeZoom::start(FakeConfig::default()).await.unwrap()
}

pub(crate) async fn start_with(config: FakeConfig) -> FakeZoom {
    FakeZoom::start(config).await.unwrap()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Gets a token with the account_credentials grant in a form body.
pub(crate) async fn token(fake: &FakeZoom) -> String {
    let c = fake.config();
    let resp = client()
        .post(format!("{}/oauth/token", fake.base_url()))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", c.account_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) fn ws_url(fake: &FakeZoom, subscription: &str, token: Option<&str>) -> String {
    let mut url = format!("{}?subscriptionId={subscription}", fake.ws_url());
    if let Some(t) = token {
        url.push_str("&access_token=");
        url.push_str(t);
    }
    url
}

pub(crate) async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Next frame decoded as JSON (text or binary), `None` when the socket closes.
/// Panics after [`WAIT`].
pub(crate) async fn next_frame(ws: &mut Ws) -> Option<Value> {
    next_frame_raw(ws).await.map(|m| match m {
        Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
        Message::Binary(b) => serde_json::from_slice(&b).unwrap(),
        other => panic!("unexpected message {other:?}"),
    })
}

/// Next text or binary message, `None` on close or a dropped connection.
pub(crate) async fn next_frame_raw(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Some(m),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("timed out waiting for a frame")
}

/// The close frame's code, or `None` when the connection ended without one.
pub(crate) async fn close_code(ws: &mut Ws) -> Option<u16> {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("timed out waiting for close")
}

/// A connection that passed `build_connection`.
pub(crate) async fn connect_ok(fake: &FakeZoom) -> Ws {
    let token = token(fake).await;
    let mut ws = connect(&ws_url(fake, &fake.config().subscription_id, Some(&token))).await;
    let first = next_frame(&mut ws).await.unwrap();
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], true, "{first}");
    ws
}

pub(crate) async fn heartbeat(ws: &mut Ws) {
    ws.send(Message::text(r#"{"module":"heartbeat"}"#))
        .await
        .unwrap();
}

pub(crate) fn meeting_started(id: &str) -> Value {
    serde_json::json!({
        "event": "meeting.started",
        "event_ts": 1_626_230_691_572_i64,
        "payload": {"account_id": "fake-account", "object": {"id": id, "uuid": "u1", "host_id": "h1", "topic": "Standup", "type": 2}}
    })
}

/// Asserts `frame` is a `message` frame carrying `event` as a JSON string.
pub(crate) fn assert_event_frame(frame: &Value, event: &Value) {
    assert_eq!(frame["module"], "message", "{frame}");
    assert_eq!(frame["success"], true);
    let content = frame["content"].as_str().expect("content is a string");
    let inner: Value = serde_json::from_str(content).unwrap();
    assert_eq!(&inner, event);
}
