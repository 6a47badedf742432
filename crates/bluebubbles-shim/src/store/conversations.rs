//! The conversation store: handles, conversations with their participants
//! (one row per member), and recent messages. Plain statements on a
//! connection; the journal decides when they commit.

use moltbot_channel::{ChatType, Party};
use rusqlite::{Connection, OptionalExtension, params};

use super::records::{ChatRecord, Member, MessageFilter, MessageRecord};
use crate::ShimError;

pub(super) const UPSERT_HANDLE: &str = "INSERT INTO handles (address, name) VALUES (?1, ?2)
     ON CONFLICT (address) DO UPDATE SET name = COALESCE(excluded.name, handles.name)
     RETURNING rowid, address, name";
pub(super) const HANDLE_BY_ADDRESS: &str = "SELECT rowid, name FROM handles WHERE address = ?1";
pub(super) const UPSERT_CHAT: &str =
    "INSERT INTO chats (guid, kind, display_name, last_message_ms) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (guid) DO UPDATE SET
        kind = excluded.kind,
        display_name = COALESCE(excluded.display_name, chats.display_name),
        last_message_ms = MAX(chats.last_message_ms, excluded.last_message_ms)";
pub(super) const ADD_PARTICIPANT: &str =
    "INSERT OR IGNORE INTO chat_participants (chat_guid, handle) VALUES (?1, ?2)";
/// A conversation's activity: its stored floor (see `known`) or its newest
/// message, whichever is later (one `messages_by_chat` probe).
macro_rules! activity {
    () => {
        "MAX(c.last_message_ms, COALESCE(
            (SELECT MAX(m.date_ms) FROM messages m WHERE m.chat_guid = c.guid), 0))"
    };
}
pub(super) const CHAT_BY_GUID: &str = concat!(
    "SELECT c.rowid, c.guid, c.kind, c.display_name, ",
    activity!(),
    " FROM chats c WHERE c.guid = ?1"
);
/// A page of conversations, most recently active first (API reads: a scan
/// of `chats` with one index probe each, then a sort).
const CHATS_BY_ACTIVITY: &str = concat!(
    "SELECT c.guid FROM chats c ORDER BY ",
    activity!(),
    " DESC, c.rowid DESC LIMIT ?1 OFFSET ?2"
);
const CHATS_BY_AGE: &str = "SELECT guid FROM chats ORDER BY rowid LIMIT ?1 OFFSET ?2";
pub(super) const PARTICIPANTS: &str = "SELECT h.rowid, h.address, h.name
     FROM chat_participants p JOIN handles h ON h.rowid = p.handle
     WHERE p.chat_guid = ?1 ORDER BY p.handle";
/// Whether a conversation has more than ?2 participants (an index walk,
/// no handle lookups).
pub(super) const PARTICIPANTS_BEYOND: &str =
    "SELECT 1 FROM chat_participants WHERE chat_guid = ?1 LIMIT 1 OFFSET ?2";
pub(super) const MESSAGE_EXISTS: &str = "SELECT 1 FROM messages WHERE guid = ?1";
pub(super) const MESSAGE_BY_GUID: &str =
    "SELECT m.rowid, m.guid, m.chat_guid, h.rowid, h.address, h.name, m.text, m.date_ms,
    m.is_from_me, m.thread_originator, m.temp_guid, m.attachments, m.zoom, m.parts
    FROM messages m LEFT JOIN handles h ON h.rowid = m.sender_handle WHERE m.guid = ?1";
/// The newest message we recorded with a `tempGuid` (schema M8's partial
/// index).
pub(super) const SENT_BY_TEMP_GUID: &str =
    "SELECT guid FROM messages WHERE temp_guid = ?1 ORDER BY rowid DESC LIMIT 1";
pub(super) const INSERT_MESSAGE: &str = "INSERT INTO messages (guid, chat_guid, sender_handle, text, date_ms, is_from_me, thread_originator, temp_guid, attachments, zoom, parts)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
/// The pruner: the newest message a conversation may drop (the one just
/// past its window), then the bounded delete of that one and older ones.
pub(super) const WINDOW_EDGE: &str = "SELECT date_ms, rowid FROM messages WHERE chat_guid = ?1
     ORDER BY date_ms DESC, rowid DESC LIMIT 1 OFFSET ?2";
pub(super) const TRIM_CHAT: &str = "DELETE FROM messages WHERE rowid IN (
     SELECT rowid FROM messages WHERE chat_guid = ?1 AND (date_ms, rowid) <= (?2, ?3)
       AND rowid < ?5 LIMIT ?4)";
