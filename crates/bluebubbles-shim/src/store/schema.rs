//! Connection settings and schema migrations.
//!
//! The schema version lives in `PRAGMA user_version` (rusqlite_migration).
//! Databases written before versioning have version 0, so M1 is the old
//! schema verbatim (all `IF NOT EXISTS`: a no-op there) and the changes
//! start at M2. Pending steps run in one transaction at open.

use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::ShimError;

/// M1: the schema as it was before migrations existed. Never edit.
const M1_SCHEMA: &str = "
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

/// M2: a conversation's participants become rows (the JSON column that was
/// rewritten on every message goes), and indexes for the pruner, the
/// dead-letter listing and the assignment of waiting messages.
const M2_PARTICIPANTS_AND_INDEXES: &str = "
CREATE TABLE chat_participants (
    chat_guid TEXT NOT NULL,
    handle INTEGER NOT NULL,
    PRIMARY KEY (chat_guid, handle)
) WITHOUT ROWID;
CREATE INDEX chat_participants_by_handle ON chat_participants (handle);
INSERT OR IGNORE INTO chat_participants (chat_guid, handle)
    SELECT c.guid, h.rowid
    FROM chats c, json_each(c.participants) j
    JOIN handles h ON h.address = json_extract(j.value, '$.address');
ALTER TABLE chats DROP COLUMN participants;
CREATE INDEX messages_by_sender ON messages (sender_handle);
CREATE INDEX chats_by_activity ON chats (last_message_ms);
CREATE INDEX dead_deliveries ON deliveries (id) WHERE state = 'dead';
CREATE INDEX outbox_unassigned ON outbox (seq) WHERE assigned = 0;
";

/// M3: `deliveries_by_head` goes. It served only the pending-delivery load
/// at open (now sorted in memory) yet cost a randomly placed index page per
/// inbound message; deleting a webhook (rare) scans `deliveries` instead.
const M3_NO_HEAD_INDEX: &str = "DROP INDEX IF EXISTS deliveries_by_head;";

/// M4: the Zoom ids of the later parts of a reply we split (the first part's
/// id is the message's guid), so an unsend deletes every part.
const M4_SENT_PARTS: &str = "ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';";

/// M5: one `queue` row per delivery instead of an `outbox` row per message
/// plus a `deliveries` row per (message, webhook). Storing and delivering an
/// event touched five B-trees of the two tables (with `sqlite_sequence`
/// twice and the foreign-key probes); now one row goes in and comes out.
/// A message waiting for a first webhook has one row with no webhook. `seq`
/// is the message's place in its lanes, shared by the rows of one message;
/// NULL means the row's own id (a message's first row). Rows are copied in
/// message order, and new ids start above every old `seq`, so order holds
/// across the upgrade. Only rows with a `seq` of their own (a message's
/// later rows, copied rows) enter `queue_by_seq`, which finds the oldest
/// message an outbox row still needs.
const M5_ONE_ROW_PER_DELIVERY: &str = "
CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER,
    webhook_id INTEGER,
    guid TEXT NOT NULL,
    chat_guid TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO queue (seq, webhook_id, guid, chat_guid, payload, created_ms, state, attempts, next_attempt_ms, last_error)
    SELECT o.seq, d.webhook_id, o.guid, o.chat_guid, o.payload, o.created_ms,
           d.state, d.attempts, d.next_attempt_ms, d.last_error
    FROM outbox o JOIN deliveries d ON d.seq = o.seq
    UNION ALL
    SELECT o.seq, NULL, o.guid, o.chat_guid, o.payload, o.created_ms, 'pending', 0, 0, NULL
    FROM outbox o WHERE o.assigned = 0
    ORDER BY 1, 2;
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'queue', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'queue');
UPDATE sqlite_sequence SET seq = MAX(seq,
    (SELECT COALESCE(MAX(s.seq), 0) FROM sqlite_sequence s WHERE s.name IN ('outbox', 'deliveries')))
    WHERE name = 'queue';
DROP TABLE deliveries;
DROP TABLE outbox;
CREATE INDEX queue_dead ON queue (id) WHERE state = 'dead';
CREATE INDEX queue_waiting ON queue (id) WHERE webhook_id IS NULL;
CREATE INDEX queue_by_seq ON queue (seq) WHERE seq IS NOT NULL;
";

/// M6: `messages_by_sender` goes. It served only the handle pruner, yet
/// cost a B-tree page per inbound message. An inbound message's sender is
/// always made a participant of its conversation, and participants leave
/// only with their conversation (and its messages), so the pruner asks
/// `chat_participants` alone; rows older than that rule are made to follow
/// it first.
const M6_NO_SENDER_INDEX: &str = "
INSERT OR IGNORE INTO chat_participants (chat_guid, handle)
    SELECT DISTINCT chat_guid, sender_handle FROM messages WHERE sender_handle IS NOT NULL;
