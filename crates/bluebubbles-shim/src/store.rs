//! The SQLite database: conversations, recent messages, webhooks and the
//! durable outbox of webhook deliveries.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use moltbot_channel::{ChatType, InboundMessage, Party};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::{Backoff, ShimError, bb, guid};

/// Messages kept per conversation for `chat/:guid/message` and `message/query`.
const RECENT_MESSAGES_PER_CHAT: i64 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS handles (
    rowid INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    name TEXT
);
CREATE TABLE IF NOT EXISTS chats (
    rowid INTEGER PRIMARY KEY,
    guid TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    display_name TEXT,
    participants TEXT NOT NULL DEFAULT '[]',
    last_message_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    rowid INTEGER PRIMARY KEY,
    guid TEXT NOT NULL UNIQUE,
    chat_guid TEXT NOT NULL,
    sender_handle INTEGER,
    text TEXT NOT NULL,
    date_ms INTEGER NOT NULL,
    is_from_me INTEGER NOT NULL,
    thread_originator TEXT,
    temp_guid TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    zoom TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat_guid, date_ms);
CREATE INDEX IF NOT EXISTS messages_by_date ON messages (date_ms);
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    events TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL,
    chat_guid TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    assigned INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    chat_guid TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    UNIQUE (seq, webhook_id)
);
CREATE INDEX IF NOT EXISTS deliveries_by_head ON deliveries (webhook_id, chat_guid, state, seq);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value
);
";

/// Delivery states.
const PENDING: &str = "pending";
const DEAD: &str = "dead";

/// The shim's SQLite database (WAL mode). Cheap to clone; all clones share one
/// connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// A participant as stored: handle row id, address and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub(crate) rowid: i64,
    pub(crate) address: String,
    pub(crate) name: Option<String>,
}

/// A stored conversation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRecord {
    pub(crate) rowid: i64,
    pub(crate) guid: String,
    pub(crate) kind: ChatType,
    pub(crate) display_name: Option<String>,
    pub(crate) participants: Vec<Member>,
    pub(crate) last_message_ms: i64,
}

/// Attachment metadata of a stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AttachmentRecord {
    pub(crate) guid: String,
    pub(crate) name: String,
    pub(crate) mime_type: Option<String>,
    pub(crate) total_bytes: i64,
}

/// The extra `zoom` object of webhook messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ZoomMeta {
    pub(crate) event_type: String,
    pub(crate) mode: String,
    pub(crate) conversation_kind: String,
    pub(crate) conversation_label: Option<String>,
}

/// A stored message (inbound or sent by us).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageRecord {
    pub(crate) rowid: i64,
    pub(crate) guid: String,
    pub(crate) chat_guid: String,
    pub(crate) sender: Option<Member>,
    pub(crate) text: String,
    pub(crate) date_ms: i64,
    pub(crate) is_from_me: bool,
    pub(crate) thread_originator: Option<String>,
    pub(crate) temp_guid: Option<String>,
    pub(crate) attachments: Vec<AttachmentRecord>,
    pub(crate) zoom: Option<ZoomMeta>,
}

/// A message we sent, to be recorded.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) guid: String,
    pub(crate) chat_guid: String,
    pub(crate) text: String,
    pub(crate) date_ms: i64,
    pub(crate) thread_originator: Option<String>,
    pub(crate) temp_guid: Option<String>,
    pub(crate) attachments: Vec<AttachmentRecord>,
}

/// Which messages to list.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageFilter {
    pub(crate) chat_guid: Option<String>,
    pub(crate) after_ms: Option<i64>,
    pub(crate) before_ms: Option<i64>,
    pub(crate) ascending: bool,
    pub(crate) offset: i64,
    pub(crate) limit: i64,
}

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Row id (used by `DELETE /api/v1/webhook/:id`).
    pub id: i64,
    /// Target URL; may carry a password in its query, so never log it whole.
    pub url: String,
    /// Subscribed event types (`*` for all).
    pub events: Vec<String>,
    /// Creation time, ms since the epoch.
    #[serde(rename = "created")]
    pub created_ms: i64,
}

