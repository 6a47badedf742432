use fake_zoom::FakeConfig;
use serde_json::{Value, json};

use crate::common::{client, start};

#[tokio::test]
async fn good_credentials_get_a_token_from_form_body_or_query() {
    let fake = start().await;
    let url = format!("{}/oauth/token", fake.base_url());
    let form = client()
        .post(&url)
        .basic_auth("fake-client-id", Some("fake-client-secret"))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", "fake-account"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let body: zoom_wire::TokenResponse = form.json().await.unwrap();
    assert_eq!(body.access_token, "tok-1");
    assert_eq!(body.token_type, "bearer");
    assert_eq!(body.expires_in, 3599);
    assert!(body.scope.contains("imchat:bot"), "{}", body.scope);
    assert_eq!(body.api_url.as_deref(), Some(fake.base_url().as_str()));

    let query = client()
        .post(format!(
            "{url}?grant_type=account_credentials&account_id=fake-account"
        ))
        .basic_auth("fake-client-id", Some("fake-client-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 200);
    let body: Value = query.json().await.unwrap();
    assert_eq!(body["access_token"], "tok-2");
}

#[tokio::test]
async fn bad_credentials_get_401_invalid_client() {
    let fake = start().await;
    let url = format!("{}/oauth/token", fake.base_url());
    let form = [
        ("grant_type", "account_credentials"),
        ("account_id", "fake-account"),
    ];
    let expected =
        json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"});
    for req in [
        client()
            .post(&url)
            .basic_auth("fake-client-id", Some("wrong")),
        client()
            .post(&url)
            .basic_auth("other", Some("fake-client-secret")),
        client().post(&url),
    ] {
        let resp = req.form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.json::<Value>().await.unwrap(), expected);
    }
    // The fail_oauth knob rejects even good credentials.
    fake.update_knobs(|k| k.fail_oauth = true);
    let resp = client()
        .post(&url)
        .basic_auth("fake-client-id", Some("fake-client-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn grants_client_credentials_needs_no_account_id() {
    let fake = start().await;
    let url = format!("{}/oauth/token", fake.base_url());
    let post = |form: Vec<(&'static str, &'static str)>| {
        client()
            .post(&url)
            .basic_auth("fake-client-id", Some("fake-client-secret"))
            .form(&form)
            .send()
    };
    let ok = post(vec![("grant_type", "client_credentials")])
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let missing = post(vec![("grant_type", "account_credentials")])
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let wrong = post(vec![
        ("grant_type", "account_credentials"),
        ("account_id", "x"),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 400);

    for form in [vec![], vec![("grant_type", "password")]] {
        let resp = post(form).await.unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"reason": "unsupported grant type", "error": "unsupported_grant_type"})
        );
    }
}

#[tokio::test]
async fn token_requests_are_counted_and_recorded_without_secrets() {
    let fake = start().await;
    assert_eq!(fake.token_requests(), 0);
    for _ in 0..3 {
        crate::common::token(&fake).await;
    }
    let _ = client()
        .post(format!("{}/oauth/token", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 4);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    assert!(
        reqs.iter()
            .all(|r| r.method == "POST" && r.path == "/oauth/token")
    );
    assert_eq!(reqs.iter().filter(|r| r.status == 200).count(), 3);
    assert_eq!(reqs[3].status, 401);
}

#[test]
fn config_debug_redacts_the_client_secret() {
    let dbg = format!("{:?}", FakeConfig::default());
    assert!(!dbg.contains("fake-client-secret"), "{dbg}");
    assert!(dbg.contains("fake-client-id"));
}
