use std::time::Duration;

use fake_zoom::FakeConfig;
use zoom::{RetryKind, ZoomApi, ZoomError};
use zoom_wire::{ChatbotContent, ChatbotMessage, SendChatMessage};

use crate::common::{fake, provider};

fn to_channel(channel: &str, text: &str) -> SendChatMessage {
    SendChatMessage {
        message: text.into(),
        to_channel: Some(channel.into()),
        ..SendChatMessage::default()
    }
}

#[tokio::test]
async fn team_chat_send_uses_the_token_api_url() {
    let fake = fake(FakeConfig::default()).await;
    // An unusable api_base: the token's api_url (the fake) must win.
    let api = ZoomApi::new(
        reqwest::Client::new(),
        "http://127.0.0.1:9",
        provider(&fake),
    );
    let sent = api
        .send_chat_message("me", &to_channel("chan-1", "hello"))
        .await
        .unwrap();
    assert!(!sent.id.is_empty());
    let recorded = fake.team_chat_messages();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].id, sent.id);
    assert_eq!(recorded[0].body.message, "hello");
    fake.shutdown();
}

#[tokio::test]
async fn rest_404_code_message_is_api_error() {
    let fake = fake(FakeConfig::default()).await;
    let api = ZoomApi::new(reqwest::Client::new(), &fake.base_url(), provider(&fake));
    let err = api
        .send_chat_message("me", &to_channel("no-such-channel", "hi"))
        .await
        .unwrap_err();
    let ZoomError::Api {
        status,
        code,
        message,
    } = &err
    else {
        panic!("expected Api error, got {err:?}");
    };
    assert_eq!((*status, *code), (404, 4130));
    assert!(message.contains("no-such-channel"), "{message}");
    assert_eq!(err.retry_kind(), RetryKind::Permanent);
    fake.shutdown();
}

#[tokio::test]
async fn rate_limited_429_parses_retry_after_seconds() {
    let fake = fake(FakeConfig::default()).await;
    fake.update_knobs(|k| {
        k.force_429_count = 1;
        k.retry_after_secs = 7;
    });
    let api = ZoomApi::new(reqwest::Client::new(), &fake.base_url(), provider(&fake));
    let err = api
        .send_chat_message("me", &to_channel("chan-1", "hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ZoomError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    assert_eq!(
        err.retry_kind(),
        RetryKind::Transient {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    // The next one goes through.
    api.send_chat_message("me", &to_channel("chan-1", "hi"))
        .await
        .unwrap();
    fake.shutdown();
}

#[tokio::test]
async fn expired_token_gets_one_refresh_and_retry() {
    let fake = fake(FakeConfig::default()).await;
    let tokens = provider(&fake);
    let api = ZoomApi::new(reqwest::Client::new(), &fake.base_url(), tokens.clone());
    api.get_user("me").await.unwrap();
    fake.expire_tokens();
    let user = api.get_user("alice@example.com").await.unwrap();
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(fake.token_requests(), 2);
    // Unknown users are a permanent API error, not retried.
    let err = api.get_user("nobody@example.com").await.unwrap_err();
    assert!(
        matches!(
            err,
            ZoomError::Api {
                status: 404,
                code: 1001,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.token_requests(), 2);
    fake.shutdown();
}

#[tokio::test]
async fn chatbot_send() {
    let fake = fake(FakeConfig::default()).await;
    let api = ZoomApi::new(reqwest::Client::new(), &fake.base_url(), provider(&fake));
    let body = ChatbotMessage {
        robot_jid: fake.config().robot_jid.clone(),
        to_jid: "someone@xmpp.zoom.us".into(),
        account_id: fake.config().account_id.clone(),
        content: ChatbotContent::text("hi from the bot"),
        ..ChatbotMessage::default()
    };
    let sent = api.send_chatbot_message(&body).await.unwrap();
    assert!(!sent.message_id.is_empty());
    assert_eq!(fake.chatbot_messages().len(), 1);
    let err = api
        .send_chatbot_message(&ChatbotMessage {
            robot_jid: "unknown@xmpp.zoom.us".into(),
            ..body
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ZoomError::Api { code: 7002, .. }), "{err:?}");
    fake.shutdown();
}