impl Webhook {
    fn wants_new_message(&self) -> bool {
        self.events.iter().any(|e| e == "*" || e == "new-message")
    }
}

/// Outbox numbers for `/status`, `/metrics` and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStats {
    /// Messages not yet delivered to every target (pending, dead or waiting
    /// for a first webhook).
    pub depth: u64,
    /// Deliveries (message × webhook) waiting to be attempted.
    pub pending: u64,
    /// Deliveries that exhausted their attempts.
    pub dead_letters: u64,
    /// Deliveries that got a 2xx, since the database was created.
    pub delivered: u64,
    /// Failed delivery attempts, since the database was created.
    pub failed: u64,
    /// The last delivery error (no URL, no secret).
    pub last_error: Option<String>,
    /// When the last delivery succeeded, ms since the epoch.
    pub last_delivered_at_ms: Option<i64>,
}

/// A delivery that exhausted its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Delivery id, for [`Store::requeue`] and [`Store::drop_dead_letter`].
    pub id: i64,
    /// The message's guid.
    pub message_guid: String,
    /// Its conversation.
    pub chat_guid: String,
    /// The webhook it failed to reach.
    pub webhook_id: i64,
    /// The webhook URL without its query string.
    pub webhook_url: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: Option<String>,
    /// When the message entered the outbox, ms since the epoch.
    pub created_ms: i64,
    /// The webhook body, `{type, data}`.
    pub payload: serde_json::Value,
}

/// The oldest pending delivery of one (webhook, conversation) pair.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) id: i64,
    pub(crate) webhook_id: i64,
    pub(crate) chat_guid: String,
    pub(crate) url: String,
    pub(crate) payload: String,
    pub(crate) message_guid: String,
}

/// Result of one delivery attempt.
#[derive(Debug, Clone)]
pub(crate) enum Attempt {
    Delivered,
    Failed(String),
}

