//! The writer's memory of handles and conversations, so an inbound message
//! to a known conversation from a known sender reads and rewrites no
//! handle, participant or conversation row (and is shaped without reading
//! its conversation back).
//!
//! The tables stay the truth; this holds only what the writer itself
//! wrote or read, and is forgotten whenever that may no longer match them:
//! a job that failed (its savepoint rolled back), a group that failed, a
//! pruner pass that deleted conversations or handles, a change made by
//! another process, or a conversation changed by another kind of job. It
//! starts empty at every open.
//!
//! A conversation's activity rises with nearly every message. The stored
//! `last_message_ms` is only a floor that reads complete from the
//! conversation's newest message ([`conversations::CHAT_BY_GUID`]), so
//! the rise is noted here and written, once per conversation per group just
//! before the group's COMMIT, only when it moves the floor by at least
//! [`ACTIVITY_STEP_MS`]: at most once a minute per conversation instead of a
//! conversation row and two `chats_by_activity` pages per message.

use std::collections::HashMap;

use moltbot_channel::{Conversation, Party};
use rusqlite::{Connection, params};

use super::conversations::{self, ADD_PARTICIPANT};
use super::records::{ChatRecord, Member};
use crate::ShimError;

/// Handles remembered at most; beyond it the map starts over.
const MAX_HANDLES: usize = 50_000;
/// Conversations remembered at most; beyond it the map starts over.
const MAX_CHATS: usize = 8_192;

/// How far a conversation's activity must rise past its stored floor to be
/// written.
pub(super) const ACTIVITY_STEP_MS: i64 = 60_000;

/// Raises a conversation's `last_message_ms` to ?2 when that rises it by at
/// least ?3 (never lowers it).
pub(super) const RAISE_ACTIVITY: &str =
    "UPDATE chats SET last_message_ms = ?2 WHERE guid = ?1 AND last_message_ms <= ?2 - ?3";

/// What the writer knows (see the module doc).
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Address → (row id, name).
    handles: HashMap<String, (i64, Option<String>)>,
    /// Conversations as `chat_by_guid(.., Some(limit))` would read them.
    chats: HashMap<String, ChatRecord>,
    /// The participant bound of `chats`.
    limit: usize,
    /// `last_message_ms` to write before the next COMMIT.
    activity: HashMap<String, i64>,
}

impl Known {
    /// Forgets handles and conversations (not the pending activity, which
    /// belongs to messages that are still part of the group).
    pub(super) fn forget(&mut self) {
        self.handles = HashMap::new();
        self.chats = HashMap::new();
    }

    /// Forgets everything, the pending activity too (the group failed).
    pub(super) fn reset(&mut self) {
        self.forget();
        self.activity = HashMap::new();
    }

    /// Forgets conversation `chat_guid` (another kind of job is about to
    /// change it).
    pub(super) fn release_chat(&mut self, chat_guid: &str) {
        self.chats.remove(chat_guid);
    }

    /// Applies the activity pending for this group to `chat` as read from
    /// the table, so it shows what a read after the commit shows.
    pub(super) fn pending_activity(&self, chat: &mut ChatRecord) {
        if let Some(&ms) = self.activity.get(&chat.guid) {
            chat.last_message_ms = chat.last_message_ms.max(ms);
        }
    }

    /// Writes the pending activity (before the group's COMMIT).
    pub(super) fn flush(&mut self, conn: &Connection) -> Result<(), ShimError> {
        for (guid, ms) in self.activity.drain() {
            raise(conn, &guid, ms)?;
        }
        Ok(())
    }

    /// Notes that a stored message moved its conversation's activity to
    /// `date_ms` (call once the message is fully written).
    pub(super) fn note_activity(&mut self, chat_guid: &str, date_ms: i64) {
        match self.activity.get_mut(chat_guid) {
            Some(ms) => *ms = (*ms).max(date_ms),
            None => {
                self.activity.insert(chat_guid.to_owned(), date_ms);
            }
        }
    }

