//! The outbox tables: messages waiting for delivery (`outbox`), one
//! `deliveries` row per (message, webhook), dead letters, webhooks and the
//! `meta` counters. Every per-event statement is a keyed SEARCH; listing
//! and loading happen at start-up or on admin commands only.
//!
//! An outbox row does not carry its webhook body (`payload` is empty): the
//! body is rebuilt from the stored message and its conversation when it is
//! not in memory, and the pruner keeps those messages until delivery
//! ([`oldest_unbuilt`]). A dead letter's body is written into its row when
//! it dies, so it outlives its message. Rows written before 2026-12 carry
//! their body and are delivered as they are.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::Shaper;
use super::conversations;
use super::records::{ChatRecord, DeadLetter, Webhook};
use crate::ShimError;
use crate::scheduler::{Entry, LaneKey};

pub(super) const INSERT_OUTBOX: &str = "INSERT INTO outbox (guid, chat_guid, payload, created_ms, assigned) VALUES (?1, ?2, '', ?3, ?4)";
pub(super) const INSERT_DELIVERY: &str =
    "INSERT OR IGNORE INTO deliveries (seq, webhook_id, chat_guid, state, next_attempt_ms)
     VALUES (?1, ?2, ?3, 'pending', ?4)";
pub(super) const DELETE_DELIVERY: &str = "DELETE FROM deliveries WHERE id = ?1";
/// Message ?1's outbox row when delivery ?2 is the last one it has; the
/// delivery goes with it (`ON DELETE CASCADE`).
pub(super) const DELETE_DELIVERED: &str = "DELETE FROM outbox WHERE seq = ?1 AND assigned = 1
     AND EXISTS (SELECT 1 FROM deliveries WHERE id = ?2 AND seq = ?1)
     AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = ?1 AND id <> ?2)";
pub(super) const HAS_SIBLINGS: &str = "SELECT 1 FROM deliveries WHERE seq = ?1 LIMIT 1";
pub(super) const DELETE_OUTBOX: &str = "DELETE FROM outbox WHERE seq = ?1 AND assigned = 1";
pub(super) const RECORD_FAILURE: &str = "UPDATE deliveries SET attempts = ?2, state = ?3, next_attempt_ms = ?4, last_error = ?5 WHERE id = ?1";
pub(super) const PAYLOAD: &str = "SELECT payload, guid, chat_guid FROM outbox WHERE seq = ?1";
/// Writes a body into a row that has none (a dead letter keeps its own).
pub(super) const KEEP_PAYLOAD: &str =
    "UPDATE outbox SET payload = ?2 WHERE seq = ?1 AND payload = ''";
/// The row id of the message behind the oldest row without a body: the
/// pruner keeps it and every later message.
pub(super) const OLDEST_UNBUILT: &str =
    "SELECT m.rowid FROM outbox o JOIN messages m ON m.guid = o.guid
     WHERE o.payload = '' ORDER BY o.seq LIMIT 1";
pub(super) const BUMP_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = meta.value + excluded.value";
pub(super) const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
pub(super) const GET_META: &str = "SELECT value FROM meta WHERE key = ?1";
pub(super) const DEAD_LETTER: &str = "SELECT d.id, o.guid, d.chat_guid, d.webhook_id, w.url, d.attempts, d.last_error, o.created_ms, o.payload
     FROM deliveries d JOIN outbox o ON o.seq = d.seq JOIN webhooks w ON w.id = d.webhook_id
     WHERE d.id = ?1 AND d.state = 'dead'";
pub(super) const DEAD_LETTERS: &str = "SELECT d.id, o.guid, d.chat_guid, d.webhook_id, w.url, d.attempts, d.last_error, o.created_ms, o.payload
     FROM deliveries d JOIN outbox o ON o.seq = d.seq JOIN webhooks w ON w.id = d.webhook_id
     WHERE d.state = 'dead' ORDER BY d.id";
pub(super) const REQUEUE: &str =
    "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_ms = 0
     WHERE id = ?1 AND state = 'dead' RETURNING seq, webhook_id, chat_guid";
pub(super) const DROP_DEAD: &str =
    "DELETE FROM deliveries WHERE id = ?1 AND state = 'dead' RETURNING seq";
/// Start-up and reloads: every pending delivery (sorted in memory: no
/// index is kept for this once-per-open read).
pub(super) const LOAD_PENDING: &str =
    "SELECT webhook_id, chat_guid, id, seq, attempts, next_attempt_ms
     FROM deliveries WHERE state = 'pending'";

