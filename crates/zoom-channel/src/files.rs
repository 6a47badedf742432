//! Team Chat files both ways: the files of an inbound message are downloaded
//! with the account token (`getFileInfo`, then its `download_url`), up to
//! `media_max_bytes`, saved under the media directory and attached to the
//! message; outbound file bytes go to Zoom's `sendChatFile` within its size
//! limits.

use std::path::{Path, PathBuf};

use moltbot_channel::{
    Attachment, ChannelError, DeliveryResult, InboundMessage, MediaSource, OutboundMedia,
    SendOptions,
};
use sha2::{Digest, Sha256};
use zoom::{ChatFile, ChatPlace};
use zoom_wire::{ChatFileLimits, Event, TeamChatFile};

use crate::{
    channel::Inner,
    config::SendAs,
    conversation::{Target, parse_target},
    error::channel_error,
    outbound::now_ms,
};

/// The stable attachment id of Zoom file `file_id`: `zoom-file-` and 32 hex
/// digits of its SHA-256, so a redelivered event names the same file.
pub(crate) fn file_attachment_id(file_id: &str) -> String {
    let mut hex = hex::encode(Sha256::digest(file_id.as_bytes()));
    hex.truncate(32);
    format!("zoom-file-{hex}")
}

/// A file name safe to use as one path component.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' | ':' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.chars().take(120).collect()
    }
}

/// The MIME type of a file name's extension, for the types agents read.
pub(crate) fn mime_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "json" => "application/json",
        "vtt" => "text/vtt",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => return None,
    })
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// The files a chat event carries (`payload.object.files`).
fn event_files(event: &Event) -> Vec<TeamChatFile> {
    event
        .object()
        .and_then(|o| o.get("files"))
        .and_then(|f| serde_json::from_value::<Vec<TeamChatFile>>(f.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.file_id.as_deref().is_some_and(|id| !id.is_empty()))
        .collect()
}

impl Inner {
    /// Downloads the files of `event` and attaches them to `message`; a file
    /// over the size cap or one that cannot be fetched becomes a notice in
    /// the message text instead.
    pub(crate) async fn attach_files(
        &self,
        event: &Event,
        mut message: InboundMessage,
    ) -> InboundMessage {
        for file in event_files(event) {
            match self.fetch_file(&file).await {
                Ok(attachment) => message.attachments.push(attachment),
                Err(notice) => {
                    tracing::warn!(event = %event.event, %notice, "file not attached");
                    message.body.push_str(&format!("\n({notice})"));
                }
            }
        }
        message
    }

    /// One file: reused when already saved (a redelivery), else fetched.
    async fn fetch_file(&self, file: &TeamChatFile) -> Result<Attachment, String> {
        let file_id = file.file_id.clone().unwrap_or_default();
        let shown = file.file_name.clone().unwrap_or_else(|| "unnamed".into());
        let cap = self.config.media_max_bytes;
        let over = |size: u64| {
            format!(
                "file `{shown}` not attached: {} is over the {} limit (mediaMaxMb)",
                megabytes(size),
                megabytes(cap)
            )
        };
        if let Some(size) = file.file_size.and_then(|s| u64::try_from(s).ok()) {
            if size > cap {
                return Err(over(size));
            }
        }
        let id = file_attachment_id(&file_id);
        let dir = self.config.media_dir.join(&id);
        let path = dir.join(safe_name(&shown));
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            if meta.is_file() {
                return Ok(attachment(id, &shown, None, meta.len(), path));
            }
        }
        let failed = |why: String| format!("file `{shown}` could not be downloaded: {why}");
        let info = self
            .api
            .chat_file_info(&file_id)
            .await
            .map_err(|e| failed(channel_error(e).to_string()))?;
        if info.length > cap {
            return Err(over(info.length));
        }
        let download = self
            .api
            .download(
                &info.download_url,
                usize::try_from(cap).unwrap_or(usize::MAX),
            )
            .await
            .map_err(|e| failed(channel_error(e).to_string()))?;
        if download.truncated {
            return Err(over(cap.saturating_add(1)));
        }
        save(&dir, &path, &download.bytes)
            .await
            .map_err(|e| failed(format!("saving it failed: {e}")))?;
        let mime = download
            .content_type
            .filter(|m| !m.starts_with("application/octet-stream"));
        Ok(attachment(
            id,
            &shown,
            mime,
            download.bytes.len() as u64,
            path,
        ))
    }

    /// Sends file bytes (Zoom's `sendChatFile`), then the caption as text;
    /// a URL goes as a link in text.
    pub(crate) async fn send_file(
        &self,
        media: OutboundMedia,
    ) -> Result<DeliveryResult, ChannelError> {
        let MediaSource::Bytes {
            name,
            content_type,
            data,
        } = media.media
        else {
            return Err(ChannelError::BadRequest("no file bytes to send".into()));
        };
        let SendAs::User { sender } = &self.config.send_as else {
            return Err(ChannelError::Unsupported(format!(
                "cannot upload `{name}`: Zoom's chatbot API sends cards and text only (no file \
                 upload); send a link to the file instead, or set sendAs to a user"
            )));
        };
        if data.is_empty() {
            return Err(ChannelError::BadRequest(format!("`{name}` is empty")));
        }
        let limit = ChatFileLimits::max_bytes(&name);
        if data.len() as u64 > limit {
            return Err(ChannelError::BadRequest(format!(
                "`{name}` is {}; Zoom takes images (png, jpg, jpeg, gif) up to 16 MB and \
                 other files up to 20 MB",
                megabytes(data.len() as u64)
            )));
        }
        let target = parse_target(
            &media.conversation_id,
            self.config.default_target.as_deref(),
        )?;
        let place = match &target {
            Target::Channel(c) => ChatPlace::Channel(c.clone()),
            Target::Contact(c) => ChatPlace::Contact(c.clone()),
        };
        let thread = media.reply_to_id.as_deref().and_then(Self::thread_root);
        let content_type = content_type.or_else(|| mime_of(&name).map(str::to_owned));
        let file = ChatFile {
            name,
            content_type,
            data,
        };
        let posted = self
            .api
            .send_chat_file(sender, &place, &file, thread.as_deref())
            .await
            .map_err(|e| {
                let e = channel_error(e);
                let mut state = self.lock();
                state.counters.send_failures += 1;
                state.last_error = Some(format!("file to {}: {e}", media.conversation_id));
                e
            })?;
        {
            let mut state = self.lock();
            state.sent.insert(&posted.id);
            state.counters.sent += 1;
        }
        let mut part_ids = vec![posted.id.clone()];
        if let Some(caption) = media.caption.filter(|c| !c.trim().is_empty()) {
            let result = self
                .send(
                    &media.conversation_id,
                    &caption,
                    media.reply_to_id.as_deref(),
                    &SendOptions::default(),
                )
                .await?;
            part_ids.extend(result.part_ids);
        }
        Ok(DeliveryResult {
            message_id: posted.id,
            part_ids,
            conversation_id: media.conversation_id,
            timestamp_ms: now_ms(),
        })
    }
}

