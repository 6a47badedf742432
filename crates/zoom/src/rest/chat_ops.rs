//! Team Chat files, emoji reactions, edits and deletes (Zoom Team Chat API
//! `getFileInfo`, `sendChatFile`, `reactMessage`, `editMessage`,
//! `deleteChatMessage`).

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use zoom_wire::{ChatFileInfo, EditChatMessage, EmojiReaction, SendChatMessageResponse};

use super::{REQUEST_TIMEOUT, ZoomApi, decode, segment};
use crate::ZoomError;

/// One file to send with [`ZoomApi::send_chat_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFile {
    /// File name shown in Zoom.
    pub name: String,
    /// MIME type, when known.
    pub content_type: Option<String>,
    /// Content.
    pub data: Vec<u8>,
}

/// Where a Team Chat message is: exactly one of a channel or a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatPlace {
    /// `to_channel`.
    Channel(String),
    /// `to_contact` (email, user id or member id).
    Contact(String),
}

impl ChatPlace {
    fn pair(&self) -> (Option<String>, Option<String>) {
        match self {
            ChatPlace::Channel(c) => (Some(c.clone()), None),
            ChatPlace::Contact(c) => (None, Some(c.clone())),
        }
    }

    fn query(&self) -> [(&'static str, &str); 1] {
        match self {
            ChatPlace::Channel(c) => [("to_channel", c.as_str())],
            ChatPlace::Contact(c) => [("to_contact", c.as_str())],
        }
    }
}

/// The file host for an API base: Zoom serves `sendChatFile` from
/// `file.zoom.us` (`https://api.X` → `https://file.X`); any other base (a
/// local fake) serves both.
fn file_base(api_base: &str) -> String {
    match api_base.strip_prefix("https://api.") {
        Some(rest) => format!("https://file.{rest}"),
        None => api_base.to_owned(),
    }
}

impl ZoomApi {
    /// `GET /v2/chat/files/{fileId}`: a chat file's name, size and download URL.
    ///
    /// # Errors
    /// [`ZoomError::Api`] with Zoom's code (404: no such file; 401/403: the
    /// scope `team_chat:read:file` is missing), network errors.
    pub async fn chat_file_info(&self, file_id: &str) -> Result<ChatFileInfo, ZoomError> {
        let path = format!("/v2/chat/files/{}", segment(file_id));
        self.call::<ChatFileInfo, ()>(Method::GET, &path, None)
            .await
    }

    /// `POST /v2/chat/users/{userId}/messages/files` on Zoom's file host: sends
    /// one file to a channel or contact, optionally as a reply in a thread.
    ///
    /// # Errors
    /// As [`ZoomApi::chat_file_info`]; Zoom answers 400 code 300 for a file
    /// over its size limits.
    pub async fn send_chat_file(
        &self,
        user_id: &str,
        place: &ChatPlace,
        file: &ChatFile,
        reply_main_message_id: Option<&str>,
    ) -> Result<SendChatMessageResponse, ZoomError> {
        let path = format!("/v2/chat/users/{}/messages/files", segment(user_id));
        let response = self
            .authorized(|base, token| {
                let mut part =
                    reqwest::multipart::Part::bytes(file.data.clone()).file_name(file.name.clone());
                if let Some(mime) = &file.content_type {
                    part = part.mime_str(mime).unwrap_or_else(|_| {
                        reqwest::multipart::Part::bytes(file.data.clone())
                            .file_name(file.name.clone())
                    });
                }
                let mut form = reqwest::multipart::Form::new().part("files", part);
                let (to_channel, to_contact) = place.pair();
                for (name, value) in [
                    ("to_channel", to_channel),
                    ("to_contact", to_contact),
                    (
                        "reply_main_message_id",
                        reply_main_message_id.map(str::to_owned),
                    ),
                ] {
                    if let Some(value) = value {
                        form = form.text(name, value);
                    }
                }
                self.http
                    .post(format!("{}{path}", file_base(base)))
                    .bearer_auth(token)
                    .multipart(form)
            })
            .await?;
        decode(response).await
    }

