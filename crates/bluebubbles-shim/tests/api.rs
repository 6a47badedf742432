//! Router tests for every route.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bluebubbles_shim::{AuthFailureLimit, RateLimit, Store};
use common::*;
use moltbot_channel::{AccountStatus, ChannelError, ChatType, ConnectionState};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

fn assert_envelope(r: &Reply, status: u16, kind: &str, message: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.json["status"], status, "{}", r.text);
    assert_eq!(r.json["error"]["type"], kind, "{}", r.text);
    assert_eq!(r.json["error"]["message"], message, "{}", r.text);
}

#[tokio::test]
async fn every_route_requires_the_password_even_from_localhost() {
    let (shim, _) = shim();
    let router = shim.router();
    let routes = [
        ("GET", "/api/v1/ping"),
        ("GET", "/api/v1/server/info"),
        ("POST", "/api/v1/message/text"),
        ("POST", "/api/v1/message/attachment"),
        ("POST", "/api/v1/message/query"),
        ("POST", "/api/v1/message/react"),
        ("POST", "/api/v1/chat/query"),
        ("POST", "/api/v1/chat/new"),
        ("GET", "/api/v1/chat/zoom%3B%2B%3Bfeed"),
        ("GET", "/api/v1/chat/zoom%3B%2B%3Bfeed/message"),
        ("POST", "/api/v1/chat/zoom%3B%2B%3Bfeed/read"),
        ("POST", "/api/v1/chat/zoom%3B%2B%3Bfeed/typing"),
        ("DELETE", "/api/v1/chat/zoom%3B%2B%3Bfeed/typing"),
        ("GET", "/api/v1/webhook"),
        ("POST", "/api/v1/webhook"),
        ("DELETE", "/api/v1/webhook/1"),
        ("GET", "/status"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/nope"),
    ];
    for (method, path) in routes {
        let missing = send(
            &router,
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            missing.json,
            json!({"status": 401, "message": "You are not authorized to access this resource",
                   "error": {"type": "Authentication Error", "message": "Missing server password!"}}),
            "{method} {path}"
        );
        let wrong = send(
            &router,
            Request::builder()
                .method(method)
                .uri(format!("{path}?password=wrong"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            wrong.json,
            json!({"status": 401, "message": "You are not authorized to access this resource",
                   "error": {"type": "Authentication Error", "message": "Unauthorized"}}),
            "{method} {path}"
        );
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn ping_accepts_query_aliases_and_bearer() {
    let (shim, _) = shim();
    let router = shim.router();
    for q in ["guid", "password", "token"] {
        let r = get(&router, &format!("/api/v1/ping?{q}={PASSWORD}")).await;
        assert_eq!(
            r.json,
            json!({"status": 200, "message": "Ping received!", "data": "pong"})
        );
    }
    let r = send(
        &router,
        Request::get("/api/v1/ping")
            .header("authorization", format!("Bearer {PASSWORD}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &router,
        Request::get("/api/v1/ping")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_envelope(&r, 401, "Authentication Error", "Unauthorized");
}

#[tokio::test]
async fn server_info_keeps_actions_available() {
    let (shim, _) = shim();
    let r = get(&shim.router(), &authed("/api/v1/server/info")).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = &r.json["data"];
    let major: u32 = d["os_version"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(major < 26);
    assert_eq!(d["private_api"], false);
    assert_eq!(d["helper_connected"], false);
    for key in [
        "server_version",
        "proxy_service",
        "detected_icloud",
        "computer_id",
        "local_ipv4s",
    ] {
        assert!(d.get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn message_text_sends_and_returns_the_zoom_id() {
    let (shim, channel) = shim();
    let router = shim.router();
    let r = post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;-;bob@example.com", "tempGuid": "temp-1", "message": "hello"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["message"], "Message sent!");
    assert_eq!(r.json["data"]["guid"], "zoom-msg-1");
    assert_eq!(r.json["data"]["tempGuid"], "temp-1");
    assert_eq!(r.json["data"]["isFromMe"], true);
    assert_eq!(r.json["data"]["text"], "hello");
    assert_eq!(r.json["data"]["dateCreated"], 1_720_000_000_000i64);
    assert_eq!(r.json["data"]["chats"][0]["guid"], "zoom;-;bob@example.com");
    let sent = channel.texts.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].conversation_id, "zoom;-;bob@example.com");
    assert_eq!(sent[0].text, "hello");
    assert_eq!(sent[0].reply_to_id, None);

    // A thread reply (private-api path) needs no tempGuid.
    let r = post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;+;channel:abc", "message": "re", "method": "private-api",
               "selectedMessageGuid": "root-1", "partIndex": 0}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["data"]["threadOriginatorGuid"], "root-1");
    assert_eq!(
        channel.texts.lock().unwrap()[1].reply_to_id.as_deref(),
        Some("root-1")
    );

    // Sent messages are in the store.
    let r = get(
        &router,
        &authed("/api/v1/chat/zoom%3B-%3Bbob%40example.com/message"),
    )
    .await;
    assert_eq!(r.json["data"][0]["guid"], "zoom-msg-1");
    assert_eq!(r.json["data"][0]["isFromMe"], true);
}

#[tokio::test]
async fn message_text_validation_follows_bluebubbles() {
    let (shim, channel) = shim();
    let router = shim.router();
    let url = authed("/api/v1/message/text");
    let cases = [
        (
            json!({"message": "x", "tempGuid": "t"}),
            "The chatGuid field is required.",
        ),
        (
            json!({"chatGuid": "", "message": "x", "tempGuid": "t"}),
            "The chatGuid field is required.",
        ),
        (
            json!({"chatGuid": 5, "message": "x", "tempGuid": "t"}),
            "The chatGuid must be a string.",
        ),
        (
            json!({"chatGuid": "zoom;+;feed", "tempGuid": "t"}),
            "The message field must be present.",
        ),
        (
            json!({"chatGuid": "zoom;+;feed", "message": "x"}),
            "A 'tempGuid' is required when sending via AppleScript",
        ),
        (
            json!({"chatGuid": "zoom;+;feed", "message": "x", "tempGuid": "t", "method": "carrier-pigeon"}),
            "The selected method is invalid.",
        ),
        (
            json!({"chatGuid": "zoom;+;feed", "message": "x", "tempGuid": "t", "partIndex": -1}),
            "The partIndex must be at least 0.",
        ),
    ];
    for (body, expected) in cases {
        let r = post(&router, &url, body.clone()).await;
        assert_envelope(&r, 400, "Validation Error", expected);
        assert_eq!(
            r.json["message"],
            "You've made a bad request! Please check your request params & body"
        );
    }
    let r = send(
        &router,
        Request::post(url.as_str())
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"]["type"], "Validation Error");
    assert!(channel.texts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_temp_guid_in_flight_is_already_queued() {
    let (shim, channel) = shim();
    let gate = Arc::new(Semaphore::new(0));
    *channel.gate.lock().unwrap() = Some(gate.clone());
    let router = shim.router();
    let body = json!({"chatGuid": "zoom;+;feed", "tempGuid": "dup-1", "message": "one"});
    let first = {
        let router = router.clone();
        let body = body.clone();
        tokio::spawn(async move { post(&router, &authed("/api/v1/message/text"), body).await })
    };
    channel.entered.notified().await;
    let second = post(&router, &authed("/api/v1/message/text"), body.clone()).await;
    assert_envelope(
        &second,
        400,
        "Validation Error",
        "Message is already queued to be sent! (Temp GUID: dup-1)",
    );
    gate.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    // After the send completes, a retry is answered with the same message
    // (it used to post again).
    gate.add_permits(1);
    let third = post(&router, &authed("/api/v1/message/text"), body).await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(third.json, first.json);
    assert_eq!(channel.texts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_retried_temp_guid_returns_the_first_message_without_posting_again() {
    let (shim, channel) = shim();
    let router = shim.router();
    let url = authed("/api/v1/message/text");
    let body =
        json!({"chatGuid": "zoom;-;bob@example.com", "tempGuid": "retry-1", "message": "hello"});
    let first = post(&router, &url, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // Another message in between changes the chat's last activity.
    post(
        &router,
        &url,
        json!({"chatGuid": "zoom;-;bob@example.com", "tempGuid": "other", "message": "more"}),
    )
    .await;
    let again = post(&router, &url, body.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json, first.json, "same response");
    let texts: Vec<String> = channel
        .texts
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(texts, ["hello", "more"], "one Zoom post per tempGuid");
    // chat/new with the same tempGuid and chat is the same send.
    let chat_new = post(
        &router,
        &authed("/api/v1/chat/new"),
        json!({"addresses": ["bob@example.com"], "message": "hello", "tempGuid": "retry-1"}),
    )
    .await;
    assert_eq!(chat_new.status, StatusCode::OK, "{}", chat_new.text);
    assert_eq!(
        chat_new.json["data"]["messages"][0]["guid"],
        first.json["data"]["guid"]
    );
    assert_eq!(channel.texts.lock().unwrap().len(), 2);
    // The same tempGuid for another chat is refused, not answered with bob's message.
    let elsewhere = post(
        &router,
        &url,
        json!({"chatGuid": "zoom;+;feed", "tempGuid": "retry-1", "message": "hello"}),
    )
    .await;
    assert_envelope(
        &elsewhere,
        400,
        "Validation Error",
        "The Temp GUID retry-1 was already used for a message to another chat.",
    );
    assert_eq!(channel.texts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failed_send_releases_its_temp_guid_for_a_retry() {
    let (shim, channel) = shim();
    let router = shim.router();
    let url = authed("/api/v1/message/text");
    let body = json!({"chatGuid": "zoom;+;feed", "tempGuid": "fail-1", "message": "x"});
    channel
        .failures
        .lock()
        .unwrap()
        .push_back(ChannelError::Network("down".into()));
    let failed = post(&router, &url, body.clone()).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let retry = post(&router, &url, body.clone()).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(channel.texts.lock().unwrap().len(), 1);
    let third = post(&router, &url, body).await;
    assert_eq!(third.json, retry.json);
    assert_eq!(channel.texts.lock().unwrap().len(), 1);
}

/// After a restart the in-memory record of sends is gone: the store
/// answers a retry with the message it recorded, and posts nothing.
#[tokio::test]
async fn a_send_recorded_before_a_restart_is_answered_from_the_store() {
    let dir = TempDir::new();
    let url = authed("/api/v1/message/text");
    let body = json!({"chatGuid": "zoom;+;feed", "tempGuid": "kept-1", "message": "once"});
    let (first, channel) = shim_with(config(), Store::open(dir.db()).unwrap());
    let sent = post(&first.router(), &url, body.clone()).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(channel.texts.lock().unwrap().len(), 1);
    drop(first);

    let (second, channel) = shim_with(config(), Store::open(dir.db()).unwrap());
    let router = second.router();
    let again = post(&router, &url, body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["data"]["guid"], sent.json["data"]["guid"]);
    assert_eq!(again.json["data"]["tempGuid"], "kept-1");
    assert!(channel.texts.lock().unwrap().is_empty(), "posted again");
    let elsewhere = post(
        &router,
        &url,
        json!({"chatGuid": "zoom;-;bob@example.com", "tempGuid": "kept-1", "message": "once"}),
    )
    .await;
    assert_envelope(
        &elsewhere,
        400,
        "Validation Error",
        "The Temp GUID kept-1 was already used for a message to another chat.",
    );
    assert!(channel.texts.lock().unwrap().is_empty());
}

/// A send that recorded no result before a restart (here it failed; a
/// killed process is the same to the store) reaches the channel marked as
/// interrupted, with the time it began; a fresh send is not marked.
#[tokio::test]
async fn a_send_left_unfinished_before_a_restart_reaches_the_channel_as_interrupted() {
    let dir = TempDir::new();
    let url = authed("/api/v1/message/text");
    let body = json!({"chatGuid": "zoom;+;feed", "tempGuid": "cut-1", "message": "half"});
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let (first, channel) = shim_with(config(), Store::open(dir.db()).unwrap());
    channel
        .failures
        .lock()
        .unwrap()
        .push_back(ChannelError::Network("cut".into()));
    let failed = post(&first.router(), &url, body.clone()).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        channel.options.lock().unwrap()[0].interrupted_since_ms,
        None
    );
    drop(first);

    let (second, channel) = shim_with(config(), Store::open(dir.db()).unwrap());
    let router = second.router();
    // A re-run of the agent words the reply differently: the tempGuid names
    // the reply begun first, which is what may be half on Zoom.
    let reworded = json!({"chatGuid": "zoom;+;feed", "tempGuid": "cut-1", "message": "reworded"});
    let retry = post(&router, &url, reworded).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.json["data"]["text"], "half");
    assert_eq!(channel.texts.lock().unwrap()[0].text, "half");
    let fresh = post(
        &router,
        &url,
        json!({"chatGuid": "zoom;+;feed", "tempGuid": "cut-2", "message": "new"}),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    let options = channel.options.lock().unwrap().clone();
    assert_eq!(options.len(), 2);
    assert_eq!(options[0].idempotency_key.as_deref(), Some("cut-1"));
    let since = options[0]
        .interrupted_since_ms
        .expect("marked as interrupted");
    assert!(u128::try_from(since).unwrap() >= before, "{since}");
    assert_eq!(options[1].interrupted_since_ms, None);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_a_timeout_gets_the_message_the_send_recorded() {
    let (shim, channel) = shim();
    let gate = Arc::new(Semaphore::new(0));
    *channel.gate.lock().unwrap() = Some(gate.clone());
    let router = shim.router();
    let url = authed("/api/v1/message/text");
    let body = json!({"chatGuid": "zoom;+;feed", "tempGuid": "slow-1", "message": "late"});
    let first = post(&router, &url, body.clone()).await;
    assert_eq!(first.status, StatusCode::GATEWAY_TIMEOUT);
    // Zoom finally answers; the send is recorded in the background.
    gate.add_permits(1);
    eventually("the late send", || channel.texts.lock().unwrap().len() == 1).await;
    let mut retry = post(&router, &url, body.clone()).await;
    for _ in 0..100 {
        if retry.status == StatusCode::OK {
            break;
        }
        // Still recording: "already queued" until the store commits.
        assert_eq!(retry.status, StatusCode::BAD_REQUEST, "{}", retry.text);
        tokio::time::sleep(Duration::from_millis(10)).await;
        retry = post(&router, &url, body.clone()).await;
    }
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.json["data"]["text"], "late");
    assert_eq!(retry.json["data"]["tempGuid"], "slow-1");
    assert_eq!(channel.texts.lock().unwrap().len(), 1, "never posted twice");
}

#[tokio::test(start_paused = true)]
async fn a_slow_channel_gets_504_within_the_send_timeout() {
    let (shim, channel) = shim();
    channel.hang.store(true, Ordering::SeqCst);
    let router = shim.router();
    let started = tokio::time::Instant::now();
    let r = post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;+;feed", "tempGuid": "t", "message": "slow"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text);
    assert_eq!(r.json["status"], 504);
    assert_eq!(r.json["error"]["type"], "Gateway Timeout");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn channel_errors_become_bluebubbles_errors() {
    let (shim, channel) = shim();
    let router = shim.router();
    let body = json!({"chatGuid": "zoom;+;meeting:1", "tempGuid": "t", "message": "x"});
    let url = authed("/api/v1/message/text");

    channel
        .failures
        .lock()
        .unwrap()
        .push_back(ChannelError::Config(
            "no default Team Chat target configured (zoom.defaultTarget)".into(),
        ));
    let r = post(&router, &url, body.clone()).await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "configuration error: no default Team Chat target configured (zoom.defaultTarget)",
    );

    channel
        .failures
        .lock()
        .unwrap()
        .push_back(ChannelError::NotFound("contact nobody@example.com".into()));
    let r = post(&router, &url, body.clone()).await;
    assert_envelope(
        &r,
        404,
        "Database Error",
        "not found: contact nobody@example.com",
    );

    channel
        .failures
        .lock()
        .unwrap()
        .push_back(ChannelError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        });
    let r = post(&router, &url, body.clone()).await;
    assert_envelope(
        &r,
        500,
        "iMessage Error",
        "rate limited (retry after 3000 ms)",
    );
    assert_eq!(r.json["message"], "Message Send Error");
    assert_eq!(r.headers["retry-after"], "3");
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "XBOUNDARYX";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, data)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n")
                .as_bytes(),
        );
        body.extend(data);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    router: &axum::Router,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Reply {
    let (ct, body) = multipart(fields, file);
    send(
        router,
        Request::post(authed("/api/v1/message/attachment"))
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn attachment_upload_goes_to_send_media() {
    let (shim, channel) = shim();
    let router = shim.router();
    let fields = [
        ("chatGuid", "zoom;-;bob@example.com"),
        ("name", "pic.png"),
        ("tempGuid", "temp-9"),
        ("method", "private-api"),
    ];
    let r = upload(&router, &fields, Some(("pic.png", b"PNGDATA"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["message"], "Attachment sent!");
    assert_eq!(r.json["data"]["guid"], "zoom-msg-1");
    assert_eq!(r.json["data"]["attachments"][0]["transferName"], "pic.png");
    assert_eq!(r.json["data"]["attachments"][0]["totalBytes"], 7);
    let media = channel.media.lock().unwrap().clone();
    assert_eq!(media[0].conversation_id, "zoom;-;bob@example.com");
    match &media[0].media {
        moltbot_channel::MediaSource::Bytes {
            name,
            content_type,
            data,
        } => {
            assert_eq!(name, "pic.png");
            assert_eq!(content_type.as_deref(), Some("image/png"));
            assert_eq!(data, b"PNGDATA");
        }
        other => panic!("unexpected {other:?}"),
    }

    let r = upload(&router, &fields, Some(("pic.png", b""))).await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "Attachment not provided or was empty!",
    );
    let r = upload(&router, &[("name", "x")], Some(("pic.png", b"1"))).await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "The chatGuid field is required.",
    );

    // A retry with the same tempGuid is answered with the first upload.
    let again = upload(&router, &fields, Some(("pic.png", b"PNGDATA"))).await;
    assert_eq!(again.json["data"]["guid"], "zoom-msg-1", "{}", again.text);
    assert_eq!(channel.media.lock().unwrap().len(), 1);

    channel.media_unsupported.store(true, Ordering::SeqCst);
    let mut fields = fields;
    fields[2] = ("tempGuid", "temp-10");
    let r = upload(&router, &fields, Some(("pic.png", b"PNGDATA"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Zoom cannot receive attachments this way"),
        "{}",
        r.text
    );
}

async fn seed(shim: &bluebubbles_shim::Shim) {
    let (tx, cancel, task) = start_inbound(shim);
    tx.send_acked(inbound(
        "m1",
        "zoom;+;meeting:123",
        ChatType::Group,
        "Meeting started",
        1_000,
    ))
    .await
    .unwrap();
    tx.send_acked(inbound(
        "m2",
        "zoom;+;meeting:123",
        ChatType::Group,
        "Bob joined",
        2_000,
    ))
    .await
    .unwrap();
    tx.send_acked(inbound(
        "m3",
        "zoom;-;ann@example.com",
        ChatType::Direct,
        "hi there",
        3_000,
    ))
    .await
    .unwrap();
    tx.send_acked(inbound(
        "m4",
        "zoom;+;channel:c1",
        ChatType::Channel,
        "channel post",
        4_000,
    ))
    .await
    .unwrap();
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn chat_query_pages_chats_with_participants() {
    let (shim, _) = shim();
    seed(&shim).await;
    let router = shim.router();
    let r = post(
        &router,
        &authed("/api/v1/chat/query"),
        json!({"limit": 500, "offset": 0, "with": ["participants"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let chats = r.json["data"].as_array().unwrap();
    assert_eq!(chats.len(), 3);
    assert_eq!(
        r.json["metadata"],
        json!({"count": 3, "total": 3, "offset": 0, "limit": 500})
    );
    let meeting = &chats[0];
    assert_eq!(meeting["guid"], "zoom;+;meeting:123");
    assert_eq!(meeting["style"], 43);
    assert_eq!(meeting["chatIdentifier"], "meeting:123");
    assert_eq!(meeting["displayName"], "label of zoom;+;meeting:123");
    assert_eq!(meeting["isArchived"], false);
    let addresses: Vec<&str> = meeting["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["ann@example.com", "bob@example.com"]);
    assert_eq!(meeting["participants"][0]["service"], "zoom");
    let dm = &chats[1];
    assert_eq!(dm["style"], 45);
    assert_eq!(dm["chatIdentifier"], "ann@example.com");

    let r = post(
        &router,
        &authed("/api/v1/chat/query"),
        json!({"limit": 1, "offset": 1}),
    )
    .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["data"][0]["guid"], "zoom;-;ann@example.com");
    assert_eq!(r.json["metadata"]["total"], 3);

    let r = post(
        &router,
        &authed("/api/v1/chat/query"),
        json!({"guid": "zoom;+;channel:c1", "with": ["lastmessage"]}),
    )
    .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["data"][0]["lastMessage"]["text"], "channel post");

    let r = post(
        &router,
        &authed("/api/v1/chat/query"),
        json!({"limit": 5000}),
    )
    .await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "The limit may not be greater than 1000.",
    );
}

#[tokio::test]
async fn chat_guids_in_paths_keep_plus_signs() {
    let (shim, _) = shim();
    seed(&shim).await;
    let router = shim.router();
    for path in [
        "/api/v1/chat/zoom%3B%2B%3Bmeeting%3A123",
        "/api/v1/chat/zoom;+;meeting:123",
    ] {
        let r = get(&router, &authed(path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.json["data"]["guid"], "zoom;+;meeting:123", "{path}");
    }
    // macOS 26 style aliases of a DM resolve to our DM.
    let r = get(&router, &authed("/api/v1/chat/any%3B-%3Bann%40example.com")).await;
    assert_eq!(r.json["data"]["guid"], "zoom;-;ann@example.com");

    let r = get(&router, &authed("/api/v1/chat/zoom%3B%2B%3Bmeeting%3A999")).await;
    assert_envelope(&r, 404, "Database Error", "Chat does not exist!");
    let r = get(
        &router,
        &authed("/api/v1/chat/zoom%3B%2B%3Bmeeting%3A999/message"),
    )
    .await;
    assert_envelope(&r, 404, "Database Error", "Chat does not exist!");
}

#[tokio::test]
async fn chat_messages_and_message_query_filter_and_sort() {
    let (shim, _) = shim();
    seed(&shim).await;
    let router = shim.router();
    let r = get(
        &router,
        &authed("/api/v1/chat/zoom%3B%2B%3Bmeeting%3A123/message?limit=10&sort=ASC"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let guids: Vec<&str> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["guid"].as_str().unwrap())
        .collect();
    assert_eq!(guids, ["m1", "m2"]);
    assert_eq!(r.json["metadata"]["total"], 2);
    let r = get(
        &router,
        &authed("/api/v1/chat/zoom%3B%2B%3Bmeeting%3A123/message?after=1000"),
    )
    .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["data"][0]["guid"], "m2");
    assert_eq!(r.json["data"][0]["handle"]["address"], "ann@example.com");

    let r = post(
        &router,
        &authed("/api/v1/message/query"),
        json!({"limit": 500, "sort": "ASC", "after": 1500,
        "with": ["chat", "chat.participants", "attachment"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["message"], "Successfully fetched messages!");
    let data = r.json["data"].as_array().unwrap();
    let guids: Vec<&str> = data.iter().map(|m| m["guid"].as_str().unwrap()).collect();
    assert_eq!(guids, ["m2", "m3", "m4"]);
    assert_eq!(data[1]["chats"][0]["guid"], "zoom;-;ann@example.com");
    assert!(data[1]["chats"][0]["participants"].is_array());
    assert_eq!(data[1]["zoom"]["conversationKind"], "direct");

    let r = post(
        &router,
        &authed("/api/v1/message/query"),
        json!({"chatGuid": "zoom;+;meeting:123", "before": 2000}),
    )
    .await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    assert!(r.json["data"][0].get("chats").is_none());
    let r = post(
        &router,
        &authed("/api/v1/message/query"),
        json!({"sort": "sideways"}),
    )
    .await;
    assert_envelope(&r, 400, "Validation Error", "The selected sort is invalid.");
}

#[tokio::test]
async fn chat_new_opens_a_dm_and_sends_without_temp_guid() {
    let (shim, channel) = shim();
    let router = shim.router();
    let r = post(
        &router,
        &authed("/api/v1/chat/new"),
        json!({"addresses": ["carol@example.com"], "message": "hello carol"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["message"], "Successfully created chat!");
    assert_eq!(r.json["data"]["guid"], "zoom;-;carol@example.com");
    assert_eq!(r.json["data"]["style"], 45);
    assert_eq!(
        r.json["data"]["participants"][0]["address"],
        "carol@example.com"
    );
    assert_eq!(r.json["data"]["messages"][0]["guid"], "zoom-msg-1");
    assert_eq!(
        channel.texts.lock().unwrap()[0].conversation_id,
        "zoom;-;carol@example.com"
    );

    // The new DM is found by chat/query (Moltbot's handle resolution).
    let r = post(
        &router,
        &authed("/api/v1/chat/query"),
        json!({"limit": 500, "offset": 0, "with": ["participants"]}),
    )
    .await;
    assert_eq!(r.json["data"][0]["guid"], "zoom;-;carol@example.com");

    let r = post(
        &router,
        &authed("/api/v1/chat/new"),
        json!({"addresses": ["dave@example.com"]}),
    )
    .await;
    assert_eq!(r.json["data"]["messages"], json!([]));
    assert_eq!(channel.texts.lock().unwrap().len(), 1);
    let r = post(
        &router,
        &authed("/api/v1/chat/new"),
        json!({"message": "x"}),
    )
    .await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "The addresses field is required.",
    );
    let r = post(
        &router,
        &authed("/api/v1/chat/new"),
        json!({"addresses": ["a@x", "b@x"], "message": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn typing_and_read_are_accepted_no_ops_and_react_reaches_the_channel() {
    let (shim, channel) = shim();
    let router = shim.router();
    let guid = "/api/v1/chat/zoom%3B-%3Bann%40example.com";
    let r = post(&router, &authed(&format!("{guid}/typing")), Value::Null).await;
    assert_eq!(
        r.json,
        json!({"status": 200, "message": "Successfully started typing!"})
    );
    let r = send(
        &router,
        Request::delete(authed(&format!("{guid}/typing")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json["message"], "Successfully stopped typing!");
    let r = send(
        &router,
        Request::post(authed(&format!("{guid}/read")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.json["message"], "Successfully marked chat as read!");
    let r = post(&router, &authed("/api/v1/message/react"),
        json!({"chatGuid": "zoom;-;ann@example.com", "selectedMessageGuid": "m1", "reaction": "-love", "partIndex": 0})).await;
    assert_eq!(r.json["message"], "Reaction sent!");
    let r = post(&router, &authed("/api/v1/message/react"),
        json!({"chatGuid": "zoom;-;ann@example.com", "selectedMessageGuid": "m1", "reaction": "meh"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        &router,
        &authed("/api/v1/message/react"),
        json!({"chatGuid": "c", "reaction": "love"}),
    )
    .await;
    assert_envelope(
        &r,
        400,
        "Validation Error",
        "The selectedMessageGuid field is required.",
    );
    assert!(channel.texts.lock().unwrap().is_empty());
    assert_eq!(
        *channel.actions.lock().unwrap(),
        vec!["react zoom;-;ann@example.com m1 -love".to_owned()]
    );
}

#[tokio::test]
async fn edit_and_unsend_find_the_conversation_of_a_sent_message() {
    let (shim, channel) = shim();
    let router = shim.router();
    let r = post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;+;channel:c1", "tempGuid": "t1", "message": "draft"}),
    )
    .await;
    let guid = r.json["data"]["guid"].as_str().unwrap().to_owned();
    let r = post(
        &router,
        &authed(&format!("/api/v1/message/{guid}/edit")),
        json!({"editedMessage": "final", "backwardsCompatibilityMessage": "Edited to: final", "partIndex": 0}),
    )
    .await;
    assert_eq!(r.json["message"], "Message edited!", "{:#}", r.json);
    let r = post(
        &router,
        &authed(&format!("/api/v1/message/{guid}/unsend")),
        json!({"partIndex": 0}),
    )
    .await;
    assert_eq!(r.json["message"], "Message unsent!", "{:#}", r.json);
    assert_eq!(
        *channel.actions.lock().unwrap(),
        vec![
            format!("edit zoom;+;channel:c1 {guid} final"),
            format!("unsend zoom;+;channel:c1 {guid}"),
        ]
    );
    // A message the shim never saw: no conversation to act in.
    let r = post(
        &router,
        &authed("/api/v1/message/nope/edit"),
        json!({"editedMessage": "x"}),
    )
    .await;
    assert_envelope(&r, 400, "Validation Error", "Message does not exist: nope");
    let r = post(
        &router,
        &authed(&format!("/api/v1/message/{guid}/edit")),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(channel.actions.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn webhook_management() {
    let (shim, _) = shim();
    let router = shim.router();
    let url = "http://127.0.0.1:9/hook?password=x";
    let r = post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"url": url, "events": ["new-message"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["message"], "Successfully created webhook!");
    let id = r.json["data"]["id"].as_i64().unwrap();
    assert_eq!(r.json["data"]["url"], url);
    assert_eq!(r.json["data"]["events"], json!(["new-message"]));
    assert!(r.json["data"]["created"].as_i64().unwrap() > 0);
    // Unique URL: the stored record comes back unchanged.
    let again = post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"url": url, "events": ["*"]}),
    )
    .await;
    assert_eq!(again.json["data"], r.json["data"]);

    let r = get(&router, &authed("/api/v1/webhook")).await;
    assert_eq!(r.json["message"], "Successfully fetched webhooks!");
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    let r = get(&router, &authed(&format!("/api/v1/webhook?id={}", id + 1))).await;
    assert_eq!(r.json["data"], json!([]));

    let r = post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"url": "ftp://x", "events": ["*"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"url": "http://x/y", "events": ["bogus"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid webhook event: bogus!")
    );
    let r = post(
        &router,
        &authed("/api/v1/webhook"),
        json!({"events": ["*"]}),
    )
    .await;
    assert_envelope(&r, 400, "Validation Error", "The url field is required.");

    let r = delete(&router, &authed(&format!("/api/v1/webhook/{id}"))).await;
    assert_eq!(
        r.json,
        json!({"status": 200, "message": "Successfully deleted webhook!"})
    );
    let r = delete(&router, &authed(&format!("/api/v1/webhook/{id}"))).await;
    assert_envelope(&r, 404, "Database Error", "Webhook does not exist!");
}

/// `POST /api/v1/webhook` accepts exactly the URLs start-up accepts.
#[tokio::test]
async fn webhook_urls_are_validated_as_at_start_up() {
    let (shim, _) = shim();
    let router = shim.router();
    let cases = [
        ("httpx://x", false),
        ("http:/x", true), // the URL parser normalises this to http://x/
        ("ftp://127.0.0.1/hook", false),
        ("http//127.0.0.1/hook", false),
        ("file:///etc/passwd", false),
        ("mailto:a@b.c", false),
        ("https://", false),
        ("not a url", false),
        ("http://127.0.0.1:1/hook?password=pw", true),
        ("HTTPS://example.com/h", true),
    ];
    for (url, ok) in cases {
        assert_eq!(
            bluebubbles_shim::check_webhook_url(url).is_ok(),
            ok,
            "{url}"
        );
        let mut config = config();
        config.webhooks = vec![url.to_owned()];
        let at_start = bluebubbles_shim::Shim::new(
            config,
            Arc::new(FakeChannel::default()),
            Store::open_in_memory().unwrap(),
        );
        assert_eq!(at_start.is_ok(), ok, "start-up: {url}");
        let r = post(
            &router,
            &authed("/api/v1/webhook"),
            json!({"url": url, "events": ["*"]}),
        )
        .await;
        if ok {
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        } else {
            assert_envelope(
                &r,
                400,
                "Validation Error",
                "The url must be an absolute http:// or https:// URL.",
            );
        }
    }
}

#[tokio::test]
async fn oversize_bodies_get_413_in_the_envelope() {
    let mut config = config();
    config.body_limit = 1024;
    let (shim, channel) = shim_with(config, Store::open_in_memory().unwrap());
    let router = shim.router();
    let big = "x".repeat(4096);
    let r = post(
        &router,
        &authed("/api/v1/message/text"),
        json!({"chatGuid": "zoom;+;feed", "tempGuid": "t", "message": big}),
    )
    .await;
    assert_envelope(
        &r,
        413,
        "Validation Error",
        "The request body may not be larger than 1024 bytes.",
    );
    let r = upload(
        &router,
        &[("chatGuid", "zoom;+;feed"), ("name", "a.bin")],
        Some(("a.bin", big.as_bytes())),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.json["status"], 413);
    assert!(channel.texts.lock().unwrap().is_empty() && channel.media.lock().unwrap().is_empty());
}

/// One GET from `ip` through the router.
async fn get_from(router: &axum::Router, ip: [u8; 4], uri: &str) -> StatusCode {
    use tower::ServiceExt;
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            ip, 40000,
        ))));
    router.clone().oneshot(req).await.unwrap().status()
}

/// Replaces the old per-IP request bucket (20 req/s, burst 40), under which
/// this burst from the gateway's address got 429 after 40 requests.
#[tokio::test]
async fn authenticated_bursts_from_one_address_are_never_throttled() {
    let mut config = config();
    config.auth_failure_limit = Some(AuthFailureLimit::default());
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let router = shim.router();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1000 {
        let uri = if i % 2 == 0 {
            authed("/api/v1/ping")
        } else {
            authed("/api/v1/server/info")
        };
        *statuses
            .entry(get_from(&router, [127, 0, 0, 1], &uri).await.as_u16())
            .or_insert(0) += 1;
    }
    assert_eq!(statuses, [(200, 1000)].into_iter().collect());
}

#[tokio::test]
async fn failed_authentication_is_throttled_but_the_password_still_works() {
    let mut config = config();
    config.auth_failure_limit = Some(AuthFailureLimit {
        per_client: RateLimit {
            per_second: 0.01,
            burst: 5,
        },
        total: RateLimit {
            per_second: 0.01,
            burst: 20,
        },
    });
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let router = shim.router();
    // A flood of bad passwords (and missing ones) from the gateway's address.
    let mut flood = Vec::new();
    for i in 0..100 {
        let uri = if i % 3 == 0 {
            "/api/v1/ping".to_owned()
        } else {
            format!("/api/v1/ping?password=guess-{i}")
        };
        flood.push(get_from(&router, [127, 0, 0, 1], &uri).await);
        if i % 10 == 0 {
            // The right password from the same address is never held back.
            assert_eq!(
                get_from(&router, [127, 0, 0, 1], &authed("/api/v1/ping")).await,
                StatusCode::OK
            );
        }
    }
    assert!(
        flood[..5].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{flood:?}"
    );
    assert!(
        flood[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{flood:?}"
    );
    let r = get(&router, "/api/v1/ping?password=again").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json["status"], 429);
    assert_eq!(r.json["error"]["type"], "Server Error");
    assert!(r.headers.contains_key("retry-after"));
    // Hopping across 127/8 runs into the shared bucket (20 in total).
    let mut hopped = Vec::new();
    for i in 2..=60u8 {
        hopped.push(get_from(&router, [127, 0, 0, i], "/api/v1/ping?password=x").await);
    }
    let unauthorized = hopped
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(unauthorized, 15, "{hopped:?}");
    assert!(
        hopped[15..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(
        get_from(&router, [127, 0, 0, 77], &authed("/api/v1/ping")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn status_and_metrics_report_zoom_outbox_and_http() {
    let mut config = config();
    config.webhooks = vec!["http://127.0.0.1:9/hook?password=hook-pw".into()];
    let (shim, channel) = shim_with(config, Store::open_in_memory().unwrap());
    *channel.status.lock().unwrap() = AccountStatus {
        account_id: "acct".into(),
        connection: ConnectionState::Connected,
        last_event_lag_ms: Some(42),
        ..AccountStatus::default()
    };
    seed(&shim).await;
    let router = shim.router();
    get(&router, &authed("/api/v1/ping")).await;
    let r = get(&router, &authed("/status")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["zoom"]["connected"], true);
    assert_eq!(r.json["zoom"]["last_event_lag_ms"], 42);
    assert_eq!(r.json["outbox"]["depth"], 4);
    assert_eq!(r.json["outbox"]["pending"], 4);
    assert_eq!(r.json["outbox"]["deadLetters"], 0);
    assert_eq!(r.json["webhooks"], json!(["http://127.0.0.1:9/hook"]));
    assert!(r.json["version"].is_string() && r.json["uptimeSecs"].is_u64());

    let r = get(&router, &authed("/metrics")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for line in [
        "moltbot_zoom_outbox_depth 4",
        "moltbot_zoom_outbox_dead_letters 0",
        "moltbot_zoom_webhook_delivered_total 0",
        "moltbot_zoom_zoom_connected 1",
        "moltbot_zoom_last_event_lag_ms 42",
        "moltbot_zoom_http_requests_total{route=\"/api/v1/ping\",status=\"200\"} 1",
        "moltbot_zoom_http_requests_total{route=\"/status\",status=\"200\"} 1",
    ] {
        assert!(
            r.text.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            r.text
        );
    }
    // Four messages were stored: at least one commit.
    let commits: u64 = r
        .text
        .lines()
        .find_map(|l| l.strip_prefix("moltbot_zoom_store_commits_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(commits >= 1, "{}", r.text);
}

#[tokio::test]
async fn unknown_routes_get_the_404_envelope() {
    let (shim, _) = shim();
    let r = get(&shim.router(), &authed("/api/v1/handle/query")).await;
    assert_envelope(&r, 404, "Database Error", "Not Found");
    // The attachment route exists; an unknown guid gets BlueBubbles' answer.
    let r = get(&shim.router(), &authed("/api/v1/attachment/x/download")).await;
    assert_envelope(&r, 404, "Database Error", "Attachment does not exist!");
}

#[tokio::test]
async fn run_serves_over_tcp_and_stops_on_cancel() {
    let (shim, _) = shim();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_tx, rx) = moltbot_channel::inbound_channel(4);
    let cancel = moltbot_channel::CancellationToken::new();
    let task = {
        let shim = shim.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { shim.run(listener, rx, cancel).await })
    };
    let client = reqwest::Client::new();
    let res = client
        .get(format!("http://{addr}/api/v1/ping"))
        .bearer_auth(PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let info: Value = client
        .get(format!(
            "http://{addr}/api/v1/server/info?password={PASSWORD}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["data"]["local_ipv4s"], json!(["127.0.0.1"]));
    let res = client
        .get(format!("http://{addr}/api/v1/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run stops on cancel")
        .unwrap()
        .unwrap();
}
