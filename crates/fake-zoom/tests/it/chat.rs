use fake_zoom::{FakeConfig, FakeZoom};
use serde_json::{Value, json};

use crate::common::*;

async fn send_chat(fake: &FakeZoom, token: &str, user: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v2/chat/users/{user}/messages", fake.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn error_of(resp: reqwest::Response) -> (u16, i64) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body["code"].as_i64().unwrap())
}

#[tokio::test]
async fn team_chat_send_is_recorded_and_echoed_on_the_ws() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    let token = token(&fake).await;
    let resp = send_chat(
        &fake,
        &token,
        "me",
        json!({"message": "hello", "to_channel": "chan-1"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    assert!(fake.wait_for_team_chat(1, WAIT).await);
    let sent = fake.team_chat_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, id);
    assert_eq!(sent[0].user_id, "me");
    assert_eq!(sent[0].body.message, "hello");
    assert_eq!(sent[0].body.to_channel.as_deref(), Some("chan-1"));

    let legacy = next_frame(&mut ws).await.unwrap();
    let legacy: Value = serde_json::from_str(legacy["content"].as_str().unwrap()).unwrap();
    assert_eq!(legacy["event"], "chat_message.sent");
    assert_eq!(legacy["payload"]["operator"], "me@example.com");
    assert_eq!(
        legacy["payload"]["operator_id"],
        FakeConfig::user_id_of("me@example.com")
    );
    let obj = &legacy["payload"]["object"];
    assert_eq!(obj["id"], id.as_str());
    assert_eq!(obj["type"], "to_channel");
    assert_eq!(obj["channel_id"], "chan-1");
    assert_eq!(obj["message"], "hello");
    assert!(obj["timestamp"].is_i64() && obj["date_time"].is_string());

    let posted = next_frame(&mut ws).await.unwrap();
    let posted: Value = serde_json::from_str(posted["content"].as_str().unwrap()).unwrap();
    assert_eq!(posted["event"], "team_chat.channel_message_posted");
    assert_eq!(posted["payload"]["object"]["message_id"], id.as_str());
    assert!(matches!(
        zoom_wire::Event::from_content(posted)
            .unwrap()
            .0
            .typed()
            .unwrap(),
        zoom_wire::TypedEvent::ChannelMessagePosted(_)
    ));

    // A DM echoes as to_contact / dm_message_posted; echo_sends=false silences it.
    let resp = send_chat(
        &fake,
        &token,
        "me",
        json!({"message": "hi", "to_contact": "alice@example.com"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let legacy = next_frame(&mut ws).await.unwrap();
    let legacy: Value = serde_json::from_str(legacy["content"].as_str().unwrap()).unwrap();
    assert_eq!(legacy["payload"]["object"]["type"], "to_contact");
    assert_eq!(
        legacy["payload"]["object"]["contact_email"],
        "alice@example.com"
    );
    let posted = next_frame(&mut ws).await.unwrap();
    assert!(
        posted["content"]
            .as_str()
            .unwrap()
            .contains("team_chat.dm_message_posted")
    );

    fake.update_knobs(|k| k.echo_sends = false);
    let resp = send_chat(
        &fake,
        &token,
        "me",
        json!({"message": "quiet", "to_channel": "chan-1"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    fake.push_event(meeting_started("marker"));
    assert_event_frame(
        &next_frame(&mut ws).await.unwrap(),
        &meeting_started("marker"),
    );
}

#[tokio::test]
async fn team_chat_validation_errors() {
    let fake = start().await;
    let token = token(&fake).await;
    let ok = "x".repeat(1024);
    assert_eq!(
        send_chat(
            &fake,
            &token,
            "me",
            json!({"message": ok, "to_channel": "chan-1"})
        )
        .await
        .status(),
        201
    );
    // 1024 characters, multibyte, is still fine.
    let wide = "é".repeat(1024);
    assert_eq!(
        send_chat(
            &fake,
            &token,
            "me",
            json!({"message": wide, "to_channel": "chan-1"})
        )
        .await
        .status(),
        201
    );

    let cases = [
        (
            json!({"message": "x".repeat(1025), "to_channel": "chan-1"}),
            (400, 300),
        ),
        (json!({"message": "", "to_channel": "chan-1"}), (400, 300)),
        (
            json!({"message": "hi", "to_channel": "chan-1", "to_contact": "alice@example.com"}),
            (400, 300),
        ),
        (json!({"message": "hi"}), (400, 300)),
        (json!({"to_channel": "chan-1"}), (400, 300)),
        (json!({"message": "hi", "to_channel": "nope"}), (404, 4130)),
        (
            json!({"message": "hi", "to_contact": "carol@example.com"}),
            (404, 1001),
        ),
    ];
    for (body, expected) in cases {
        let resp = send_chat(&fake, &token, "me", body.clone()).await;
        assert_eq!(error_of(resp).await, expected, "{body}");
    }
    let resp = send_chat(
        &fake,
        &token,
        "nobody@example.com",
        json!({"message": "hi", "to_channel": "chan-1"}),
    )
    .await;
    assert_eq!(error_of(resp).await, (404, 1001));
    let resp = send_chat(
        &fake,
        &token,
        "me",
        json!({"message": "hi", "to_channel": "nope"}),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Channel does not exist: nope");
    assert_eq!(fake.team_chat_messages().len(), 2);
}

#[tokio::test]
async fn bad_or_query_string_tokens_get_124() {
    let fake = start().await;
    let token = token(&fake).await;
    let url = format!("{}/v2/chat/users/me/messages", fake.base_url());
    let body = json!({"message": "hi", "to_channel": "chan-1"});
    let expected = json!({"code": 124, "message": "Invalid access token."});
    for req in [
        client()
            .post(format!("{url}?access_token={token}"))
            .json(&body),
        client()
            .post(format!("{url}?access_token={token}"))
            .bearer_auth(&token)
            .json(&body),
        client().post(&url).json(&body),
        client().post(&url).bearer_auth("tok-999").json(&body),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.json::<Value>().await.unwrap(), expected);
    }
    // Recorded requests never carry the query string (where a token may be).
    assert!(fake.requests().iter().all(|r| !r.path.contains(&token)));
    fake.expire_tokens();
    assert_eq!(send_chat(&fake, &token, "me", body).await.status(), 401);
}

#[tokio::test]
async fn per_channel_window_gives_429_with_retry_after() {
    let fake = start_with(FakeConfig {
        channels: vec!["chan-1".into(), "chan-2".into()],
        ..Default::default()
    })
    .await;
    let token = token(&fake).await;
    let body = json!({"message": "hi", "to_channel": "chan-1"});
    for _ in 0..10 {
        assert_eq!(
            send_chat(&fake, &token, "me", body.clone()).await.status(),
            201
        );
    }
    let resp = send_chat(&fake, &token, "me", body.clone()).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "10");
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 429);
    // Still blocked: Retry-After counts down from the block.
    let resp = send_chat(&fake, &token, "me", body).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry));
    // Other channels and DMs are not affected.
    let other = json!({"message": "hi", "to_channel": "chan-2"});
    assert_eq!(send_chat(&fake, &token, "me", other).await.status(), 201);
    let dm = json!({"message": "hi", "to_contact": "bob@example.com"});
    assert_eq!(send_chat(&fake, &token, "me", dm).await.status(), 201);
    assert_eq!(fake.team_chat_messages().len(), 12);
}

#[tokio::test]
async fn force_429_count_and_rate_limit_knobs() {
    let fake = start().await;
    let token = token(&fake).await;
    let body = json!({"message": "hi", "to_contact": "alice@example.com"});
    fake.update_knobs(|k| {
        k.force_429_count = 2;
        k.retry_after_secs = 7;
    });
    for left in [1, 0] {
        let resp = send_chat(&fake, &token, "me", body.clone()).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        assert_eq!(fake.knobs().force_429_count, left);
    }
    assert_eq!(
        send_chat(&fake, &token, "me", body.clone()).await.status(),
        201
    );

    fake.update_knobs(|k| k.rate_limit_team_chat = true);
    for _ in 0..2 {
        let resp = send_chat(&fake, &token, "me", body.clone()).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
    }
    fake.update_knobs(|k| k.rate_limit_team_chat = false);
    assert_eq!(send_chat(&fake, &token, "me", body).await.status(), 201);
    assert_eq!(fake.team_chat_messages().len(), 2);
}

#[tokio::test]
async fn users_lookup() {
    let fake = start().await;
    let token = token(&fake).await;
    let get = |user: &str| {
        client()
            .get(format!("{}/v2/users/{user}", fake.base_url()))
            .bearer_auth(&token)
            .send()
    };
    let me: Value = get("me").await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], "me@example.com");
    assert_eq!(me["id"], FakeConfig::user_id_of("me@example.com"));
    assert_eq!(me["type"], 1);
    let by_id: Value = get(me["id"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_id, me);
    let alice: Value = get("alice@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice["display_name"], "Alice");
    let missing = get("zed@example.com").await.unwrap();
    assert_eq!(error_of(missing).await, (404, 1001));
}

async fn send_bot(fake: &FakeZoom, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = client().post(format!("{}/v2/im/chat/messages", fake.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.json(&body).send().await.unwrap()
}

fn bot_body(to_jid: &str) -> Value {
    json!({
        "robot_jid": "robot@xmpp.zoom.us",
        "to_jid": to_jid,
        "account_id": "fake-account",
        "user_jid": "u1@xmpp.zoom.us",
        "content": {"head": {"text": "Hi"}, "body": [{"type": "message", "text": "hello"}]},
    })
}

#[tokio::test]
async fn chatbot_send_succeeds() {
    let fake = start().await;
    let token = token(&fake).await;
    for jid in ["u1@xmpp.zoom.us", "chan@conference.xmpp.zoom.us"] {
        let resp = send_bot(&fake, Some(&token), bot_body(jid)).await;
        assert_eq!(resp.status(), 201);
        let body: zoom_wire::ChatbotMessageResponse = resp.json().await.unwrap();
        assert_eq!(body.robot_jid, "robot@xmpp.zoom.us");
        assert_eq!(body.to_jid, jid);
        assert_eq!(body.user_jid.as_deref(), Some("u1@xmpp.zoom.us"));
        assert_eq!(
            body.sent_time.len(),
            "yyyy-MM-dd HH:mm:ss".len(),
            "{}",
            body.sent_time
        );
        assert!(!body.message_id.is_empty());
    }
    assert!(fake.wait_for_chatbot(2, WAIT).await);
    let sent = fake.chatbot_messages();
    assert_eq!(sent[0].body.content.plain_text(), "hello");
    assert_eq!(sent[1].body.to_jid, "chan@conference.xmpp.zoom.us");
}

#[tokio::test]
async fn chatbot_errors() {
    let fake = start().await;
    let token = token(&fake).await;
    let mut bad_robot = bot_body("u1@xmpp.zoom.us");
    bad_robot["robot_jid"] = json!("other@xmpp.zoom.us");
    let mut bad_account = bot_body("u1@xmpp.zoom.us");
    bad_account["account_id"] = json!("other-account");
    let cases = [
        (
            Some(token.as_str()),
            json!({"robot_jid": "robot@xmpp.zoom.us"}),
            (400, 7001),
        ),
        (Some(token.as_str()), bad_robot, (404, 7002)),
        (Some(token.as_str()), bad_account, (403, 7003)),
        (
            Some(token.as_str()),
            bot_body("u1@example.com"),
            (403, 7004),
        ),
        (None, bot_body("u1@xmpp.zoom.us"), (401, 7010)),
        (Some("tok-999"), bot_body("u1@xmpp.zoom.us"), (401, 7010)),
    ];
    for (tok, body, expected) in cases {
        let resp = send_bot(&fake, tok, body.clone()).await;
        assert_eq!(error_of(resp).await, expected, "{body}");
    }
    fake.update_knobs(|k| k.force_429_count = 1);
    let resp = send_bot(&fake, Some(&token), bot_body("u1@xmpp.zoom.us")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(
        send_bot(&fake, Some(&token), bot_body("u1@xmpp.zoom.us"))
            .await
            .status(),
        201
    );
    assert_eq!(fake.chatbot_messages().len(), 1);
}

#[tokio::test]
async fn a_send_with_mentions_echoes_at_items_in_the_posted_event() {
    let fake = start().await;
    let mut ws = connect_ok(&fake).await;
    let token = token(&fake).await;
    let resp = send_chat(
        &fake,
        &token,
        "alice@example.com",
        json!({"message": "@Me have a look", "to_channel": "chan-1",
               "at_items": [{"at_type": 1, "at_contact": "me@example.com", "start_position": 0, "end_position": 2},
                            {"at_type": 2, "at_contact": "", "start_position": 4, "end_position": 8}]}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let legacy = next_frame(&mut ws).await.unwrap();
    assert!(
        legacy["content"]
            .as_str()
            .unwrap()
            .contains("chat_message.sent")
    );
    let posted = next_frame(&mut ws).await.unwrap();
    let posted: Value = serde_json::from_str(posted["content"].as_str().unwrap()).unwrap();
    assert_eq!(posted["event"], "team_chat.channel_message_posted");
    assert_eq!(posted["payload"]["operator"], "alice@example.com");
    assert_eq!(
        posted["payload"]["object"]["at_items"],
        json!([
            {"at_contact": "me@example.com", "at_contact_user_id": FakeConfig::user_id_of("me@example.com"),
             "at_contact_member_id": FakeConfig::user_id_of("me@example.com"), "at_type": 1,
             "start_position": 0, "end_position": 2},
            {"at_contact": "", "at_contact_user_id": "", "at_contact_member_id": "", "at_type": 2,
             "start_position": 4, "end_position": 8},
        ])
    );
}