    /// `PATCH /v2/chat/users/{userId}/messages/{messageId}/emoji_reactions`:
    /// adds or removes an emoji reaction.
    ///
    /// # Errors
    /// As [`ZoomApi::chat_file_info`]; an unknown message is 400 code 300.
    pub async fn react_to_message(
        &self,
        user_id: &str,
        message_id: &str,
        place: &ChatPlace,
        emoji: &str,
        add: bool,
    ) -> Result<(), ZoomError> {
        let (to_channel, to_contact) = place.pair();
        let body = EmojiReaction {
            action: if add { "add" } else { "remove" }.into(),
            emoji: emoji.to_owned(),
            to_channel,
            to_contact,
        };
        let path = format!(
            "/v2/chat/users/{}/messages/{}/emoji_reactions",
            segment(user_id),
            segment(message_id)
        );
        self.no_content(Method::PATCH, &path, |r| r.json(&body))
            .await
    }

    /// `PUT /v2/chat/users/{userId}/messages/{messageId}`: replaces the text of
    /// a message we sent.
    ///
    /// # Errors
    /// As [`ZoomApi::react_to_message`].
    pub async fn edit_message(
        &self,
        user_id: &str,
        message_id: &str,
        place: &ChatPlace,
        text: &str,
    ) -> Result<(), ZoomError> {
        let (to_channel, to_contact) = place.pair();
        let body = EditChatMessage {
            message: text.to_owned(),
            to_channel,
            to_contact,
        };
        let path = format!(
            "/v2/chat/users/{}/messages/{}",
            segment(user_id),
            segment(message_id)
        );
        self.no_content(Method::PUT, &path, |r| r.json(&body)).await
    }

    /// `DELETE /v2/chat/users/{userId}/messages/{messageId}?to_channel|to_contact`:
    /// deletes a message we sent.
    ///
    /// # Errors
    /// As [`ZoomApi::react_to_message`].
    pub async fn delete_message(
        &self,
        user_id: &str,
        message_id: &str,
        place: &ChatPlace,
    ) -> Result<(), ZoomError> {
        let path = format!(
            "/v2/chat/users/{}/messages/{}",
            segment(user_id),
            segment(message_id)
        );
        self.no_content(Method::DELETE, &path, |r| r.query(&place.query()))
            .await
    }

    /// A REST call answered `204 No Content` on success.
    async fn no_content(
        &self,
        method: Method,
        path: &str,
        body: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<(), ZoomError> {
        let response = self
            .authorized(|base, token| {
                body(
                    self.http
                        .request(method.clone(), format!("{base}{path}"))
                        .bearer_auth(token),
                )
            })
            .await?;
        tracing::debug!(%method, path, status = response.status().as_u16(), "Zoom REST call");
        if response.status().is_success() {
            return Ok(());
        }
        decode::<serde_json::Value>(response).await.map(|_| ())
    }

    /// Sends the request `build` makes for (REST base, token); a 401 refreshes
    /// the token once and sends again.
    pub(crate) async fn authorized(
        &self,
        build: impl Fn(&str, &str) -> RequestBuilder,
    ) -> Result<Response, ZoomError> {
        let mut token = self.tokens.token().await?;
        let mut refreshed = false;
        loop {
            let base = token
                .api_url
                .as_deref()
                .unwrap_or(&self.api_base)
                .trim_end_matches('/')
                .to_owned();
            let response = build(&base, token.value.expose())
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(ZoomError::from_http)?;
            if response.status() == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                token = self.tokens.refresh(token.generation).await?;
                continue;
            }
            return Ok(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_to_zooms_file_host() {
        assert_eq!(file_base("https://api.zoom.us"), "https://file.zoom.us");
        assert_eq!(file_base("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}
