//! Sends keyed by a `tempGuid`, across restarts of the process.
//!
//! The shim remembers completed sends by `tempGuid` in memory, so a retry
//! is answered with the recorded message instead of posting again. After a
//! restart that memory is gone. This log keeps, for a day, each keyed
//! send's intent, written before its first post; the store finds the
//! messages recorded with a `tempGuid` (schema M8 indexes them). A logged
//! intent whose message is not in the store when a retry comes means the
//! process that began the send stopped (or the send failed) before its
//! result: some parts may be on Zoom already. The retry then posts the
//! intent's text, not its own (a re-run of the agent may word its reply
//! differently; the `tempGuid` names the reply first begun), and the
//! channel looks for its parts before it posts (see
//! `SendOptions::interrupted_since_ms`).
//!
//! It is a database file of its own beside the store (`<database>-sends`),
//! written on the caller's thread with `synchronous=OFF`: a commit is in
//! the operating system's hands when it returns, so it survives the
//! process, not a power cut, and costs microseconds instead of a round trip
//! through the store's writer, which is busy with inbound events.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::lock;
use super::records::{ChatRecord, MessageRecord};
use crate::ShimError;

/// Intents are kept this long after they began.
pub(super) const RETENTION_MS: i64 = 24 * 3600 * 1000;
/// The log forgets old intents once per this many new ones (and at open).
const PRUNE_EVERY: u64 = 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sends (
    temp_guid TEXT PRIMARY KEY,
    chat_guid TEXT NOT NULL,
    text TEXT NOT NULL,
    started_ms INTEGER NOT NULL
) WITHOUT ROWID;
";
const FIND: &str = "SELECT chat_guid, text, started_ms FROM sends WHERE temp_guid = ?1";
const INSERT: &str =
    "INSERT INTO sends (temp_guid, chat_guid, text, started_ms) VALUES (?1, ?2, ?3, ?4)";
const PRUNE: &str = "DELETE FROM sends WHERE started_ms < ?1";

/// A keyed send begun before: `text` to `chat_guid` at `started_ms`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Begun {
    pub(crate) chat_guid: String,
    pub(crate) text: String,
    pub(crate) started_ms: i64,
}

/// What a keyed send about to start finds of an earlier one.
#[derive(Debug)]
pub(crate) enum Earlier {
    /// Nothing: its intent is logged now.
    None,
    /// Recorded: this message, in this conversation.
    Sent(Box<(MessageRecord, ChatRecord)>),
    /// Begun and not recorded.
    Unfinished(Begun),
}

/// The log of keyed sends.
pub(super) struct SendLog {
    conn: Mutex<Connection>,
    begun: AtomicU64,
}

impl SendLog {
    /// Opens (creating if needed) the log beside the database at `db`.
    ///
    /// # Errors
    /// SQLite failures.
    pub(super) fn open(db: &Path) -> Result<Self, ShimError> {
        let conn = Connection::open(path_of(db))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::start(conn)
    }

    /// [`SendLog::open`], or, when the file cannot be used, a log in
    /// memory: replies still go out, and only a reply cut short by a crash
    /// may then be posted twice.
    ///
    /// # Errors
    /// SQLite cannot open a database in memory either.
    pub(super) fn open_or_memory(db: &Path) -> Result<Self, ShimError> {
        Self::open(db).or_else(|e| {
            tracing::warn!(
                path = %path_of(db).display(),
                error = %e,
                "cannot open the log of replies in progress; keeping it in memory (a reply cut short by a crash may be posted twice)"
            );
            Self::in_memory()
        })
    }

    /// A log in memory (tests, demo).
    ///
    /// # Errors
    /// SQLite failures.
    pub(super) fn in_memory() -> Result<Self, ShimError> {
        Self::start(Connection::open_in_memory()?)
    }

    fn start(conn: Connection) -> Result<Self, ShimError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.execute_batch(SCHEMA)?;
        let log = Self {
            conn: Mutex::new(conn),
            begun: AtomicU64::new(0),
        };
        log.prune(crate::now_ms())?;
        Ok(log)
    }

    /// The send begun before under `temp_guid`, if any; else the intent to
    /// send `text` to `chat_guid` is logged now.
    ///
    /// # Errors
    /// SQLite failures.
    pub(super) fn begin(
        &self,
        temp_guid: &str,
        chat_guid: &str,
        text: &str,
        now_ms: i64,
    ) -> Result<Option<Begun>, ShimError> {
        let conn = lock(&self.conn);
        let found = conn
            .prepare_cached(FIND)?
            .query_row([temp_guid], |r| {
                Ok(Begun {
                    chat_guid: r.get(0)?,
                    text: r.get(1)?,
                    started_ms: r.get(2)?,
                })
            })
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
        conn.prepare_cached(INSERT)?
            .execute(params![temp_guid, chat_guid, text, now_ms])?;
        drop(conn);
        if self.begun.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune(now_ms)?;
        }
        Ok(None)
    }

    /// Forgets intents begun over [`RETENTION_MS`] before `now_ms`.
    fn prune(&self, now_ms: i64) -> Result<(), ShimError> {
        lock(&self.conn)
            .prepare_cached(PRUNE)?
            .execute([now_ms.saturating_sub(RETENTION_MS)])?;
        Ok(())
    }
}

/// The log's file beside the database at `db`.
pub(super) fn path_of(db: &Path) -> PathBuf {
    super::beside(db, "-sends")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::TempDb;

    /// An intent survives reopening with the text begun first, whatever
    /// the retry says; a new key is logged.
    #[test]
    fn an_intent_is_found_again_after_reopening() {
        let dir = TempDb::new();
        let db = dir.path();
        let t = crate::now_ms();
        let log = SendLog::open(&db).unwrap();
        assert_eq!(log.begin("k1", "c", "first words", t).unwrap(), None);
        drop(log);
        let log = SendLog::open(&db).unwrap();
        let begun = Begun {
            chat_guid: "c".into(),
            text: "first words".into(),
            started_ms: t,
        };
        assert_eq!(
            log.begin("k1", "c", "reworded", t + 1).unwrap(),
            Some(begun)
        );
        assert_eq!(log.begin("k2", "c", "other", t + 2).unwrap(), None);
        assert!(path_of(&db).exists());
    }

    /// A log file that cannot be opened does not keep the store from
    /// opening: the log lives in memory then.
    #[test]
    fn an_unusable_log_file_falls_back_to_memory() {
        let dir = TempDb::new();
        let db = dir.path();
        std::fs::create_dir(path_of(&db)).unwrap();
        assert!(SendLog::open(&db).is_err());
        let log = SendLog::open_or_memory(&db).unwrap();
        assert_eq!(log.begin("k", "c", "x", crate::now_ms()).unwrap(), None);
        assert!(log.begin("k", "c", "x", crate::now_ms()).unwrap().is_some());
        let store = crate::Store::open(&db).unwrap();
        drop(store);
    }

    /// Intents older than a day are forgotten (at open), newer ones kept.
    #[test]
    fn old_intents_are_forgotten() {
        let dir = TempDb::new();
        let db = dir.path();
        let now = crate::now_ms();
        let log = SendLog::open(&db).unwrap();
        log.begin("old", "c", "x", now - RETENTION_MS - 1).unwrap();
        log.begin("new", "c", "y", now - 1000).unwrap();
        drop(log);
        let log = SendLog::open(&db).unwrap();
        assert_eq!(log.begin("old", "c", "x", now).unwrap(), None);
        assert!(log.begin("new", "c", "y", now).unwrap().is_some());
    }
}