/// What happened to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    Delivered,
    Retry,
    Dead,
    /// The delivery was dropped (or its webhook deleted) meanwhile.
    Gone,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// [`ShimError::Database`] when the file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ShimError> {
        Self::init(Connection::open(path)?)
    }

    /// An in-memory database (tests, demo).
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn open_in_memory() -> Result<Self, ShimError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, ShimError> {
        // WAL lets the `outbox` CLI read while the sidecar writes. With WAL,
        // synchronous=NORMAL may lose the last commits on power loss (not on a
        // process crash); the outbox promises that an acknowledged inbound
        // message survives, and Zoom does not replay, so we pay one fsync per
        // commit with FULL.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a blocking thread.
    pub(crate) async fn call<R, F>(&self, f: F) -> Result<R, ShimError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, ShimError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ShimError::Task(e.to_string()))?
    }

    // ----- conversations and messages -------------------------------------

    /// Stores an inbound message, its conversation and its outbox entry in one
    /// transaction. Returns false when the message id was already stored (a
    /// redelivery), in which case nothing changes.
    pub(crate) fn record_inbound(
        &self,
        m: &InboundMessage,
        now_ms: i64,
    ) -> Result<bool, ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let exists: bool = tx
            .query_row(
                "SELECT 1 FROM messages WHERE guid = ?1",
                [&m.message_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            return Ok(false);
        }
        let chat_guid = m.conversation.id.clone();
        let sender = upsert_handle(&tx, &m.sender)?;
        let mut members = vec![sender.clone()];
        for p in &m.participants {
            members.push(upsert_handle(&tx, p)?);
        }
        upsert_chat(
            &tx,
            &chat_guid,
            m.conversation.kind,
            m.conversation.label.as_deref(),
            &members,
            m.timestamp_ms,
        )?;
        let zoom = ZoomMeta {
            event_type: m.event_type.clone(),
            mode: serde_json::to_value(m.mode)?
                .as_str()
                .unwrap_or("message")
                .to_owned(),
            conversation_kind: m.conversation.kind.as_str().to_owned(),
            conversation_label: m.conversation.label.clone(),
        };
        let record = MessageRecord {
            rowid: 0,
            guid: m.message_id.clone(),
            chat_guid: chat_guid.clone(),
            sender: Some(sender),
            text: m.body.clone(),
            date_ms: m.timestamp_ms,
            is_from_me: false,
            thread_originator: m.reply_to_id.clone(),
            temp_guid: None,
            attachments: Vec::new(),
            zoom: Some(zoom),
        };
        let record = insert_message(&tx, record)?;
        let chat = chat_by_guid(&tx, &chat_guid)?
            .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
        let payload = bb::new_message_event(&record, &chat);
        tx.execute(
            "INSERT INTO outbox (guid, chat_guid, payload, created_ms, assigned) VALUES (?1, ?2, ?3, ?4, 0)",
            params![record.guid, chat_guid, payload, now_ms],
        )?;
        let seq = tx.last_insert_rowid();
        assign(&tx, Some(seq), now_ms)?;
        tx.commit()?;
        Ok(true)
    }

    /// Records a message we sent (and its conversation, created if new).
    pub(crate) fn record_sent(&self, sent: Sent) -> Result<(MessageRecord, ChatRecord), ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let kind = guid::kind_of(&sent.chat_guid);
        let mut members = Vec::new();
        if kind == ChatType::Direct {
            let address = guid::identifier(&sent.chat_guid).to_owned();
            members.push(upsert_handle(
                &tx,
                &Party {
                    id: address,
                    name: None,
                },
            )?);
        }
        upsert_chat(&tx, &sent.chat_guid, kind, None, &members, sent.date_ms)?;
        let existing = message_by_guid(&tx, &sent.guid)?;
        let record = match existing {
            Some(m) => m,
            None => insert_message(
                &tx,
                MessageRecord {
                    rowid: 0,
                    guid: sent.guid,
                    chat_guid: sent.chat_guid.clone(),
                    sender: None,
                    text: sent.text,
                    date_ms: sent.date_ms,
                    is_from_me: true,
                    thread_originator: sent.thread_originator,
                    temp_guid: sent.temp_guid,
                    attachments: sent.attachments,
                    zoom: None,
                },
            )?,
        };
        let chat = chat_by_guid(&tx, &sent.chat_guid)?
            .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
        tx.commit()?;
        Ok((record, chat))
    }

    /// Creates a direct conversation with `address` unless it exists.
    pub(crate) fn ensure_direct_chat(&self, address: &str) -> Result<ChatRecord, ShimError> {
        let chat_guid = guid::direct(address);
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let member = upsert_handle(
            &tx,
            &Party {
                id: address.trim().to_owned(),
                name: None,
            },
        )?;
        upsert_chat(&tx, &chat_guid, ChatType::Direct, None, &[member], 0)?;
        let chat = chat_by_guid(&tx, &chat_guid)?
            .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
        tx.commit()?;
        Ok(chat)
    }

    /// One conversation.
    pub(crate) fn chat(&self, chat_guid: &str) -> Result<Option<ChatRecord>, ShimError> {
        chat_by_guid(&self.lock(), chat_guid)
    }

    /// A page of conversations (oldest first, or most recently active first)
    /// and the total count.
    pub(crate) fn chats(
        &self,
        filter_guid: Option<&str>,
        by_activity: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ChatRecord>, i64), ShimError> {
        let conn = self.lock();
        let order = if by_activity {
            "last_message_ms DESC, rowid DESC"
        } else {
            "rowid ASC"
        };
        let sql = format!(
            "SELECT rowid, guid, kind, display_name, participants, last_message_ms FROM chats
             WHERE (?1 IS NULL OR guid = ?1) ORDER BY {order} LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params![filter_guid, limit, offset], chat_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let chats = rows
            .into_iter()
            .map(ChatRow::into_record)
            .collect::<Result<_, _>>()?;
        let total = conn.query_row(
            "SELECT COUNT(*) FROM chats WHERE (?1 IS NULL OR guid = ?1)",
            params![filter_guid],
            |r| r.get(0),
        )?;
        Ok((chats, total))
    }

    /// A page of messages and the total matching count.
    pub(crate) fn messages(
        &self,
        f: &MessageFilter,
    ) -> Result<(Vec<MessageRecord>, i64), ShimError> {
        let conn = self.lock();
        let filter = "(?1 IS NULL OR m.chat_guid = ?1) AND (?2 IS NULL OR m.date_ms > ?2) AND (?3 IS NULL OR m.date_ms < ?3)";
        let dir = if f.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "{MESSAGE_SELECT} WHERE {filter} ORDER BY m.date_ms {dir}, m.rowid {dir} LIMIT ?4 OFFSET ?5"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(
                params![f.chat_guid, f.after_ms, f.before_ms, f.limit, f.offset],
                message_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let messages = rows
            .into_iter()
            .map(MessageRow::into_record)
            .collect::<Result<_, _>>()?;
        let total = conn.query_row(
            &format!("SELECT COUNT(*) FROM messages m WHERE {filter}"),
            params![f.chat_guid, f.after_ms, f.before_ms],
            |r| r.get(0),
        )?;
        Ok((messages, total))
    }

    // ----- webhooks --------------------------------------------------------

    /// Makes the configured webhooks match `urls`: adds new ones, removes
    /// configured ones no longer listed (webhooks added over the API stay).
    pub(crate) fn sync_config_webhooks(
        &self,
        urls: &[String],
        now_ms: i64,
    ) -> Result<(), ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let existing: Vec<(i64, String)> = {
            let mut stmt = tx.prepare("SELECT id, url FROM webhooks WHERE source = 'config'")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (id, url) in existing {
            if !urls.contains(&url) {
                tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])?;
            }
        }
        for url in urls {
            tx.execute(
                "INSERT OR IGNORE INTO webhooks (url, events, created_ms, source) VALUES (?1, '[\"*\"]', ?2, 'config')",
                params![url, now_ms],
            )?;
        }
        prune_outbox(&tx)?;
        assign(&tx, None, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// Every webhook, oldest first.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, ShimError> {
        let conn = self.lock();
        webhooks(&conn)
    }

    /// Registers a webhook; an existing URL returns the stored record
    /// unchanged (`false`). Messages waiting for a first webhook go to it.
    pub(crate) fn add_webhook(
        &self,
        url: &str,
        events: &[String],
        now_ms: i64,
    ) -> Result<(Webhook, bool), ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO webhooks (url, events, created_ms, source) VALUES (?1, ?2, ?3, 'api')",
            params![url, serde_json::to_string(events)?, now_ms],
        )? == 1;
        assign(&tx, None, now_ms)?;
        let hook = webhooks(&tx)?
            .into_iter()
            .find(|w| w.url == url)
            .ok_or_else(|| ShimError::Task("webhook vanished".into()))?;
        tx.commit()?;
        Ok((hook, inserted))
    }

    /// Removes a webhook and its pending deliveries; false when unknown.
    pub(crate) fn delete_webhook(&self, id: i64) -> Result<bool, ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])? == 1;
        prune_outbox(&tx)?;
        tx.commit()?;
        Ok(removed)
    }

    // ----- outbox ----------------------------------------------------------

    /// Due heads: for each (webhook, conversation), the oldest pending
    /// delivery, when its next attempt is due.
    pub(crate) fn due_heads(&self, now_ms: i64, limit: i64) -> Result<Vec<Head>, ShimError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT d.id, d.webhook_id, d.chat_guid, w.url, o.payload, o.guid
             FROM deliveries d
             JOIN outbox o ON o.seq = d.seq
             JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.state = 'pending' AND d.next_attempt_ms <= ?1
               AND d.seq = (SELECT MIN(d2.seq) FROM deliveries d2
                            WHERE d2.webhook_id = d.webhook_id AND d2.chat_guid = d.chat_guid
                              AND d2.state = 'pending')
             ORDER BY d.seq LIMIT ?2",
        )?;
        let heads = stmt
            .query_map(params![now_ms, limit], |r| {
                Ok(Head {
                    id: r.get(0)?,
                    webhook_id: r.get(1)?,
                    chat_guid: r.get(2)?,
                    url: r.get(3)?,
                    payload: r.get(4)?,
                    message_guid: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(heads)
    }

    /// The earliest future retry time, if any.
    pub(crate) fn next_retry_ms(&self, now_ms: i64) -> Result<Option<i64>, ShimError> {
        let conn = self.lock();
        Ok(conn.query_row(
            "SELECT MIN(next_attempt_ms) FROM deliveries WHERE state = 'pending' AND next_attempt_ms > ?1",
            [now_ms],
            |r| r.get(0),
        )?)
    }

    /// Records one attempt: a success removes the delivery (and the message
    /// once every target has it); a failure schedules a retry after the
    /// backoff delay or, at `max_attempts`, turns the delivery into a dead
    /// letter.
    pub(crate) fn record_attempt(
        &self,
        id: i64,
        attempt: &Attempt,
        now_ms: i64,
        max_attempts: u32,
        backoff: &Backoff,
        jitter: f64,
    ) -> Result<AttemptOutcome, ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let attempts: Option<u32> = tx
            .query_row("SELECT attempts FROM deliveries WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(attempts) = attempts else {
            return Ok(AttemptOutcome::Gone);
        };
        let outcome = match attempt {
            Attempt::Delivered => {
                tx.execute("DELETE FROM deliveries WHERE id = ?1", [id])?;
                bump(&tx, "delivered", 1)?;
                set_meta(&tx, "last_delivered_ms", now_ms)?;
                prune_outbox(&tx)?;
                AttemptOutcome::Delivered
            }
            Attempt::Failed(error) => {
                let attempts = attempts + 1;
                let dead = attempts >= max_attempts;
                let retry_in = backoff.delay(attempts, jitter);
                let next =
                    now_ms.saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX));
                tx.execute(
                    "UPDATE deliveries SET attempts = ?2, state = ?3, next_attempt_ms = ?4, last_error = ?5 WHERE id = ?1",
                    params![id, attempts, if dead { DEAD } else { PENDING }, next, error],
                )?;
                bump(&tx, "failed", 1)?;
                set_meta(&tx, "last_error", error.as_str())?;
                if dead {
                    AttemptOutcome::Dead
                } else {
                    AttemptOutcome::Retry
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Outbox counters.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn outbox_stats(&self) -> Result<OutboxStats, ShimError> {
        let conn = self.lock();
        let count = |sql: &str| -> Result<u64, rusqlite::Error> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        Ok(OutboxStats {
            depth: count("SELECT COUNT(*) FROM outbox")?,
            pending: count("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")?,
            dead_letters: count("SELECT COUNT(*) FROM deliveries WHERE state = 'dead'")?,
            delivered: u64::try_from(get_meta::<i64>(&conn, "delivered")?.unwrap_or(0))
                .unwrap_or(0),
            failed: u64::try_from(get_meta::<i64>(&conn, "failed")?.unwrap_or(0)).unwrap_or(0),
            last_error: get_meta(&conn, "last_error")?,
            last_delivered_at_ms: get_meta(&conn, "last_delivered_ms")?,
        })
    }

    /// Every dead letter, oldest first.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, ShimError> {
        dead_letters(&self.lock(), None)
    }

    /// One dead letter.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, ShimError> {
        Ok(dead_letters(&self.lock(), Some(id))?.pop())
    }

    /// Puts a dead letter back in the queue with a fresh attempt budget;
    /// false when there is no such dead letter. A running delivery worker
    /// picks it up within its poll interval.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn requeue(&self, id: i64) -> Result<bool, ShimError> {
        let conn = self.lock();
        Ok(conn.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_ms = 0 WHERE id = ?1 AND state = 'dead'",
            [id],
        )? == 1)
    }

    /// Deletes a dead letter for good; false when there is no such dead letter.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn drop_dead_letter(&self, id: i64) -> Result<bool, ShimError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let removed = tx.execute(
            "DELETE FROM deliveries WHERE id = ?1 AND state = 'dead'",
            [id],
        )? == 1;
        prune_outbox(&tx)?;
        tx.commit()?;
        Ok(removed)
    }
}

