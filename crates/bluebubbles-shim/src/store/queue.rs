//! The outbox: one `queue` row per delivery (message × webhook), dead
//! letters among them, plus the webhooks and the `meta` counters. Every
//! per-event statement is a keyed SEARCH; listing and loading happen at
//! start-up or on admin commands only.
//!
//! A row's `seq` orders it in its lane and keys its body in memory; the
//! rows of one message share it, and NULL stands for the row's own id (a
//! message's first row), so storing a message for one webhook is one
//! INSERT and delivering it one DELETE. A message waiting for a first
//! webhook has one row without a webhook.
//!
//! A row does not carry its webhook body (`payload` is empty): the body is
//! rebuilt from the stored message and its conversation when it is not in
//! memory, and the pruner keeps those messages until delivery
//! ([`oldest_unbuilt`]). A dead letter's body is written into its row when
//! it dies, so it outlives its message. Rows written before 2026-12 carry
//! their body and are delivered as they are.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::Shaper;
use super::conversations;
use super::ids::Ids;
use super::records::{ChatRecord, DeadLetter, Webhook};
use crate::ShimError;
use crate::scheduler::{Entry, LaneKey};

/// Row ?6 for message `guid` (?1) of conversation ?2 to webhook ?3 (NULL:
/// none yet), placed at ?5 in its lanes (NULL: its own id).
pub(super) const INSERT_ROW: &str = "INSERT INTO queue (guid, chat_guid, webhook_id, created_ms, next_attempt_ms, seq, id) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)";
pub(super) const DELETE_ROW: &str = "DELETE FROM queue WHERE id = ?1";
pub(super) const RECORD_FAILURE: &str = "UPDATE queue SET attempts = ?2, state = ?3, next_attempt_ms = ?4, last_error = ?5 WHERE id = ?1";
pub(super) const PAYLOAD: &str = "SELECT payload, guid, chat_guid FROM queue WHERE id = ?1";
/// Writes a body into a row that has none (a dead letter keeps its own).
pub(super) const KEEP_PAYLOAD: &str =
    "UPDATE queue SET payload = ?2 WHERE id = ?1 AND payload = ''";
/// The row id of the oldest message a row without a body still needs: the
/// pruner keeps it and every later message. Messages are in `seq` order,
/// and a row's `seq` is its id or, when set, below it; so the oldest is the
/// first such row by id or the first by a `seq` of its own, whichever comes
/// first (two keyed probes).
pub(super) const OLDEST_UNBUILT: &str = "SELECT m.rowid FROM messages m WHERE m.guid = (
     SELECT guid FROM (
       SELECT * FROM (SELECT guid, id AS k FROM queue WHERE payload = '' ORDER BY id LIMIT 1)
       UNION ALL
       SELECT * FROM (SELECT guid, seq AS k FROM queue
                      WHERE seq IS NOT NULL AND payload = '' ORDER BY seq LIMIT 1)
     ) ORDER BY k LIMIT 1)";
pub(super) const BUMP_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = meta.value + excluded.value";
pub(super) const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
pub(super) const GET_META: &str = "SELECT value FROM meta WHERE key = ?1";
pub(super) const DEAD_LETTER: &str = "SELECT q.id, q.guid, q.chat_guid, q.webhook_id, w.url, q.attempts, q.last_error, q.created_ms, q.payload
     FROM queue q JOIN webhooks w ON w.id = q.webhook_id
     WHERE q.id = ?1 AND q.state = 'dead'";
pub(super) const DEAD_LETTERS: &str = "SELECT q.id, q.guid, q.chat_guid, q.webhook_id, w.url, q.attempts, q.last_error, q.created_ms, q.payload
     FROM queue q JOIN webhooks w ON w.id = q.webhook_id
     WHERE q.state = 'dead' ORDER BY q.id";
pub(super) const REQUEUE: &str =
    "UPDATE queue SET state = 'pending', attempts = 0, next_attempt_ms = 0
     WHERE id = ?1 AND state = 'dead' RETURNING COALESCE(seq, id), webhook_id, chat_guid";
pub(super) const DROP_DEAD: &str = "DELETE FROM queue WHERE id = ?1 AND state = 'dead'";
/// Rows waiting for a first webhook, oldest first.
pub(super) const WAITING: &str = "SELECT id FROM queue WHERE webhook_id IS NULL ORDER BY id";
/// Gives waiting row ?1 to webhook ?2, due at ?3.
pub(super) const ASSIGN: &str =
    "UPDATE queue SET webhook_id = ?2, seq = COALESCE(seq, id), next_attempt_ms = ?3
     WHERE id = ?1 AND webhook_id IS NULL";