/// Handles no conversation refers to, from a cursor on. A message's sender
/// is a participant of its conversation for as long as the message exists
/// (schema M6), so no message refers to them either.
pub(super) const PRUNE_HANDLES: &str = "DELETE FROM handles WHERE rowid IN (
     SELECT h.rowid FROM handles h WHERE h.rowid > ?1
       AND NOT EXISTS (SELECT 1 FROM chat_participants p WHERE p.handle = h.rowid)
     ORDER BY h.rowid LIMIT ?2)";

/// Conversations whose activity is older than a cutoff (0 means "no
/// message yet": kept): those whose floor is, checked against their newest
/// message.
pub(super) const STALE_CHATS: &str = concat!(
    "SELECT c.guid FROM chats c WHERE c.last_message_ms > 0 AND c.last_message_ms < ?1 AND ",
    activity!(),
    " < ?1 ORDER BY c.last_message_ms LIMIT ?2"
);
/// Up to ?2 of a conversation's messages.
pub(super) const DELETE_CHAT_MESSAGES: &str = "DELETE FROM messages WHERE rowid IN (
     SELECT rowid FROM messages WHERE chat_guid = ?1 LIMIT ?2)";
/// Whether a conversation has a message at or after row id ?2.
pub(super) const HAS_MESSAGES_FROM: &str =
    "SELECT 1 FROM messages WHERE chat_guid = ?1 AND rowid >= ?2 LIMIT 1";
pub(super) const DELETE_CHAT_PARTICIPANTS: &str =
    "DELETE FROM chat_participants WHERE chat_guid = ?1";
pub(super) const DELETE_CHAT: &str = "DELETE FROM chats WHERE guid = ?1";

/// Where the next handle pass starts.
pub(super) const HANDLE_CURSOR: &str =
    "SELECT rowid FROM handles WHERE rowid > ?1 ORDER BY rowid LIMIT 1 OFFSET ?2";

/// Messages kept per conversation for `chat/:guid/message` and `message/query`.
pub(super) const RECENT_MESSAGES_PER_CHAT: i64 = 1000;

