//! Queue row ids, handed out by the writer from blocks reserved in `meta`.
//!
//! With `AUTOINCREMENT`, every INSERT into `queue` also rewrote the
//! `sqlite_sequence` page: one WAL frame per commit. A plain row id would
//! reuse the id of a deleted last row, yet ids must never come back: a
//! delivery in flight, a dead letter's id in the CLI, and the lanes' order
//! all name rows by id. So the writer takes ids from a block it reserves
//! by raising `meta.queue_next` by [`BLOCK`], written with the group that
//! first uses the block (one write per [`BLOCK`] rows). A block starts
//! above every id and `seq` in the table too, so a store written by an
//! older version, or a lost reservation, cannot lead to reuse. Another
//! process reserving at the same time cannot overlap: both reserve inside
//! write transactions, which SQLite runs one at a time.

use rusqlite::Connection;

use super::queue;
use crate::ShimError;

/// Ids reserved at a time.
pub(super) const BLOCK: i64 = 1024;

/// The next id no block has used: above the reservation mark and above
/// every id and `seq` in the table (a keyed probe each).
pub(super) const FLOOR: &str = "SELECT MAX(
     COALESCE((SELECT value FROM meta WHERE key = 'queue_next'), 1),
     COALESCE((SELECT MAX(id) FROM queue), 0) + 1,
     COALESCE((SELECT MAX(seq) FROM queue WHERE seq IS NOT NULL), 0) + 1)";

/// The writer's current block (empty at start and after a failed group).
#[derive(Debug, Default)]
pub(super) struct Ids {
    next: i64,
    end: i64,
    /// The end last written to `meta` in this block's life.
    written: i64,
}

impl Ids {
    /// The next id, reserving a block when the current one is used up.
    pub(super) fn take(&mut self, conn: &Connection) -> Result<i64, ShimError> {
        if self.next >= self.end {
            let floor: i64 = conn.prepare_cached(FLOOR)?.query_row([], |r| r.get(0))?;
            self.next = floor.max(self.end);
            self.end = self.next.saturating_add(BLOCK);
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }

    /// Writes the reservation with the group that uses it (before COMMIT).
    pub(super) fn write(&mut self, conn: &Connection) -> Result<(), ShimError> {
        if self.end > self.written {
            queue::set_meta(conn, "queue_next", self.end)?;
            self.written = self.end;
        }
        Ok(())
    }

    /// Forgets the block (its reservation may have been rolled back).
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::prepare_writer(&mut conn, false).unwrap();
        conn
    }

    fn insert(conn: &Connection, id: i64) {
        conn.execute(
            "INSERT INTO queue (id, guid, chat_guid, created_ms) VALUES (?1, 'g', 'c', 0)",
            [id],
        )
        .unwrap();
    }

    /// A block is reserved once and written once; ids never come back,
    /// neither after the last row is deleted nor for the next writer.
    #[test]
    fn ids_are_reserved_in_blocks_and_never_reused() {
        let conn = db();
        let mut ids = Ids::default();
        let first = ids.take(&conn).unwrap();
        insert(&conn, first);
        let second = ids.take(&conn).unwrap();
        assert_eq!(second, first + 1);
        ids.write(&conn).unwrap();
        let mark = || queue::get_meta::<i64>(&conn, "queue_next").unwrap();
        assert_eq!(mark(), Some(first + BLOCK));
        conn.execute("DELETE FROM queue", []).unwrap();
        // The next writer (a restart, another process) starts past the block.
        let mut next = Ids::default();
        assert_eq!(next.take(&conn).unwrap(), first + BLOCK);
        // The block runs out: the next one starts where the mark stands.
        for _ in 2..BLOCK {
            ids.take(&conn).unwrap();
        }
        next.write(&conn).unwrap();
        assert_eq!(ids.take(&conn).unwrap(), first + 2 * BLOCK);
        // Only a new block is written.
        ids.write(&conn).unwrap();
        assert_eq!(mark(), Some(first + 3 * BLOCK));
    }

    /// A lost reservation (its group rolled back) or a mark behind the
    /// table still yields ids above every row's id and seq.
    #[test]
    fn a_block_starts_above_every_row() {
        let conn = db();
        insert(&conn, 500);
        conn.execute(
            "INSERT INTO queue (id, seq, guid, chat_guid, created_ms) VALUES (7, 900, 'g', 'c', 0)",
            [],
        )
        .unwrap();
        let mut ids = Ids::default();
        assert_eq!(ids.take(&conn).unwrap(), 901);
        ids.reset();
        conn.execute("DELETE FROM queue WHERE id = 7", []).unwrap();
        assert_eq!(ids.take(&conn).unwrap(), 501);
    }
}
