//! REST calls for meetings as content: the AI Companion summary, recording
//! file downloads (transcripts) and a conversation's Team Chat history.

use reqwest::{Method, Url};
use zoom_wire::{ChatMessagePage, MeetingSummary};

use crate::{
    ZoomApi, ZoomError,
    rest::{decode_error, segment},
};

/// Zoom's largest page of `GET /v2/chat/users/{userId}/messages`.
pub const CHAT_HISTORY_MAX_PAGE: u32 = 50;

/// A downloaded file, cut at the caller's byte limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The bytes received, at most the limit.
    pub bytes: Vec<u8>,
    /// True when the file was longer than the limit.
    pub truncated: bool,
    /// The `Content-Type` Zoom answered with, when any.
    pub content_type: Option<String>,
}

/// Which conversation a history query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryTarget {
    /// A channel id.
    Channel(String),
    /// A contact's email or user id.
    Contact(String),
}

/// A meeting UUID as a path segment: percent-encoded, twice when it starts
/// with `/` or contains `//` (Zoom API reference, "Meeting ID and UUID").
pub fn meeting_uuid_segment(uuid: &str) -> String {
    let once = segment(uuid);
    if uuid.starts_with('/') || uuid.contains("//") {
        segment(&once)
    } else {
        once
    }
}

impl ZoomApi {
    /// `GET /v2/meetings/{meetingUUID}/meeting_summary`: the AI Companion summary
    /// of one meeting instance.
    ///
    /// # Errors
    /// [`ZoomError::Api`] (404 no summary, 4711 / 104 missing scope, …), network errors.
    pub async fn get_meeting_summary(&self, uuid: &str) -> Result<MeetingSummary, ZoomError> {
        let path = format!(
            "/v2/meetings/{}/meeting_summary",
            meeting_uuid_segment(uuid)
        );
        self.call::<MeetingSummary, ()>(Method::GET, &path, None)
            .await
    }

    /// `GET /v2/chat/users/{user_id}/messages` for one conversation, messages
    /// sent between `from` and `to` (ISO-8601 UTC), one page.
    ///
    /// # Errors
    /// As [`ZoomApi::get_meeting_summary`].
    pub async fn list_chat_messages(
        &self,
        user_id: &str,
        target: &HistoryTarget,
        from: &str,
        to: &str,
        page_size: u32,
        next_page_token: Option<&str>,
    ) -> Result<ChatMessagePage, ZoomError> {
        let path = format!(
            "/v2/chat/users/{}/messages?{}",
            segment(user_id),
            history_query(target, from, to, page_size, next_page_token)
        );
        self.call::<ChatMessagePage, ()>(Method::GET, &path, None)
            .await
    }

    /// Downloads a file Zoom names by URL (a recording's `download_url`, a
    /// Team Chat file's `download_url`) with the account token, following
    /// Zoom's redirect to the file host, keeping at most `max_bytes`. The
    /// token is sent only to Zoom hosts (`zoom.us`, its subdomains) or the
    /// configured API host.
    ///
    /// # Errors
    /// [`ZoomError::Protocol`] for a URL that is not a Zoom host,
    /// [`ZoomError::Api`] for an HTTP error, network errors.
    pub async fn download(
        &self,
        download_url: &str,
        max_bytes: usize,
    ) -> Result<Download, ZoomError> {
        let url = Url::parse(download_url)
            .map_err(|e| ZoomError::Protocol(format!("bad download URL: {e}")))?;
        let token = self.tokens.token().await?;
        if !self.is_zoom_host(&url, token.api_url.as_deref()) {
            return Err(ZoomError::Protocol(format!(
                "refusing to send the account token to {}: not a Zoom host",
                url.host_str().unwrap_or("(no host)")
            )));
        }
        let mut response = self
            .authorized(|_, token| self.http.get(url.clone()).bearer_auth(token))
            .await?;
        tracing::debug!(status = response.status().as_u16(), "file download");
        if !response.status().is_success() {
            return Err(decode_error(response).await);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(ZoomError::from_http)? {
            let room = max_bytes.saturating_sub(bytes.len());
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Download {
            bytes,
            truncated,
            content_type,
        })
    }

    fn is_zoom_host(&self, url: &Url, api_url: Option<&str>) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        if matches!(url.scheme(), "https") && (host == "zoom.us" || host.ends_with(".zoom.us")) {
            return true;
        }
        [Some(self.api_base.as_str()), api_url]
            .into_iter()
            .flatten()
            .filter_map(|base| Url::parse(base).ok())
            .any(|base| {
                base.host_str() == Some(host)
                    && base.port_or_known_default() == url.port_or_known_default()
            })
    }
}

/// The query string of a history page.
fn history_query(
    target: &HistoryTarget,
    from: &str,
    to: &str,
    page_size: u32,
    next_page_token: Option<&str>,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    match target {
        HistoryTarget::Channel(c) => query.append_pair("to_channel", c),
        HistoryTarget::Contact(c) => query.append_pair("to_contact", c),
    };
    query
        .append_pair("from", from)
        .append_pair("to", to)
        .append_pair(
            "page_size",
            &page_size.clamp(1, CHAT_HISTORY_MAX_PAGE).to_string(),
        );
    if let Some(token) = next_page_token.filter(|t| !t.is_empty()) {
        query.append_pair("next_page_token", token);
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Grant, TokenProvider};

    #[test]
    fn the_token_goes_only_to_zoom_hosts() {
        let http = reqwest::Client::new();
        let tokens = TokenProvider::new(
            http.clone(),
            "http://127.0.0.1:9",
            Credentials {
                client_id: "id".into(),
                client_secret: "secret".into(),
                account_id: None,
                grant: Grant::ClientCredentials,
            },
        );
        let api = ZoomApi::new(http, "http://127.0.0.1:8080/", tokens);
        let ok =
            |u: &str, api_url: Option<&str>| api.is_zoom_host(&Url::parse(u).unwrap(), api_url);
        assert!(ok("https://zoom.us/rec/webhook_download/x", None));
        assert!(ok("https://us06web.zoom.us/rec/download/x", None));
        assert!(ok("http://127.0.0.1:8080/rec/webhook_download/x", None));
        assert!(ok(
            "https://api-eu.example/rec/x",
            Some("https://api-eu.example")
        ));
        assert!(!ok("http://zoom.us/rec/x", None), "plain http to zoom.us");
        assert!(!ok("https://evilzoom.us/rec/x", None));
        assert!(!ok("https://zoom.us.evil.example/rec/x", None));
        assert!(!ok("http://127.0.0.1:8081/rec/x", None), "another port");
    }

    #[test]
    fn uuids_are_double_encoded_when_zoom_requires_it() {
        assert_eq!(
            meeting_uuid_segment("4444AAAiAAAAAiAiAiiAii=="),
            "4444AAAiAAAAAiAiAiiAii%3D%3D"
        );
        assert_eq!(meeting_uuid_segment("ab/cd=="), "ab%2Fcd%3D%3D");
        assert_eq!(
            meeting_uuid_segment("/ajXp112QmuoKj4854875=="),
            "%252FajXp112QmuoKj4854875%253D%253D"
        );
        assert_eq!(meeting_uuid_segment("ab//cd"), "ab%252F%252Fcd");
    }
}