// ----- helpers on a connection or transaction --------------------------------

fn upsert_handle(tx: &Transaction<'_>, p: &Party) -> Result<Member, ShimError> {
    tx.execute(
        "INSERT INTO handles (address, name) VALUES (?1, ?2)
         ON CONFLICT (address) DO UPDATE SET name = COALESCE(excluded.name, handles.name)",
        params![p.id, p.name],
    )?;
    Ok(tx.query_row(
        "SELECT rowid, address, name FROM handles WHERE address = ?1",
        [&p.id],
        |r| {
            Ok(Member {
                rowid: r.get(0)?,
                address: r.get(1)?,
                name: r.get(2)?,
            })
        },
    )?)
}

/// Creates or updates a conversation, merging participants by address.
fn upsert_chat(
    tx: &Transaction<'_>,
    chat_guid: &str,
    kind: ChatType,
    label: Option<&str>,
    members: &[Member],
    date_ms: i64,
) -> Result<(), ShimError> {
    let mut participants = chat_by_guid(tx, chat_guid)?
        .map(|c| c.participants)
        .unwrap_or_default();
    for m in members {
        match participants.iter_mut().find(|p| p.address == m.address) {
            Some(p) => {
                if m.name.is_some() {
                    p.name = m.name.clone();
                }
            }
            None => participants.push(m.clone()),
        }
    }
    tx.execute(
        "INSERT INTO chats (guid, kind, display_name, participants, last_message_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (guid) DO UPDATE SET
            kind = excluded.kind,
            display_name = COALESCE(excluded.display_name, chats.display_name),
            participants = excluded.participants,
            last_message_ms = MAX(chats.last_message_ms, excluded.last_message_ms)",
        params![
            chat_guid,
            kind.as_str(),
            label,
            serde_json::to_string(&participants)?,
            date_ms
        ],
    )?;
    Ok(())
}