fn attachment(
    id: String,
    name: &str,
    mime: Option<String>,
    size: u64,
    path: PathBuf,
) -> Attachment {
    Attachment {
        id,
        file_name: name.to_owned(),
        mime_type: mime.or_else(|| mime_of(name).map(str::to_owned)),
        size,
        path,
    }
}

/// Writes `data` to `path` through a temporary file, so a crash leaves no
/// partial file under the final name.
async fn save(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_path_safe() {
        let a = file_attachment_id("56bed9orRnOSEnBoX_HQvA");
        assert_eq!(a, file_attachment_id("56bed9orRnOSEnBoX_HQvA"));
        assert_ne!(a, file_attachment_id("other"));
        assert!(a.starts_with("zoom-file-") && a.len() == 42);
    }

    #[test]
    fn names_stay_one_component() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(
            safe_name("Screenshot 11.21.38 AM.png"),
            "Screenshot 11.21.38 AM.png"
        );
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name(""), "file");
    }

    #[test]
    fn files_come_from_the_object() {
        let event = Event::parse(r#"{"event":"team_chat.channel_message_posted","payload":{"object":{"message_id":"m","files":[{"file_id":"f1","file_name":"a.png","file_size":3,"OS_file_type":"PNG","file_message_type":"image"},{"file_name":"no id"}]}}}"#).unwrap();
        let files = event_files(&event);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file_name.as_deref(), Some("a.png"));
        assert_eq!(mime_of("A.PNG"), Some("image/png"));
    }
}
