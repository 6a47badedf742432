//! Team Chat file, reaction, edit and delete bodies (Zoom Team Chat API:
//! `getFileInfo`, `sendChatFile`, `reactMessage`, `editMessage`,
//! `deleteChatMessage`; see docs/rest-api.md for the sources).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET /v2/chat/files/{fileId}` success body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatFileInfo {
    /// The file's id.
    pub file_id: String,
    /// The file's name.
    pub file_name: String,
    /// Extension type, e.g. `png`.
    #[serde(rename = "OS_file_type", skip_serializing_if = "Option::is_none")]
    pub os_file_type: Option<String>,
    /// Size in bytes (a JSON number).
    pub length: u64,
    /// SHA-256 of the content, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Where to download it (with the Bearer token; may redirect).
    pub download_url: String,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Zoom's limits on `sendChatFile`: 16 MB for images, 20 MB for other files,
/// one file per call.
pub struct ChatFileLimits;

impl ChatFileLimits {
    /// Largest image (`png`, `jpg`, `jpeg`, `gif`), in bytes.
    pub const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;
    /// Largest other file, in bytes.
    pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

    /// Whether Zoom treats `file_name` as an image (all other files are
    /// "common files").
    pub fn is_image(file_name: &str) -> bool {
        let ext = file_name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase());
        matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg" | "gif"))
    }

    /// The size limit for `file_name`.
    pub fn max_bytes(file_name: &str) -> u64 {
        if Self::is_image(file_name) {
            Self::MAX_IMAGE_BYTES
        } else {
            Self::MAX_FILE_BYTES
        }
    }
}

/// `PATCH /v2/chat/users/{userId}/messages/{messageId}/emoji_reactions` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmojiReaction {
    /// `add` or `remove`.
    pub action: String,
    /// The emoji as Unicode code points, e.g. `U+1F600`.
    pub emoji: String,
    /// The channel of the message (exactly one of `to_channel` / `to_contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_channel: Option<String>,
    /// The contact of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_contact: Option<String>,
}

/// `PUT /v2/chat/users/{userId}/messages/{messageId}` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EditChatMessage {
    /// The new text.
    pub message: String,
    /// The channel of the message (exactly one of `to_channel` / `to_contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_channel: Option<String>,
    /// The contact of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_contact: Option<String>,
}

/// `U+1F44D`-style code points of `emoji` (space-separated for sequences), as
/// Zoom's reaction API and events spell them.
pub fn emoji_code_points(emoji: &str) -> String {
    emoji
        .chars()
        .map(|c| format!("U+{:X}", u32::from(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The emoji of a `U+1F44D`-style spelling (any case, space- or
/// `-`-separated), or `None` when it is not one.
pub fn emoji_from_code_points(spelled: &str) -> Option<String> {
    spelled
        .split([' ', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let hex = p.strip_prefix("U+").or_else(|| p.strip_prefix("u+"))?;
            char::from_u32(u32::from_str_radix(hex, 16).ok()?)
        })
        .collect::<Option<String>>()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_round_trip() {
        assert_eq!(emoji_code_points("👍"), "U+1F44D");
        assert_eq!(emoji_from_code_points("U+1f44c").as_deref(), Some("👌"));
        assert_eq!(
            emoji_from_code_points("U+2764 U+FE0F").as_deref(),
            Some("❤\u{fe0f}")
        );
        assert_eq!(emoji_from_code_points("test"), None);
        assert_eq!(emoji_from_code_points(""), None);
    }

    #[test]
    fn file_info_reads_zoom_shape() {
        let info: ChatFileInfo = serde_json::from_str(r#"{"file_id":"f1","file_name":"a.png","OS_file_type":"png","length":36,"digest":"ab","created_time":1,"modified_time":1,"download_url":"https://x/f"}"#).unwrap();
        assert_eq!(info.length, 36);
        assert_eq!(info.os_file_type.as_deref(), Some("png"));
        assert!(info.extra.contains_key("created_time"));
    }

    #[test]
    fn limits_follow_the_file_type() {
        assert!(ChatFileLimits::is_image("A.JPG"));
        assert!(!ChatFileLimits::is_image("notes.txt"));
        assert_eq!(ChatFileLimits::max_bytes("a.gif"), 16 * 1024 * 1024);
        assert_eq!(ChatFileLimits::max_bytes("a.pdf"), 20 * 1024 * 1024);
    }
}