struct ChatRow {
    rowid: i64,
    guid: String,
    kind: String,
    display_name: Option<String>,
    participants: String,
    last_message_ms: i64,
}

fn chat_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatRow> {
    Ok(ChatRow {
        rowid: r.get(0)?,
        guid: r.get(1)?,
        kind: r.get(2)?,
        display_name: r.get(3)?,
        participants: r.get(4)?,
        last_message_ms: r.get(5)?,
    })
}

impl ChatRow {
    fn into_record(self) -> Result<ChatRecord, ShimError> {
        let kind = match self.kind.as_str() {
            "direct" => ChatType::Direct,
            "channel" => ChatType::Channel,
            _ => ChatType::Group,
        };
        Ok(ChatRecord {
            rowid: self.rowid,
            guid: self.guid,
            kind,
            display_name: self.display_name,
            participants: serde_json::from_str(&self.participants)?,
            last_message_ms: self.last_message_ms,
        })
    }
}

fn chat_by_guid(conn: &Connection, chat_guid: &str) -> Result<Option<ChatRecord>, ShimError> {
    conn.query_row(
        "SELECT rowid, guid, kind, display_name, participants, last_message_ms FROM chats WHERE guid = ?1",
        [chat_guid],
        chat_row,
    )
    .optional()?
    .map(ChatRow::into_record)
    .transpose()
}