DROP INDEX IF EXISTS messages_by_sender;
";

/// M7: `queue` without `AUTOINCREMENT`, which rewrote `sqlite_sequence`
/// with every INSERT; the writer hands ids out itself (`store::ids`),
/// starting above the old sequence. Ids and order are kept.
const M7_QUEUE_IDS_BY_THE_WRITER: &str = "
CREATE TABLE queue_new (
    id INTEGER PRIMARY KEY,
    seq INTEGER,
    webhook_id INTEGER,
    guid TEXT NOT NULL,
    chat_guid TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
INSERT INTO queue_new SELECT id, seq, webhook_id, guid, chat_guid, payload, created_ms,
    state, attempts, next_attempt_ms, last_error FROM queue;
INSERT INTO meta (key, value)
    SELECT 'queue_next', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'queue'), 0) + 1
    WHERE true
    ON CONFLICT (key) DO UPDATE SET value = MAX(meta.value, excluded.value);
DROP TABLE queue;
ALTER TABLE queue_new RENAME TO queue;
CREATE INDEX queue_dead ON queue (id) WHERE state = 'dead';
CREATE INDEX queue_waiting ON queue (id) WHERE webhook_id IS NULL;
CREATE INDEX queue_by_seq ON queue (seq) WHERE seq IS NOT NULL;
";

/// M8: the messages we recorded with a `tempGuid`, found again after a
/// restart (`store::sends`). Partial: inbound messages, which have none,
/// never touch it.
const M8_SENT_BY_TEMP_GUID: &str =
    "CREATE INDEX messages_by_temp_guid ON messages (temp_guid) WHERE temp_guid IS NOT NULL;";

/// Every migration, oldest first. Append; never edit a released step.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(M1_SCHEMA).comment("the schema before versioning"),
        M::up(M2_PARTICIPANTS_AND_INDEXES).comment("participants as rows; indexes"),
        M::up(M3_NO_HEAD_INDEX).comment("no deliveries_by_head"),
        M::up(M4_SENT_PARTS).comment("the later parts of a split reply"),
        M::up(M5_ONE_ROW_PER_DELIVERY).comment("one queue row per delivery"),
        M::up(M6_NO_SENDER_INDEX).comment("no messages_by_sender"),
        M::up(M7_QUEUE_IDS_BY_THE_WRITER).comment("queue ids from the writer"),
        M::up(M8_SENT_BY_TEMP_GUID).comment("sent messages by tempGuid"),
    ])
}

/// Prepared statements kept per connection (the hot path cycles ~25).
const STATEMENT_CACHE: usize = 128;

/// Page cache per connection, in KiB (SQLite's default is 2 MB): index pages
/// of a large backlog stay cached instead of being read back per group. A
/// blast fills the writer's cache to this cap (new outbox pages), so it is
/// part of the peak memory (docs/performance.md, "Memory"): 2 MB (was 4)
/// lowered the blast's peak by 1–2 MB; the 100k drain kept its rate and the
/// blast lost about 2 % in alternating runs.
pub(super) const CACHE_KIB: i64 = 2 * 1024;

/// Largest WAL kept on disk after a checkpoint, in bytes.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Settings every connection gets.
fn common(conn: &Connection) -> Result<(), ShimError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    // The savepoint journal (a copy of each page an event touches) stays
    // in memory instead of spilling to a temporary file after 64 KiB.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Prepares the write connection: incremental auto-vacuum (converting an
/// older database once), WAL, FULL sync, then the pending migrations. (The
/// journal then commits with NORMAL and syncs the WAL behind the writer.)
///
/// # Errors
/// SQLite or migration failures (a database from a newer version included).
pub(crate) fn prepare_writer(conn: &mut Connection, on_disk: bool) -> Result<(), ShimError> {
    common(conn)?;
    let auto_vacuum: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if auto_vacuum != 2 {
        // Takes effect at once on an empty database; an existing one needs a
        // VACUUM (a one-time rewrite) to switch mode.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        let has_tables: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')",
            [],
            |r| r.get(0),
        )?;
        if has_tables && on_disk {
            tracing::info!("converting the database to incremental auto-vacuum (once)");
            conn.execute_batch("VACUUM")?;
        }
    }
    if on_disk {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrations().to_latest(conn)?;
    Ok(())
}

