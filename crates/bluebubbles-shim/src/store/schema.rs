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

/// Every migration, oldest first. Append; never edit a released step.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(M1_SCHEMA).comment("the schema before versioning"),
        M::up(M2_PARTICIPANTS_AND_INDEXES).comment("participants as rows; indexes"),
        M::up(M3_NO_HEAD_INDEX).comment("no deliveries_by_head"),
        M::up(M4_SENT_PARTS).comment("the later parts of a split reply"),
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
/// older database once), WAL, FULL sync, then the pending migrations.
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

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = prepare_writer(&mut conn, false).unwrap_err();
        assert!(err.to_string().contains("DatabaseTooFarAhead"), "{err}");
    }
}