const MESSAGE_SELECT: &str =
    "SELECT m.rowid, m.guid, m.chat_guid, h.rowid, h.address, h.name, m.text, m.date_ms,
    m.is_from_me, m.thread_originator, m.temp_guid, m.attachments, m.zoom
    FROM messages m LEFT JOIN handles h ON h.rowid = m.sender_handle";

struct MessageRow {
    record: MessageRecord,
    attachments: String,
    zoom: Option<String>,
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
        },
        attachments: r.get(11)?,
        zoom: r.get(12)?,
    })
}

impl MessageRow {
    fn into_record(self) -> Result<MessageRecord, ShimError> {
        let mut record = self.record;
        record.attachments = serde_json::from_str(&self.attachments)?;
        record.zoom = self.zoom.as_deref().map(serde_json::from_str).transpose()?;
        Ok(record)
    }
}

fn message_by_guid(
    conn: &Connection,
    message_guid: &str,
) -> Result<Option<MessageRecord>, ShimError> {
    conn.query_row(
        &format!("{MESSAGE_SELECT} WHERE m.guid = ?1"),
        [message_guid],
        message_row,
    )
    .optional()?
    .map(MessageRow::into_record)
    .transpose()
}

/// Inserts a message, trims its conversation to the recent window and
/// returns it with its row id.
fn insert_message(tx: &Transaction<'_>, mut m: MessageRecord) -> Result<MessageRecord, ShimError> {
    tx.execute(
        "INSERT INTO messages (guid, chat_guid, sender_handle, text, date_ms, is_from_me, thread_originator, temp_guid, attachments, zoom)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
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
        ],
    )?;
    m.rowid = tx.last_insert_rowid();
    tx.execute(
        "DELETE FROM messages WHERE chat_guid = ?1 AND rowid NOT IN
            (SELECT rowid FROM messages WHERE chat_guid = ?1 ORDER BY date_ms DESC, rowid DESC LIMIT ?2)",
        params![m.chat_guid, RECENT_MESSAGES_PER_CHAT],
    )?;
    Ok(m)
}

