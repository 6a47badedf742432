//! OAuth and REST request / response bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /oauth/token` success body.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: String,
    /// Lifetime in seconds (3599 or 3600 in practice).
    pub expires_in: u64,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// REST base URL to use with this token, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// `POST /oauth/token` error body: `{reason, error}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthError {
    /// Human text, e.g. "Invalid client_id or client_secret".
    pub reason: String,
    /// Machine code, e.g. `invalid_client`.
    pub error: String,
}

/// REST error body: `{code, message, errors?}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiError {
    /// Zoom error code (e.g. 4130 channel does not exist).
    pub code: i64,
    /// Human text.
    pub message: String,
    /// Field validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Value>,
}

/// `POST /v2/chat/users/{userId}/messages` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendChatMessage {
    /// Text, at most 1024 characters.
    pub message: String,
    /// Target channel id (exactly one of `to_channel` / `to_contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_channel: Option<String>,
    /// Target contact (email or user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_contact: Option<String>,
    /// Thread root, for replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_main_message_id: Option<String>,
}

impl SendChatMessage {
    /// Zoom's limit on `message`, in characters.
    pub const MAX_CHARS: usize = 1024;
}

/// 201 body of a Team Chat send: the new message id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendChatMessageResponse {
    /// Message id.
    pub id: String,
}

/// `POST /v2/im/chat/messages` body (send as a chatbot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatbotMessage {
    /// The bot's JID.
    pub robot_jid: String,
    /// User or channel JID to post to.
    pub to_jid: String,
    /// Account id.
    pub account_id: String,
    /// The user the bot is talking to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_jid: Option<String>,
    /// Card content.
    pub content: ChatbotContent,
    /// Parent message id, for a threaded reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Render markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_markdown_support: Option<bool>,
}

/// A chatbot card: `{head:{text}, body:[{type:"message", text}]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatbotContent {
    /// `{"text": …}` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Value>,
    /// Body items.
    #[serde(default)]
    pub body: Vec<Value>,
}

impl ChatbotContent {
    /// A card holding one plain message.
    pub fn text(text: &str) -> Self {
        Self {
            head: None,
            body: vec![serde_json::json!({"type": "message", "text": text})],
        }
    }

    /// The concatenated text of the card's `message` items.
    pub fn plain_text(&self) -> String {
        self.body
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// 201 body of a chatbot send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatbotMessageResponse {
    /// Message id.
    pub message_id: String,
    /// Bot JID.
    pub robot_jid: String,
    /// Target JID.
    pub to_jid: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub sent_time: String,
    /// User JID.
    pub user_jid: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_redacts_the_token() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"SECRET-TOKEN","token_type":"bearer","expires_in":3599,"scope":"a b"}"#).unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("SECRET-TOKEN"), "{dbg}");
        assert_eq!(t.expires_in, 3599);
        assert_eq!(t.api_url, None);
    }

    #[test]
    fn send_body_omits_absent_target() {
        let body = SendChatMessage {
            message: "hi".into(),
            to_contact: Some("a@b".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"message":"hi","to_contact":"a@b"})
        );
    }
}