/// Inserts an outbox row for stored message `guid`; returns its seq.
pub(super) fn insert_outbox(
    conn: &Connection,
    guid: &str,
    chat_guid: &str,
    now_ms: i64,
    assigned: bool,
) -> Result<i64, ShimError> {
    conn.prepare_cached(INSERT_OUTBOX)?
        .execute(params![guid, chat_guid, now_ms, assigned])?;
    Ok(conn.last_insert_rowid())
}

/// Inserts a pending delivery of `seq` to `webhook_id`; its id, or `None`
/// when it already existed.
pub(super) fn insert_delivery(
    conn: &Connection,
    seq: i64,
    webhook_id: i64,
    chat_guid: &str,
    now_ms: i64,
) -> Result<Option<i64>, ShimError> {
    let n = conn
        .prepare_cached(INSERT_DELIVERY)?
        .execute(params![seq, webhook_id, chat_guid, now_ms])?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// Removes delivery `id` of message `seq` and, when it was the message's
/// last, the message. Each statement leaves a consistent state on its own,
/// so the caller needs no savepoint. Returns (delivery removed, message
/// removed).
pub(super) fn remove_delivery(
    conn: &Connection,
    id: i64,
    seq: i64,
) -> Result<(bool, bool), ShimError> {
    if conn
        .prepare_cached(DELETE_DELIVERED)?
        .execute(params![seq, id])?
        == 1
    {
        return Ok((true, true));
    }
    if conn.prepare_cached(DELETE_DELIVERY)?.execute([id])? == 1 {
        // Other deliveries of the message are still to come.
        return Ok((true, false));
    }
    // Already gone (its webhook was deleted): the message may be done too.
    Ok((false, prune_message(conn, seq)?))
}

/// Deletes outbox message `seq` once no delivery refers to it.
pub(super) fn prune_message(conn: &Connection, seq: i64) -> Result<bool, ShimError> {
    let siblings = conn
        .prepare_cached(HAS_SIBLINGS)?
        .query_row([seq], |_| Ok(()))
        .optional()?
        .is_some();
    if siblings {
        return Ok(false);
    }
    Ok(conn.prepare_cached(DELETE_OUTBOX)?.execute([seq])? == 1)
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

/// A message's webhook body and guid: the body its row carries, or one
/// shaped by `shaper` from the message and its conversation as stored now.
/// `None` when the row is gone, or (logged) when its message is.
pub(super) fn payload(
    conn: &Connection,
    seq: i64,
    shaper: Shaper,
    chats: &mut ChatsRead,
) -> Result<Option<(String, String)>, ShimError> {
    let row: Option<(String, String, String)> = conn
        .prepare_cached(PAYLOAD)?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
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
            tracing::error!(seq, message_guid = %guid, "the message of an outbox entry is gone; its webhook body cannot be built");
            Ok(None)
        }
    }
}

/// Gives outbox row `seq` its body for good (it became a dead letter, which
/// must outlive the pruning of its message).
pub(super) fn keep_payload(conn: &Connection, seq: i64, shaper: Shaper) -> Result<(), ShimError> {
    if let Some((body, _)) = payload(conn, seq, shaper, &mut ChatsRead::new())? {
        conn.prepare_cached(KEEP_PAYLOAD)?
            .execute(params![seq, body])?;
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

/// Assigns every message still waiting for a first webhook to `targets`;
/// returns the new deliveries as scheduler entries.
pub(super) fn assign_waiting(
    conn: &Connection,
    targets: &[i64],
    now_ms: i64,
) -> Result<Vec<(LaneKey, Entry)>, ShimError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let waiting: Vec<(i64, String)> = conn
        .prepare_cached("SELECT seq, chat_guid FROM outbox WHERE assigned = 0 ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (seq, chat_guid) in waiting {
        let chat: Arc<str> = Arc::from(chat_guid.as_str());
        for &webhook_id in targets {
            if let Some(id) = insert_delivery(conn, seq, webhook_id, &chat_guid, now_ms)? {
                out.push((
                    (webhook_id, Arc::clone(&chat)),
                    Entry {
                        id,
                        seq,
                        attempts: 0,
                        next_ms: now_ms,
                    },
                ));
            }
        }
        conn.prepare_cached("UPDATE outbox SET assigned = 1 WHERE seq = ?1")?
            .execute([seq])?;
    }
    Ok(out)
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

/// Deliveries in `state` and outbox rows, counted (start-up and reloads
/// only).
pub(super) fn count(conn: &Connection, what: &str) -> Result<u64, ShimError> {
    let sql = match what {
        "outbox" => "SELECT COUNT(*) FROM outbox",
        _ => "SELECT COUNT(*) FROM deliveries WHERE state = 'dead'",
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
