use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use zoom_wire::{
    ApiError, ChatbotMessage, ChatbotMessageResponse, SendChatMessage, SendChatMessageResponse,
};

use crate::{TokenProvider, ZoomError, error::parse_retry_after};

pub(crate) mod chat_ops;

/// Bound on one REST round trip.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Characters escaped in a path segment (keeps unreserved characters and `@`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Zoom REST client: Bearer auth, base URL from the token's `api_url` when
/// present, else `api_base`. A 401 triggers one token refresh and one retry.
#[derive(Clone)]
pub struct ZoomApi {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base: String,
    pub(crate) tokens: TokenProvider,
}

impl ZoomApi {
    /// A client for `api_base` (e.g. `https://api.zoom.us`).
    pub fn new(http: reqwest::Client, api_base: &str, tokens: TokenProvider) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            tokens,
        }
    }

    /// `POST /v2/chat/users/{user_id}/messages`: posts to Team Chat as a user.
    ///
    /// # Errors
    /// [`ZoomError::Api`] with Zoom's code, [`ZoomError::RateLimited`], network errors.
    pub async fn send_chat_message(
        &self,
        user_id: &str,
        body: &SendChatMessage,
    ) -> Result<SendChatMessageResponse, ZoomError> {
        let path = format!("/v2/chat/users/{}/messages", segment(user_id));
        self.call(Method::POST, &path, Some(body)).await
    }

    /// `POST /v2/im/chat/messages`: posts as a chatbot.
    ///
    /// # Errors
    /// As [`ZoomApi::send_chat_message`].
    pub async fn send_chatbot_message(
        &self,
        body: &ChatbotMessage,
    ) -> Result<ChatbotMessageResponse, ZoomError> {
        self.call(Method::POST, "/v2/im/chat/messages", Some(body))
            .await
    }

    /// `GET /v2/users/{user_id}`.
    ///
    /// # Errors
    /// As [`ZoomApi::send_chat_message`].
    pub async fn get_user(&self, user_id: &str) -> Result<serde_json::Value, ZoomError> {
        let path = format!("/v2/users/{}", segment(user_id));
        self.call::<serde_json::Value, ()>(Method::GET, &path, None)
            .await
    }

    pub(crate) async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ZoomError> {
        let response = self
            .authorized(|base, token| {
                let request = self
                    .http
                    .request(method.clone(), format!("{base}{path}"))
                    .bearer_auth(token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        let status = response.status();
        tracing::debug!(%method, path, status = status.as_u16(), "Zoom REST call");
        decode(response).await
    }
}

pub(crate) fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ZoomError> {
    let status = response.status();
    if !status.is_success() {
        return Err(decode_error(response).await);
    }
    let body = response.text().await.map_err(ZoomError::from_http)?;
    serde_json::from_str(&body)
        .map_err(|e| ZoomError::Protocol(format!("unreadable Zoom response (HTTP {status}): {e}")))
}

/// The error of a failed response: Zoom's `{code, message}`, 429 as
/// [`ZoomError::RateLimited`] with its `Retry-After`.
pub(crate) async fn decode_error(response: reqwest::Response) -> ZoomError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let body = match response.text().await {
        Ok(body) => body,
        Err(e) => return ZoomError::from_http(e),
    };
    let err: ApiError = serde_json::from_str(&body).unwrap_or_else(|_| ApiError {
        message: body.chars().take(200).collect(),
        ..ApiError::default()
    });
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ZoomError::RateLimited {
            retry_after,
            message: err.message,
        };
    }
    ZoomError::Api {
        status: status.as_u16(),
        code: err.code,
        message: err.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("me"), "me");
        assert_eq!(segment("a.b@example.com"), "a.b@example.com");
        assert_eq!(segment("x/../y?z"), "x%2F..%2Fy%3Fz");
    }
}