    /// [`conversations::upsert_handle`], answered from memory when the
    /// handle is known and its name would not change.
    pub(super) fn handle(&mut self, conn: &Connection, p: &Party) -> Result<Member, ShimError> {
        if let Some((rowid, name)) = self.handles.get(&p.id) {
            if p.name.is_none() || p.name == *name {
                return Ok(Member {
                    rowid: *rowid,
                    address: p.id.clone(),
                    name: name.clone(),
                });
            }
            // A new name: remembered participant lists show the old one.
            self.chats = HashMap::new();
        }
        let member = conversations::upsert_handle(conn, p)?;
        if self.handles.len() >= MAX_HANDLES {
            self.handles = HashMap::new();
        }
        self.handles
            .insert(member.address.clone(), (member.rowid, member.name.clone()));
        Ok(member)
    }

    /// Creates or updates `conversation` with `members` and a
    /// message at `date_ms`, and returns it as
    /// `chat_by_guid(.., Some(limit))` reads it afterwards. The activity is
    /// not written here: see [`Known::note_activity`].
    pub(super) fn chat(
        &mut self,
        conn: &Connection,
        conversation: &Conversation,
        members: &[Member],
        date_ms: i64,
        limit: usize,
    ) -> Result<&ChatRecord, ShimError> {
        let (chat_guid, kind) = (conversation.id.as_str(), conversation.kind);
        let label = conversation.label.as_deref();
        if limit != self.limit {
            self.chats = HashMap::new();
            self.limit = limit;
        }
        if let Some(chat) = self.chats.get_mut(chat_guid) {
            let same =
                chat.kind == kind && label.is_none_or(|l| chat.display_name.as_deref() == Some(l));
            if same && add_members(conn, chat, members, limit)? {
                chat.last_message_ms = chat.last_message_ms.max(date_ms);
            } else {
                self.chats.remove(chat_guid);
            }
        }
        if self.chats.contains_key(chat_guid) {
            return Ok(&self.chats[chat_guid]);
        }
        conversations::upsert_chat(conn, chat_guid, kind, label, members, date_ms)?;
        let mut chat = conversations::chat_by_guid(conn, chat_guid, Some(limit))?
            .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
        self.pending_activity(&mut chat);
        if self.chats.len() >= MAX_CHATS {
            self.chats = HashMap::new();
        }
        Ok(self.chats.entry(chat_guid.to_owned()).or_insert(chat))
    }
}

fn raise(conn: &Connection, chat_guid: &str, ms: i64) -> Result<(), ShimError> {
    conn.prepare_cached(RAISE_ACTIVITY)?
        .execute(params![chat_guid, ms, ACTIVITY_STEP_MS])?;
    Ok(())
}

/// Adds `members` to a remembered conversation, writing only new
/// participants; false when the memory turned out not to match the table
/// (the caller reads the conversation again).
fn add_members(
    conn: &Connection,
    chat: &mut ChatRecord,
    members: &[Member],
    limit: usize,
) -> Result<bool, ShimError> {
    for m in members {
        if chat.crowded || limit == 0 {
            // The list is not kept: the table decides.
            conn.prepare_cached(ADD_PARTICIPANT)?
                .execute(params![chat.guid, m.rowid])?;
            continue;
        }
        let at = chat.participants.partition_point(|p| p.rowid < m.rowid);
        if chat
            .participants
            .get(at)
            .is_some_and(|p| p.rowid == m.rowid)
        {
            continue;
        }
        let added = conn
            .prepare_cached(ADD_PARTICIPANT)?
            .execute(params![chat.guid, m.rowid])?;
        if added == 0 {
            return Ok(false);
        }
        chat.participants.insert(at, m.clone());
        if chat.participants.len() >= limit {
            chat.participants = Vec::new();
            chat.crowded = true;
        }
    }
    Ok(true)
}
