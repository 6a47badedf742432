use fake_zoom::SecondConnection;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::*;

#[tokio::test]
async fn handshake_succeeds_with_tracking_id() {
    let fake = start().await;
    let token = token(&fake).await;
    let (mut ws, resp) =
        tokio_tungstenite::connect_async(ws_url(&fake, "fake-subscription", Some(&token)))
            .await
            .unwrap();
    assert!(resp.headers().contains_key("x-zm-trackingid"));
    let first = next_frame(&mut ws).await.unwrap();
    assert_eq!(first["module"], "build_connection");
    assert_eq!(first["success"], true);
    assert_eq!(first["header"], json!({}));
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    assert_eq!(fake.open_connections(), 1);
    assert_eq!(fake.ws_connects(), 1);
}

async fn expect_refusal(url: &str, content: &str) {
    let mut ws = connect(url).await;
    let first = next_frame(&mut ws).await.unwrap();
    assert_eq!(
        first,
        json!({"module": "build_connection", "success": false, "content": content, "header": {}})
    );
    assert_eq!(
        next_frame(&mut ws).await,
        None,
        "server closes after a refusal"
    );
}

#[tokio::test]
async fn missing_token_is_refused_even_with_an_authorization_header() {
    let fake = start().await;
    let token = token(&fake).await;
    expect_refusal(&ws_url(&fake, "fake-subscription", None), "token is empty").await;
    expect_refusal(
        &ws_url(&fake, "fake-subscription", Some("")),
        "token is empty",
    )
    .await;

    let mut req = ws_url(&fake, "fake-subscription", None)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        next_frame(&mut ws).await.unwrap()["content"],
        "token is empty"
    );
    assert_eq!(fake.open_connections(), 0);
    assert_eq!(fake.ws_connects(), 3);
}

#[tokio::test]
async fn bad_subscription_or_unknown_token_gets_the_token_error() {
    let fake = start().await;
    let token = token(&fake).await;
    expect_refusal(
        &ws_url(&fake, "other-sub", Some(&token)),
        "Token is invalid",
    )
    .await;
    expect_refusal(
        &ws_url(&fake, "fake-subscription", Some("tok-999")),
        "Token is invalid",
    )
    .await;
}

#[tokio::test]
async fn expired_tokens_close_connections_and_are_refused_with_both_texts() {
    let fake = start().await;
    let token = token(&fake).await;
    let url = ws_url(&fake, "fake-subscription", Some(&token));
    let mut ws = connect(&url).await;
    assert_eq!(next_frame(&mut ws).await.unwrap()["success"], true);
    assert!(fake.wait_for_open_connections(1, WAIT).await);

    fake.expire_tokens();
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(frame["content"], "Token is invalid");
    assert_eq!(frame["success"], false);
    assert!(
        zoom_wire::Frame::parse(&frame.to_string())
            .unwrap()
            .is_token_error()
    );
    assert_eq!(next_frame(&mut ws).await, None);
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);

    expect_refusal(&url, "Token is invalid").await;
    fake.update_knobs(|k| k.token_error_text = Some("Invalid Token".into()));
    expect_refusal(&url, "Invalid Token").await;

    // A fresh token works again.
    let mut ws = connect_ok(&fake).await;
    fake.expire_tokens();
    assert_eq!(
        next_frame(&mut ws).await.unwrap()["content"],
        "Invalid Token"
    );
}

#[tokio::test]
async fn tokens_expire_after_expires_in() {
    let fake = start_with(fake_zoom::FakeConfig {
        expires_in: 0,
        ..Default::default()
    })
    .await;
    let token = token(&fake).await;
    expect_refusal(
        &ws_url(&fake, "fake-subscription", Some(&token)),
        "Token is invalid",
    )
    .await;
}

#[tokio::test]
async fn heartbeats_are_acked_and_counted() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    for n in 1..=2 {
        heartbeat(&mut ws).await;
        assert_eq!(
            next_frame(&mut ws).await.unwrap(),
            json!({"module": "heartbeat", "success": true, "content": "live", "header": {}})
        );
        assert_eq!(fake.heartbeats_received(), n);
    }
}

#[tokio::test]
async fn pushed_events_are_double_encoded() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    let event = meeting_started("111");
    assert_eq!(fake.push_event(event.clone()), 1);
    let frame = next_frame(&mut ws).await.unwrap();
    assert_event_frame(&frame, &event);
    let parsed = zoom_wire::Frame::parse(&frame.to_string()).unwrap();
    assert!(matches!(parsed, zoom_wire::Frame::Message { .. }));
}

#[tokio::test]
async fn content_as_object_knob() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.content_as_object = true);
    let event = meeting_started("222");
    fake.push_event(event.clone());
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(frame["module"], "message");
    assert_eq!(frame["content"], event);
}

