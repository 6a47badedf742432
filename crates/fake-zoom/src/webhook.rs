//! The webhook emitter: signed POSTs the way Zoom sends them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::FakeError;
use crate::records::now_ms;

/// POSTs `body` signed with `secret`; returns the response.
async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &[u8],
) -> Result<reqwest::Response, reqwest::Error> {
    let timestamp = (now_ms() / 1000).to_string();
    let signature = zoom_wire::sign_webhook(secret, &timestamp, body);
    client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "Zoom Marketplace/1.0a")
        .header("x-zm-request-timestamp", &timestamp)
        .header("x-zm-signature", signature)
        .header("x-zm-request-id", uuid::Uuid::new_v4().to_string())
        .header("x-zm-trackingid", uuid::Uuid::new_v4().to_string())
        .body(body.to_vec())
        .send()
        .await
}

pub(crate) async fn send_webhook(
    url: &str,
    secret: &str,
    event: &Value,
    retries: u32,
    retry_delay: Duration,
) -> Result<u16, FakeError> {
    let client = reqwest::Client::new();
    let body = serde_json::to_vec(event)?;
    let mut attempt = 0;
    loop {
        let result = post_signed(&client, url, secret, &body).await;
        let retryable = match &result {
            Ok(resp) => resp.status().is_server_error(),
            Err(_) => true,
        };
        if !retryable || attempt >= retries {
            return Ok(result?.status().as_u16());
        }
        attempt += 1;
        tracing::debug!(attempt, "webhook delivery failed; retrying");
        tokio::time::sleep(retry_delay).await;
    }
}

pub(crate) async fn send_url_validation(
    url: &str,
    secret: &str,
    plain_token: &str,
) -> Result<(u16, Value), FakeError> {
    let event = json!({
        "payload": {"plainToken": plain_token},
        "event_ts": now_ms(),
        "event": "endpoint.url_validation",
    });
    let body = serde_json::to_vec(&event)?;
    let resp = post_signed(&reqwest::Client::new(), url, secret, &body).await?;
    let status: StatusCode = resp.status();
    let bytes = resp.bytes().await?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status.as_u16(), value))
}