fn webhooks(conn: &Connection) -> Result<Vec<Webhook>, ShimError> {
    let mut stmt = conn.prepare("SELECT id, url, events, created_ms FROM webhooks ORDER BY id")?;
    let rows: Vec<(i64, String, String, i64)> = stmt
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

/// Creates delivery rows for outbox messages not yet assigned to any webhook
/// (`seq = None`: all of them), once at least one webhook wants them.
fn assign(tx: &Transaction<'_>, seq: Option<i64>, now_ms: i64) -> Result<(), ShimError> {
    let targets: Vec<i64> = webhooks(tx)?
        .into_iter()
        .filter(Webhook::wants_new_message)
        .map(|w| w.id)
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    for id in &targets {
        tx.execute(
            "INSERT OR IGNORE INTO deliveries (seq, webhook_id, chat_guid, state, next_attempt_ms)
             SELECT seq, ?1, chat_guid, 'pending', ?2 FROM outbox
             WHERE assigned = 0 AND (?3 IS NULL OR seq = ?3)",
            params![id, now_ms, seq],
        )?;
    }
    tx.execute(
        "UPDATE outbox SET assigned = 1 WHERE assigned = 0 AND (?1 IS NULL OR seq = ?1)",
        params![seq],
    )?;
    Ok(())
}

/// Deletes outbox messages every target has received (or dropped).
fn prune_outbox(tx: &Transaction<'_>) -> Result<(), ShimError> {
    tx.execute(
        "DELETE FROM outbox WHERE assigned = 1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = outbox.seq)",
        [],
    )?;
    Ok(())
}

fn bump(tx: &Transaction<'_>, key: &str, by: i64) -> Result<(), ShimError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = meta.value + excluded.value",
        params![key, by],
    )?;
    Ok(())
}

fn set_meta(tx: &Transaction<'_>, key: &str, value: impl rusqlite::ToSql) -> Result<(), ShimError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn get_meta<T: rusqlite::types::FromSql>(
    conn: &Connection,
    key: &str,
) -> Result<Option<T>, ShimError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn dead_letters(conn: &Connection, id: Option<i64>) -> Result<Vec<DeadLetter>, ShimError> {
    let mut stmt = conn.prepare(
        "SELECT d.id, o.guid, d.chat_guid, d.webhook_id, w.url, d.attempts, d.last_error, o.created_ms, o.payload
         FROM deliveries d JOIN outbox o ON o.seq = d.seq JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.state = 'dead' AND (?1 IS NULL OR d.id = ?1) ORDER BY d.id",
    )?;
    let rows: Vec<(DeadLetter, String)> = stmt
        .query_map([id], |r| {
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
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(mut d, payload)| {
            d.payload = serde_json::from_str(&payload)?;
            Ok(d)
        })
        .collect()
}
