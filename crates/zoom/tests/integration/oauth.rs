use std::time::Duration;

use fake_zoom::FakeConfig;
use moltbot_channel::Secret;
use zoom::{Credentials, Grant, RetryKind, TokenProvider, ZoomError};

use crate::common::{credentials, fake, provider};

#[tokio::test]
async fn token_single_flight_50_concurrent_callers_one_request() {
    let fake = fake(FakeConfig::default()).await;
    let tokens = provider(&fake);
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let tokens = tokens.clone();
        callers.spawn(async move { tokens.token().await.map(|t| (t.generation, t.value)) });
    }
    let results = callers.join_all().await;
    assert_eq!(results.len(), 50);
    let first = results[0].as_ref().unwrap().clone();
    for r in results {
        assert_eq!(r.unwrap(), first);
    }
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(tokens.request_count(), 1);
    fake.shutdown();
}

#[tokio::test]
async fn token_refreshed_before_expiry() {
    let fake = fake(FakeConfig {
        expires_in: 2,
        ..FakeConfig::default()
    })
    .await;
    let margin = Duration::from_millis(1500);
    let tokens = provider(&fake).with_refresh_margin(margin);
    let t1 = tokens.token().await.unwrap();
    assert_eq!(t1.generation, 1);
    assert!(!t1.scopes.is_empty());
    assert_eq!(t1.api_url.as_deref(), Some(fake.base_url().as_str()));
    // Still outside the margin: cached.
    assert_eq!(tokens.token().await.unwrap().generation, 1);
    assert_eq!(fake.token_requests(), 1);
    // Inside the margin (the token is still valid at the fake): renewed.
    tokio::time::sleep_until(t1.expires_at - margin + Duration::from_millis(50)).await;
    let t2 = tokens.token().await.unwrap();
    assert_eq!(t2.generation, 2);
    assert_ne!(t2.value, t1.value);
    assert!(t2.expires_at > t1.expires_at);
    assert_eq!(fake.token_requests(), 2);
    fake.shutdown();
}

#[tokio::test]
async fn oauth_error_reason_surfaced_and_secret_hidden() {
    let fake = fake(FakeConfig::default()).await;
    let secret = "wrong-secret-7f3a9";
    let tokens = TokenProvider::new(
        reqwest::Client::new(),
        &fake.base_url(),
        Credentials {
            client_secret: Secret::new(secret),
            ..credentials(&fake)
        },
    );
    let err = tokens.token().await.unwrap_err();
    let ZoomError::OAuth {
        status,
        reason,
        error,
    } = &err
    else {
        panic!("expected OAuth error, got {err:?}");
    };
    assert_eq!(*status, 401);
    assert_eq!(reason, "Invalid client_id or client_secret");
    assert_eq!(error, "invalid_client");
    assert_eq!(err.retry_kind(), RetryKind::Permanent);
    assert!(
        err.to_string()
            .contains("Invalid client_id or client_secret")
    );
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{tokens_creds:?}", tokens_creds = credentials(&fake)),
    ] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("fake-client-secret"), "{text}");
    }
    // The good secret, refused by the fail_oauth knob, is not shown either.
    fake.update_knobs(|k| k.fail_oauth = true);
    let err = provider(&fake).token().await.unwrap_err();
    assert!(matches!(err, ZoomError::OAuth { status: 401, .. }));
    assert!(!format!("{err} {err:?}").contains("fake-client-secret"));
    fake.shutdown();
}

#[tokio::test]
async fn client_credentials_grant() {
    let fake = fake(FakeConfig::default()).await;
    let tokens = TokenProvider::new(
        reqwest::Client::new(),
        &fake.base_url(),
        Credentials {
            account_id: None,
            grant: Grant::ClientCredentials,
            ..credentials(&fake)
        },
    );
    assert_eq!(tokens.token().await.unwrap().generation, 1);
    fake.shutdown();
}