#[tokio::test]
async fn binary_frames_knob() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.binary_frames = true);
    let event = meeting_started("333");
    fake.push_event(event.clone());
    let Some(Message::Binary(bytes)) = next_frame_raw(&mut ws).await else {
        panic!("expected a binary frame");
    };
    let frame: Value = serde_json::from_slice(&bytes).unwrap();
    assert_event_frame(&frame, &event);
    heartbeat(&mut ws).await;
    assert!(matches!(
        next_frame_raw(&mut ws).await,
        Some(Message::Binary(_))
    ));
}

#[tokio::test]
async fn duplicate_events_knob_sends_each_event_twice() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.duplicate_events = true);
    fake.push_event(meeting_started("1"));
    fake.update_knobs(|k| k.duplicate_events = false);
    fake.push_event(meeting_started("2"));
    for id in ["1", "1", "2"] {
        assert_event_frame(&next_frame(&mut ws).await.unwrap(), &meeting_started(id));
    }
}

#[tokio::test]
async fn event_delay_knob_keeps_order() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.event_delay_ms = Some(20));
    fake.push_event(meeting_started("1"));
    fake.push_event(meeting_started("2"));
    for id in ["1", "2"] {
        assert_event_frame(&next_frame(&mut ws).await.unwrap(), &meeting_started(id));
    }
}

#[tokio::test]
async fn zombie_stops_acks_and_pushes_but_keeps_the_socket() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.zombie = true);
    heartbeat(&mut ws).await;
    assert!(fake.wait_for_heartbeats(1, WAIT).await);
    assert_eq!(fake.push_event(meeting_started("lost")), 0);
    assert_eq!(fake.open_connections(), 1);

    fake.update_knobs(|k| k.zombie = false);
    fake.push_event(meeting_started("back"));
    // The first frame after the zombie phase is the new event: no ack, no lost event.
    assert_event_frame(
        &next_frame(&mut ws).await.unwrap(),
        &meeting_started("back"),
    );
}

#[tokio::test]
async fn second_connection_kicks_the_first_by_default() {
    let fake = start().await;
    assert_eq!(fake.knobs().second_connection, SecondConnection::KickFirst);
    let mut first = connect_ok(&fake).await;
    let mut second = connect_ok(&fake).await;
    assert_eq!(close_code(&mut first).await, Some(1000));
    assert!(fake.wait_for_at_most_connections(1, WAIT).await);
    assert_eq!(fake.push_event(meeting_started("x")), 1);
    assert_event_frame(
        &next_frame(&mut second).await.unwrap(),
        &meeting_started("x"),
    );
}

#[tokio::test]
async fn allow_both_keeps_both_connections() {
    let fake = start().await;
    fake.update_knobs(|k| k.second_connection = SecondConnection::AllowBoth);
    let mut first = connect_ok(&fake).await;
    let mut second = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(2, WAIT).await);
    assert_eq!(fake.push_event(meeting_started("y")), 2);
    for ws in [&mut first, &mut second] {
        assert_event_frame(&next_frame(ws).await.unwrap(), &meeting_started("y"));
    }
}

#[tokio::test]
async fn drop_connections_with_a_code_or_abruptly() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.drop_connections(Some(1001));
    assert_eq!(close_code(&mut ws).await, Some(1001));

    let mut ws = connect_ok(&fake).await;
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    fake.drop_connections(None);
    assert_eq!(
        close_code(&mut ws).await,
        None,
        "no close frame on an abrupt drop"
    );
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);
}

#[tokio::test]
async fn idle_timeout_closes_a_silent_connection() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.update_knobs(|k| k.idle_timeout_secs = Some(1));
    assert_eq!(close_code(&mut ws).await, Some(1000));
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);
}

#[tokio::test]
async fn raw_frames_are_sent_as_is() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    assert_eq!(fake.push_raw_text(r#"{"module":"brand_new"}"#.into()), 1);
    let Some(Message::Text(t)) = next_frame_raw(&mut ws).await else {
        panic!("expected text");
    };
    assert_eq!(t.as_str(), r#"{"module":"brand_new"}"#);
    ws.send(Message::text("not json")).await.unwrap();
    heartbeat(&mut ws).await;
    assert_eq!(next_frame(&mut ws).await.unwrap()["content"], "live");
}

#[tokio::test]
async fn token_is_percent_decoded() {
    let fake = start().await;
    let token = token(&fake).await;
    let encoded = token.replace('-', "%2D");
    assert_ne!(encoded, token);
    let mut ws = connect(&ws_url(&fake, "fake-subscription", Some(&encoded))).await;
    assert_eq!(next_frame(&mut ws).await.unwrap()["success"], true);
}

#[tokio::test]
async fn shutdown_closes_connections_and_the_listener() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    fake.shutdown();
    assert_eq!(next_frame(&mut ws).await, None);
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            if tokio::net::TcpStream::connect(fake.addr()).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok(), "listener still accepting after shutdown");
}