/// Prepares a read connection.
///
/// # Errors
/// SQLite failures.
pub(crate) fn prepare_reader(conn: &Connection) -> Result<(), ShimError> {
    common(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    /// M5 keeps every delivery, dead letter and waiting message, their
    /// order, and starts new ids above every old seq.
    #[test]
    fn one_row_per_delivery_keeps_the_outbox_and_its_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        migrations().to_version(&mut conn, 4).unwrap();
        conn.execute_batch(
            "INSERT INTO webhooks (id, url, events, created_ms, source) VALUES
               (1, 'http://127.0.0.1:1/a', '[]', 0, 'config'), (2, 'http://127.0.0.1:1/b', '[]', 0, 'api');
             INSERT INTO outbox (seq, guid, chat_guid, payload, created_ms, assigned) VALUES
               (30, 'gone', 'c', '', 0, 1);
             DELETE FROM outbox WHERE seq = 30;
             INSERT INTO outbox (seq, guid, chat_guid, payload, created_ms, assigned) VALUES
               (10, 'two-hooks', 'c', '{\"kept\":1}', 5, 1),
               (11, 'dead', 'c', '', 6, 1),
               (12, 'waiting', 'd', '', 7, 0);
             INSERT INTO deliveries (id, seq, webhook_id, chat_guid, state, attempts, next_attempt_ms, last_error) VALUES
               (7, 10, 2, 'c', 'pending', 1, 99, 'HTTP 500'),
               (8, 10, 1, 'c', 'pending', 0, 0, NULL),
               (9, 11, 1, 'c', 'dead', 12, 0, 'HTTP 404');",
        )
        .unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        let rows: Vec<String> = conn
            .prepare(
                "SELECT concat_ws(' ', seq, COALESCE(webhook_id, '-'), guid, payload, state, attempts, next_attempt_ms, last_error)
                 FROM queue ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                "10 1 two-hooks {\"kept\":1} pending 0 0",
                "10 2 two-hooks {\"kept\":1} pending 1 99 HTTP 500",
                "11 1 dead  dead 12 0 HTTP 404",
                "12 - waiting  pending 0 0",
            ]
        );
        conn.execute(
            "INSERT INTO queue (guid, chat_guid, created_ms) VALUES ('new', 'c', 8)",
            [],
        )
        .unwrap();
        assert!(conn.last_insert_rowid() > 30, "above every old seq");
        let old: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('outbox', 'deliveries')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
    }

    /// M7 keeps the rows and their ids, and the writer's ids start above
    /// the old sequence (rows deleted at its top included).
    #[test]
    fn queue_ids_move_to_the_writer_above_the_old_sequence() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 6).unwrap();
        conn.execute_batch(
            "INSERT INTO queue (id, seq, webhook_id, guid, chat_guid, created_ms, state) VALUES
               (10, NULL, 1, 'a', 'c', 1, 'pending'), (12, 10, 2, 'a', 'c', 1, 'dead'),
               (40, NULL, 1, 'gone', 'c', 2, 'pending');
             DELETE FROM queue WHERE id = 40;",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let rows: Vec<String> = conn
            .prepare(
                "SELECT concat_ws(' ', id, seq, webhook_id, guid, state) FROM queue ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, ["10 1 a pending", "12 10 2 a dead"]);
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'queue'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{sql}");
        let mut ids = super::super::ids::Ids::default();
        assert_eq!(ids.take(&conn).unwrap(), 41);
    }

    /// M6 makes every stored sender a participant of the message's
    /// conversation, so the handle pruner keeps it without the index.
    #[test]
    fn senders_become_participants_before_their_index_goes() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        conn.execute_batch(
            "INSERT INTO handles (rowid, address) VALUES (1, 'ann@example.com'), (2, 'bob@example.com');
             INSERT INTO chats (guid, kind) VALUES ('c', 'group');
             INSERT INTO chat_participants (chat_guid, handle) VALUES ('c', 1);
             INSERT INTO messages (guid, chat_guid, sender_handle, text, date_ms, is_from_me) VALUES
               ('m1', 'c', 1, '', 1, 0), ('m2', 'c', 2, '', 2, 0), ('m3', 'c', 2, '', 3, 0),
               ('mine', 'c', NULL, '', 4, 1);",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let participants: Vec<i64> = conn
            .prepare("SELECT handle FROM chat_participants WHERE chat_guid = 'c' ORDER BY handle")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(participants, [1, 2]);
        let index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'messages_by_sender'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = prepare_writer(&mut conn, false).unwrap_err();
        assert!(err.to_string().contains("DatabaseTooFarAhead"), "{err}");
    }
}