/// Row ?4, a further webhook's row for the message of waiting row ?1 (same seq).
pub(super) const COPY_ROW: &str = "INSERT INTO queue (id, seq, webhook_id, guid, chat_guid, payload, created_ms, next_attempt_ms)
     SELECT ?4, COALESCE(seq, id), ?2, guid, chat_guid, payload, created_ms, ?3 FROM queue WHERE id = ?1";
/// Start-up and reloads: every pending delivery (sorted in memory: no
/// index is kept for this once-per-open read).
pub(super) const LOAD_PENDING: &str =
    "SELECT webhook_id, chat_guid, id, COALESCE(seq, id), attempts, next_attempt_ms
     FROM queue WHERE state = 'pending' AND webhook_id IS NOT NULL";

/// Inserts the rows of stored message `guid`: one per webhook in `targets`
/// (or one waiting for a first webhook when there is none). Returns the
/// message's seq and the new deliveries' ids, in `targets` order.
pub(super) fn insert_rows(
    conn: &Connection,
    ids: &mut Ids,
    guid: &str,
    chat_guid: &str,
    targets: &[i64],
    now_ms: i64,
) -> Result<(i64, Vec<i64>), ShimError> {
    let mut insert = conn.prepare_cached(INSERT_ROW)?;
    // The first row (to the first webhook, or to none yet) is the message's seq.
    let seq = ids.take(conn)?;
    insert.execute(params![
        guid,
        chat_guid,
        targets.first(),
        now_ms,
        None::<i64>,
        seq
    ])?;
    let mut rows = Vec::with_capacity(targets.len());
    if !targets.is_empty() {
        rows.push(seq);
    }
    for &webhook_id in targets.iter().skip(1) {
        let id = ids.take(conn)?;
        insert.execute(params![guid, chat_guid, webhook_id, now_ms, seq, id])?;
        rows.push(id);
    }
    Ok((seq, rows))
}

/// Removes delivery `id`; false when it was already gone (its webhook was
/// deleted).
pub(super) fn remove_delivery(conn: &Connection, id: i64) -> Result<bool, ShimError> {
    Ok(conn.prepare_cached(DELETE_ROW)?.execute([id])? == 1)
}

/// Stores a failed attempt (pending with a retry time, or dead); false
/// when the delivery is gone.
pub(super) fn record_failure(
    conn: &Connection,
    id: i64,
    attempts: u32,
    dead: bool,
    next_ms: i64,
    error: &str,
) -> Result<bool, ShimError> {
    let state = if dead { "dead" } else { "pending" };
    Ok(conn
        .prepare_cached(RECORD_FAILURE)?
        .execute(params![id, attempts, state, next_ms, error])?
        == 1)
}

/// Conversations read for bodies within one read transaction (the bodies
/// read ahead in a lane share theirs).
pub(super) type ChatsRead = HashMap<String, Option<ChatRecord>>;

/// The webhook body and message guid of delivery `id`: the body its row
/// carries, or one shaped by `shaper` from the message and its conversation
/// as stored now. `None` when the row is gone, or (logged) when its message
/// is.
pub(super) fn payload(
    conn: &Connection,
    id: i64,
    shaper: Shaper,
    chats: &mut ChatsRead,
) -> Result<Option<(String, String)>, ShimError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached(PAYLOAD)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((payload, guid, chat_guid)) = row else {
        return Ok(None);
    };
    if !payload.is_empty() {
        return Ok(Some((payload, guid)));
    }
    let message = conversations::message_by_guid(conn, &guid)?;
    let chat = match chats.get(&chat_guid) {
        Some(chat) => chat,
        None => {
            let chat = conversations::chat_by_guid(conn, &chat_guid, Some(shaper.participants))?;
            chats.entry(chat_guid).or_insert(chat)
        }
    };
    match (message, chat) {
        (Some(m), Some(c)) => Ok(Some(((shaper.encode)(&m, c), guid))),
        _ => {
            tracing::error!(delivery = id, message_guid = %guid, "the message of an outbox entry is gone; its webhook body cannot be built");
            Ok(None)
        }
    }
}

/// Gives delivery `id` its body for good (it became a dead letter, which
/// must outlive the pruning of its message).
pub(super) fn keep_payload(conn: &Connection, id: i64, shaper: Shaper) -> Result<(), ShimError> {
    if let Some((body, _)) = payload(conn, id, shaper, &mut ChatsRead::new())? {
        conn.prepare_cached(KEEP_PAYLOAD)?
            .execute(params![id, body])?;
    }
    Ok(())
}