/// Creates or updates a handle (writing only when something changes);
/// returns it with its row id.
pub(super) fn upsert_handle(conn: &Connection, p: &Party) -> Result<Member, ShimError> {
    // A known handle whose name would not change is only read: rewriting
    // the same row dirties a page (and a WAL frame) per message.
    let known: Option<(i64, Option<String>)> = conn
        .prepare_cached(HANDLE_BY_ADDRESS)?
        .query_row([&p.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((rowid, name)) = known {
        if p.name.is_none() || p.name == name {
            return Ok(Member {
                rowid,
                address: p.id.clone(),
                name,
            });
        }
    }
    Ok(conn
        .prepare_cached(UPSERT_HANDLE)?
        .query_row(params![p.id, p.name], |r| {
            Ok(Member {
                rowid: r.get(0)?,
                address: r.get(1)?,
                name: r.get(2)?,
            })
        })?)
}

/// Creates or updates a conversation and adds `members` to it. Cost is
/// proportional to `members`, not to the conversation's size.
pub(super) fn upsert_chat(
    conn: &Connection,
    chat_guid: &str,
    kind: ChatType,
    label: Option<&str>,
    members: &[Member],
    date_ms: i64,
) -> Result<(), ShimError> {
    conn.prepare_cached(UPSERT_CHAT)?
        .execute(params![chat_guid, kind.as_str(), label, date_ms])?;
    let mut add = conn.prepare_cached(ADD_PARTICIPANT)?;
    for m in members {
        add.execute(params![chat_guid, m.rowid])?;
    }
    Ok(())
}

fn kind_of(kind: &str) -> ChatType {
    match kind {
        "direct" => ChatType::Direct,
        "channel" => ChatType::Channel,
        _ => ChatType::Group,
    }
}

/// One conversation with at most `participants` members (`None`: all).
pub(super) fn chat_by_guid(
    conn: &Connection,
    chat_guid: &str,
    participants: Option<usize>,
) -> Result<Option<ChatRecord>, ShimError> {
    let chat = conn
        .prepare_cached(CHAT_BY_GUID)?
        .query_row([chat_guid], |r| {
            Ok(ChatRecord {
                rowid: r.get(0)?,
                guid: r.get(1)?,
                kind: kind_of(&r.get::<_, String>(2)?),
                display_name: r.get(3)?,
                participants: Vec::new(),
                crowded: false,
                last_message_ms: r.get(4)?,
            })
        })
        .optional()?;
    let Some(mut chat) = chat else {
        return Ok(None);
    };
    let limit = participants.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    if limit > 0 {
        let crowded = conn
            .prepare_cached(PARTICIPANTS_BEYOND)?
            .query_row(params![chat_guid, limit - 1], |_| Ok(()))
            .optional()?
            .is_some();
        if crowded {
            // Callers asked for at most `limit`: a full list is never needed
            // here, so do not read the rows (see `Shaper`).
            chat.participants = Vec::new();
            chat.crowded = true;
            return Ok(Some(chat));
        }
    }
    // The bound is applied here, not as `LIMIT ?2`: a bound LIMIT made
    // SQLite re-prepare the statement on every run (seen in profiles).
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    chat.participants = conn
        .prepare_cached(PARTICIPANTS)?
        .query_map([chat_guid], |r| {
            Ok(Member {
                rowid: r.get(0)?,
                address: r.get(1)?,
                name: r.get(2)?,
            })
        })?
        .take(take)
        .collect::<Result<_, _>>()?;
    Ok(Some(chat))
}

struct MessageRow {
    record: MessageRecord,
    attachments: String,
    zoom: Option<String>,
    parts: String,
}

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let sender = match r.get::<_, Option<i64>>(3)? {
        Some(rowid) => Some(Member {
            rowid,
            address: r.get(4)?,
            name: r.get(5)?,
        }),
        None => None,
    };
    Ok(MessageRow {
        record: MessageRecord {
            rowid: r.get(0)?,
            guid: r.get(1)?,
            chat_guid: r.get(2)?,
            sender,
            text: r.get(6)?,
            date_ms: r.get(7)?,
            is_from_me: r.get(8)?,
            thread_originator: r.get(9)?,
            temp_guid: r.get(10)?,
            attachments: Vec::new(),
            zoom: None,
            parts: Vec::new(),
        },
        attachments: r.get(11)?,
        zoom: r.get(12)?,
        parts: r.get(13)?,
    })
}

impl MessageRow {
    fn into_record(self) -> Result<MessageRecord, ShimError> {
        let mut record = self.record;
        record.attachments = serde_json::from_str(&self.attachments)?;
        record.zoom = self.zoom.as_deref().map(serde_json::from_str).transpose()?;
        record.parts = serde_json::from_str(&self.parts)?;
        Ok(record)
    }
}

/// Whether a message with this guid is stored.
pub(super) fn message_exists(conn: &Connection, guid: &str) -> Result<bool, ShimError> {
    Ok(conn
        .prepare_cached(MESSAGE_EXISTS)?
        .query_row([guid], |_| Ok(()))
        .optional()?
        .is_some())
}

/// One message by guid.
pub(super) fn message_by_guid(
    conn: &Connection,
    guid: &str,
) -> Result<Option<MessageRecord>, ShimError> {
    conn.prepare_cached(MESSAGE_BY_GUID)?
        .query_row([guid], message_row)
        .optional()?
        .map(MessageRow::into_record)
        .transpose()
}

/// The newest message we recorded with `temp_guid`.
pub(super) fn sent_by_temp_guid(
    conn: &Connection,
    temp_guid: &str,
) -> Result<Option<MessageRecord>, ShimError> {
    let guid: Option<String> = conn
        .prepare_cached(SENT_BY_TEMP_GUID)?
        .query_row([temp_guid], |r| r.get(0))
        .optional()?;
    match guid {
        Some(guid) => message_by_guid(conn, &guid),
        None => Ok(None),
    }
}

/// Inserts a message; returns it with its row id. Trimming the
/// conversation to its window is the pruner's job.
pub(super) fn insert_message(
    conn: &Connection,
    mut m: MessageRecord,
) -> Result<MessageRecord, ShimError> {
    conn.prepare_cached(INSERT_MESSAGE)?.execute(params![
        m.guid,
        m.chat_guid,
        m.sender.as_ref().map(|s| s.rowid),
        m.text,
        m.date_ms,
        m.is_from_me,
        m.thread_originator,
        m.temp_guid,
        serde_json::to_string(&m.attachments)?,
        m.zoom.as_ref().map(serde_json::to_string).transpose()?,
        serde_json::to_string(&m.parts)?,
    ])?;
    m.rowid = conn.last_insert_rowid();
    Ok(m)
}

/// Drops up to `limit` messages of a conversation beyond its window, none
/// with a row id from `keep_from` on; returns how many went and whether
/// some beyond the window are left.
pub(super) fn trim_chat(
    conn: &Connection,
    chat_guid: &str,
    limit: i64,
    keep_from: i64,
) -> Result<(usize, bool), ShimError> {
    let edge = |conn: &Connection| -> Result<Option<(i64, i64)>, ShimError> {
        Ok(conn
            .prepare_cached(WINDOW_EDGE)?
            .query_row(params![chat_guid, RECENT_MESSAGES_PER_CHAT], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    };
    let Some((date_ms, rowid)) = edge(conn)? else {
        return Ok((0, false));
    };
    let n = conn
        .prepare_cached(TRIM_CHAT)?
        .execute(params![chat_guid, date_ms, rowid, limit, keep_from])?;
    Ok((n, edge(conn)?.is_some()))
}

/// Forgets up to `limit` conversations quiet since before `cutoff_ms`
/// (their messages and participants too; the outbox is not touched), but
/// not one with a message at or after row id `keep_from`. Deletes at most
/// `budget` messages (less what it deletes): a conversation whose messages
/// do not all fit goes in a later pass.
pub(super) fn prune_stale_chats(
    conn: &Connection,
    cutoff_ms: i64,
    limit: i64,
    keep_from: i64,
    budget: &mut i64,
) -> Result<usize, ShimError> {
    let stale: Vec<String> = conn
        .prepare_cached(STALE_CHATS)?
        .query_map(params![cutoff_ms, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut waiting = conn.prepare_cached(HAS_MESSAGES_FROM)?;
    let mut guids = Vec::with_capacity(stale.len());
    for guid in stale {
        if !waiting.exists(params![guid, keep_from])? {
            guids.push(guid);
        }
    }
    let mut removed = 0;
    for guid in &guids {
        if *budget <= 0 {
            break;
        }
        let n = conn
            .prepare_cached(DELETE_CHAT_MESSAGES)?
            .execute(params![guid, *budget])?;
        *budget -= i64::try_from(n).unwrap_or(i64::MAX);
        if *budget <= 0 && waiting.exists(params![guid, 0])? {
            break;
        }
        conn.prepare_cached(DELETE_CHAT_PARTICIPANTS)?
            .execute([guid])?;
        conn.prepare_cached(DELETE_CHAT)?.execute([guid])?;
        removed += 1;
    }
    Ok(removed)
}

/// Deletes up to `limit` unreferenced handles with a row id above
/// `after`; returns the count and where to continue (0: start over).
pub(super) fn prune_handles(
    conn: &Connection,
    after: i64,
    limit: i64,
) -> Result<(usize, i64), ShimError> {
    let removed = conn
        .prepare_cached(PRUNE_HANDLES)?
        .execute(params![after, limit])?;
    let next: Option<i64> = conn
        .prepare_cached(HANDLE_CURSOR)?
        .query_row(params![after, limit], |r| r.get(0))
        .optional()?;
    Ok((removed, next.unwrap_or(0)))
}

/// A page of conversations (oldest first, or most recently active first)
/// and the total count. API reads, not the hot path.
pub(super) fn chats(
    conn: &Connection,
    filter_guid: Option<&str>,
    by_activity: bool,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ChatRecord>, i64), ShimError> {
    if let Some(guid) = filter_guid {
        let chat = chat_by_guid(conn, guid, None)?;
        let total = i64::from(chat.is_some());
        let page = chat
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        return Ok((page, total));
    }
    let sql = if by_activity {
        CHATS_BY_ACTIVITY
    } else {
        CHATS_BY_AGE
    };
    let guids: Vec<String> = conn
        .prepare_cached(sql)?
        .query_map(params![limit, offset], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(guids.len());
    for guid in guids {
        out.extend(chat_by_guid(conn, &guid, None)?);
    }
    let total = conn.query_row("SELECT COUNT(*) FROM chats", [], |r| r.get(0))?;
    Ok((out, total))
}

/// A page of messages and the total matching count. API reads.
pub(super) fn messages(
    conn: &Connection,
    f: &MessageFilter,
) -> Result<(Vec<MessageRecord>, i64), ShimError> {
    let mut clauses = Vec::new();
    if f.chat_guid.is_some() {
        clauses.push("m.chat_guid = ?1");
    }
    if f.after_ms.is_some() {
        clauses.push("m.date_ms > ?2");
    }
    if f.before_ms.is_some() {
        clauses.push("m.date_ms < ?3");
    }
    // Unused parameters still get bound; keep their slots referenced.
    clauses.push("?1 IS ?1 AND ?2 IS ?2 AND ?3 IS ?3");
    let filter = clauses.join(" AND ");
    let dir = if f.ascending { "ASC" } else { "DESC" };
    let select = MESSAGE_BY_GUID
        .strip_suffix(" WHERE m.guid = ?1")
        .unwrap_or(MESSAGE_BY_GUID);
    let rows = conn
        .prepare_cached(&format!(
            "{select} WHERE {filter} ORDER BY m.date_ms {dir}, m.rowid {dir} LIMIT ?4 OFFSET ?5"
        ))?
        .query_map(
            params![f.chat_guid, f.after_ms, f.before_ms, f.limit, f.offset],
            message_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let messages = rows
        .into_iter()
        .map(MessageRow::into_record)
        .collect::<Result<_, _>>()?;
    let total = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM messages m WHERE {filter}"))?
        .query_row(params![f.chat_guid, f.after_ms, f.before_ms], |r| r.get(0))?;
    Ok((messages, total))
}
