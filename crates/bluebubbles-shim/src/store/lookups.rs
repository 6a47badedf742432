//! Lookups by guid for the attachment, edit and unsend routes. Inbound
//! attachments are carried in the message row's `attachments` JSON (with the
//! saved file's path), so a message still pending after a restart keeps them.

use moltbot_channel::Attachment;
use rusqlite::params;

use super::{AttachmentRecord, MessageRecord, Store, conversations};
use crate::ShimError;

impl AttachmentRecord {
    /// The stored form of an inbound message's attachment.
    pub(crate) fn inbound(a: &Attachment) -> Self {
        Self {
            guid: a.id.clone(),
            name: a.file_name.clone(),
            mime_type: a.mime_type.clone(),
            total_bytes: i64::try_from(a.size).unwrap_or(i64::MAX),
            path: Some(a.path.clone()),
        }
    }
}

impl Store {
    /// The attachment with `guid`, from the messages that carry attachments.
    ///
    /// # Errors
    /// A database or JSON error.
    pub(crate) fn attachment(&self, guid: &str) -> Result<Option<AttachmentRecord>, ShimError> {
        let needle = serde_json::to_string(guid)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT attachments FROM messages \
                 WHERE attachments <> '[]' AND instr(attachments, ?1) > 0",
            )?;
            let rows = stmt.query_map(params![needle], |r| r.get::<_, String>(0))?;
            for row in rows {
                let list: Vec<AttachmentRecord> = serde_json::from_str(&row?)?;
                if let Some(found) = list.into_iter().find(|a| a.guid == guid) {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        })
    }

    /// The message with `guid`, if stored.
    ///
    /// # Errors
    /// A database error.
    pub(crate) fn message(&self, guid: &str) -> Result<Option<MessageRecord>, ShimError> {
        self.read(|conn| conversations::message_by_guid(conn, guid))
    }
}