/// The row id from which on the pruner keeps messages (see [`OLDEST_UNBUILT`]).
pub(super) fn oldest_unbuilt(conn: &Connection) -> Result<Option<i64>, ShimError> {
    Ok(conn
        .prepare_cached(OLDEST_UNBUILT)?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// Adds `by` to a `meta` counter.
pub(super) fn bump_meta(conn: &Connection, key: &str, by: i64) -> Result<(), ShimError> {
    conn.prepare_cached(BUMP_META)?.execute(params![key, by])?;
    Ok(())
}

/// Sets a `meta` value.
pub(super) fn set_meta(
    conn: &Connection,
    key: &str,
    value: impl rusqlite::ToSql,
) -> Result<(), ShimError> {
    conn.prepare_cached(SET_META)?
        .execute(params![key, value])?;
    Ok(())
}

/// Reads a `meta` value.
pub(super) fn get_meta<T: rusqlite::types::FromSql>(
    conn: &Connection,
    key: &str,
) -> Result<Option<T>, ShimError> {
    Ok(conn
        .prepare_cached(GET_META)?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Every webhook, oldest first.
pub(super) fn webhooks(conn: &Connection) -> Result<Vec<Webhook>, ShimError> {
    let rows: Vec<(i64, String, String, i64)> = conn
        .prepare_cached("SELECT id, url, events, created_ms FROM webhooks ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(id, url, events, created_ms)| {
            Ok(Webhook {
                id,
                url,
                events: serde_json::from_str(&events)?,
                created_ms,
            })
        })
        .collect()
}

/// Assigns every message still waiting for a first webhook to `targets`:
/// its row goes to the first, copies to the others (the caller reloads the
/// scheduler).
pub(super) fn assign_waiting(
    conn: &Connection,
    ids: &mut Ids,
    targets: &[i64],
    now_ms: i64,
) -> Result<(), ShimError> {
    let Some((&first, rest)) = targets.split_first() else {
        return Ok(());
    };
    let waiting: Vec<i64> = conn
        .prepare_cached(WAITING)?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in waiting {
        for &webhook_id in rest {
            conn.prepare_cached(COPY_ROW)?.execute(params![
                id,
                webhook_id,
                now_ms,
                ids.take(conn)?
            ])?;
        }
        conn.prepare_cached(ASSIGN)?
            .execute(params![id, first, now_ms])?;
    }
    Ok(())
}

/// Every pending delivery, ordered by lane then seq.
pub(super) fn load_pending(conn: &Connection) -> Result<Vec<(LaneKey, Entry)>, ShimError> {
    let mut stmt = conn.prepare(LOAD_PENDING)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    let mut chats: HashMap<String, Arc<str>> = HashMap::new();
    while let Some(r) = rows.next()? {
        let webhook_id: i64 = r.get(0)?;
        let chat_guid: String = r.get(1)?;
        let key = match chats.get(&chat_guid) {
            Some(c) => Arc::clone(c),
            None => {
                let c: Arc<str> = Arc::from(chat_guid.as_str());
                chats.insert(chat_guid, Arc::clone(&c));
                c
            }
        };
        out.push((
            (webhook_id, key),
            Entry {
                id: r.get(2)?,
                seq: r.get(3)?,
                attempts: r.get(4)?,
                next_ms: r.get(5)?,
            },
        ));
    }
    out.sort_unstable_by(|(a, x), (b, y)| (a.0, &a.1, x.seq).cmp(&(b.0, &b.1, y.seq)));
    Ok(out)
}

/// Outbox rows, or dead letters among them, counted (start-up and reloads
/// only).
pub(super) fn count(conn: &Connection, what: &str) -> Result<u64, ShimError> {
    let sql = match what {
        "outbox" => "SELECT COUNT(*) FROM queue",
        _ => "SELECT COUNT(*) FROM queue WHERE state = 'dead'",
    };
    let n: i64 = conn.query_row(sql, [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn dead_letter_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(DeadLetter, String)> {
    let url: String = r.get(4)?;
    Ok((
        DeadLetter {
            id: r.get(0)?,
            message_guid: r.get(1)?,
            chat_guid: r.get(2)?,
            webhook_id: r.get(3)?,
            webhook_url: crate::outbox::redact_url(&url),
            attempts: r.get(5)?,
            last_error: r.get(6)?,
            created_ms: r.get(7)?,
            payload: serde_json::Value::Null,
        },
        r.get(8)?,
    ))
}

fn with_payload((mut d, payload): (DeadLetter, String)) -> Result<DeadLetter, ShimError> {
    // Empty only if the body could not be kept when it died.
    if !payload.is_empty() {
        d.payload = serde_json::from_str(&payload)?;
    }
    Ok(d)
}

/// Every dead letter, oldest first.
pub(super) fn dead_letters(conn: &Connection) -> Result<Vec<DeadLetter>, ShimError> {
    let rows: Vec<_> = conn
        .prepare_cached(DEAD_LETTERS)?
        .query_map([], dead_letter_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(with_payload).collect()
}

/// One dead letter.
pub(super) fn dead_letter(conn: &Connection, id: i64) -> Result<Option<DeadLetter>, ShimError> {
    conn.prepare_cached(DEAD_LETTER)?
        .query_row([id], dead_letter_row)
        .optional()?
        .map(with_payload)
        .transpose()
}
