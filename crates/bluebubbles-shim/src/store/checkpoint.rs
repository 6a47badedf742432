//! WAL checkpoints off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its
//! threshold, on the writer thread: under a blast that was about a sixth of
//! the writer's time (copying WAL pages into the database file and syncing
//! it), time in which no group commits. Here the writer only counts the WAL's
//! frames after each commit (a `wal_hook`) and nudges a thread of its own
//! that runs `PRAGMA wal_checkpoint(PASSIVE)` on a second connection: passive
//! checkpoints never block the writer or readers, and a commit's durability
//! is unchanged (a checkpoint syncs the WAL before it copies).
//!
//! The WAL only starts over when a write transaction begins with every frame
//! copied, which a thread racing the writer's next group rarely achieves. So
//! each cycle goes: the WAL passes [`NUDGE_FRAMES`]; the thread copies it
//! (passes until little is left) and syncs the database file; the writer,
//! after its next commit, copies the few frames written meanwhile (a short
//! checkpoint between groups); the group after that starts the WAL over.
//! One nudge per cycle: nudging after every commit kept the thread running
//! back to back at 1,000 events/s, hundreds of small checkpoints a second,
//! each with two fsyncs that the commits' own fsyncs queued behind.
//! [`INLINE_FRAMES`] still bounds the WAL if the thread falls behind.

use std::cell::Cell;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use crate::ShimError;

/// WAL frames (pages) after which the checkpoint thread is nudged (SQLite's
/// own `wal_autocheckpoint` default is 1,000), about 64 MiB at 4 KiB pages.
/// A page written again before the checkpoint (an index page hit by many
/// events, the outbox's pages that rows enter and leave) is copied once. Each
/// cycle costs the commits beside it a few milliseconds (the thread's
/// database sync, then the writer's own short checkpoint), so fewer, longer
/// cycles mean fewer slow events: at 1,000 events/s p99 fell from about 6 to
/// about 4 ms against 4,000 frames (docs/performance.md, round 10).
const NUDGE_FRAMES: i32 = 16_000;
/// WAL frames after which the writer checkpoints itself even though the
/// thread has not finished (about 128 MiB at 4 KiB pages).
const INLINE_FRAMES: i32 = 32_000;
/// The thread copies again while a pass found more than this many frames
/// to copy (those the writer added during the previous pass), at most
/// [`MAX_PASSES`] times, so the writer's own checkpoint stays short.
const SMALL_REST: i64 = 64;
const MAX_PASSES: usize = 4;

const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

thread_local! {
    /// Frames in the WAL after the writer's last commit (writer thread).
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn note_frames(_: &Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

/// The checkpoint thread; dropping it stops the thread and waits for it.
pub(crate) struct Checkpointer {
    nudge_frames: i32,
    inline_frames: i32,
    nudge: Option<mpsc::SyncSender<()>>,
    /// Nudged in this cycle (writer thread).
    nudged: Cell<bool>,
    /// The thread finished the cycle's copy: the writer's turn.
    copied: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    runs: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Takes the checkpoints of `writer`'s database (in WAL mode) over:
    /// turns its automatic checkpoint off and starts the thread on `conn`,
    /// a second connection to the same file.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub(crate) fn start(writer: &Connection, conn: Connection) -> Result<Self, ShimError> {
        Self::with_limits(writer, conn, NUDGE_FRAMES, INLINE_FRAMES)
    }

    fn with_limits(
        writer: &Connection,
        conn: Connection,
        nudge_frames: i32,
        inline_frames: i32,
    ) -> Result<Self, ShimError> {
        // Replaces SQLite's automatic checkpoint (itself a WAL hook).
        writer.wal_hook(Some(note_frames));
        let (nudge, rx) = mpsc::sync_channel::<()>(1);
        let runs = Arc::new(AtomicU64::new(0));
        let copied = Arc::new(AtomicBool::new(false));
        let (counted, done) = (Arc::clone(&runs), Arc::clone(&copied));
        // Syncing any descriptor of the file syncs the file. SQLite syncs it
        // only when a checkpoint reaches the WAL's end, which under load it
        // rarely does before the writer appends again.
        let file = conn.path().and_then(|path| File::open(path).ok());
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    copy(&conn, file.as_ref());
                    counted.fetch_add(1, Ordering::Relaxed);
                    done.store(true, Ordering::Release);
                }
            })
            .map_err(|e| ShimError::Task(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            nudge_frames,
            inline_frames,
            nudge: Some(nudge),
            nudged: Cell::new(false),
            copied,
            thread: Some(thread),
            runs,
        })
    }

    /// After each commit, on the writer thread: nudges the thread once the
    /// WAL is long, and checkpoints itself once the thread has copied it (or
    /// the WAL is too long), so the next group starts the WAL over.
    pub(crate) fn after_commit(&self, writer: &Connection) {
        let frames = WAL_FRAMES.with(Cell::get);
        if frames >= self.inline_frames || self.copied.swap(false, Ordering::Acquire) {
            checkpoint(writer, "inline");
            // Until the next commit reports the WAL again. A reader on an old
            // snapshot can keep the WAL from starting over: then that commit
            // nudges again.
            WAL_FRAMES.with(|f| f.set(0));
            self.nudged.set(false);
        } else if frames >= self.nudge_frames && !self.nudged.get() {
            if let Some(nudge) = &self.nudge {
                // Full: the thread holds a nudge and will copy these frames.
                let _ = nudge.try_send(());
                self.nudged.set(true);
            }
        }
    }
}

/// The thread's part of a cycle: passes until the rest is small, then the
/// database file synced.
fn copy(conn: &Connection, file: Option<&File>) {
    let mut copied = 0;
    for _ in 0..MAX_PASSES {
        match checkpoint(conn, "background") {
            Some(done) if done - copied > SMALL_REST => copied = done,
            _ => break,
        }
    }
    if let Some(file) = file {
        if let Err(e) = file.sync_data() {
            tracing::debug!(error = %e, "syncing the database after a checkpoint failed; the next checkpoint syncs");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("runs", &self.runs.load(Ordering::Relaxed))
            .finish()
    }
}

/// One passive checkpoint: the frames copied so far in this WAL, or `None`
/// when it failed (busy, I/O); a failure is left to the next one.
fn checkpoint(conn: &Connection, how: &str) -> Option<i64> {
    match conn.query_row(CHECKPOINT, [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    }) {
        Ok((busy, log, done)) => {
            tracing::trace!(how, busy, log, done, "WAL checkpoint");
            Some(done)
        }
        Err(e) => {
            tracing::debug!(how, error = %e, "WAL checkpoint failed; the next one retries");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::TempDb;

    fn wal_mode(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn
    }

    /// A WAL-mode database in a folder of its own, with a table `t`.
    struct Scratch {
        // Closed before the folder goes.
        writer: Connection,
        tmp: TempDb,
    }

    impl Scratch {
        fn new() -> Self {
            let tmp = TempDb::new();
            let writer = wal_mode(&tmp.path());
            writer
                .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
                .unwrap();
            Self { writer, tmp }
        }

        fn checkpointer(&self, nudge: i32, inline: i32) -> Checkpointer {
            let conn = wal_mode(&self.tmp.path());
            Checkpointer::with_limits(&self.writer, conn, nudge, inline).unwrap()
        }

        /// Commits group `n`: four rows of about one page each.
        fn commit_group(&self, n: i64) {
            let body = "x".repeat(3000);
            self.writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            for i in 0..4 {
                self.writer
                    .execute(
                        "INSERT INTO t (id, body) VALUES (?1, ?2)",
                        rusqlite::params![n * 4 + i, body],
                    )
                    .unwrap();
            }
            self.writer.execute_batch("COMMIT").unwrap();
        }

        fn wal_len(&self) -> u64 {
            std::fs::metadata(crate::store::wal_sync::wal_of(&self.tmp.path()))
                .unwrap()
                .len()
        }

        fn rows(&self) -> i64 {
            self.writer
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap()
        }
    }

    /// The thread copies the WAL into the database while the writer goes on;
    /// the writer restarts the WAL once it passes the inline bound, so the
    /// WAL file stays bounded, and every row is there.
    #[test]
    fn checkpoints_run_beside_the_writer_and_bound_the_wal() {
        let db = Scratch::new();
        let checkpointer = db.checkpointer(20, 200);
        let mut largest_wal = 0;
        for group in 0..300 {
            db.commit_group(group);
            checkpointer.after_commit(&db.writer);
            largest_wal = largest_wal.max(db.wal_len());
        }
        // Without checkpoints the WAL would hold every page (about 1,200
        // frames); it never holds much more than the inline bound plus one
        // group.
        assert!(
            largest_wal < 260 * 4120,
            "the WAL grew to {largest_wal} bytes"
        );
        // Stopping the thread lets it finish the nudge it holds.
        let runs = Arc::clone(&checkpointer.runs);
        drop(checkpointer);
        assert!(
            runs.load(Ordering::Relaxed) > 0,
            "no background checkpoint ran"
        );
        assert_eq!(db.rows(), 1200);
    }

    /// One nudge per cycle: once the thread has copied the WAL, the writer's
    /// short checkpoint lets the next group start the WAL over, long before
    /// the inline bound.
    #[test]
    fn the_wal_starts_over_after_each_copy_without_the_inline_bound() {
        let db = Scratch::new();
        let checkpointer = db.checkpointer(20, 100_000);
        let (mut largest, mut restarts, mut last) = (0, 0, 0);
        for group in 0..120 {
            db.commit_group(group);
            let frames = WAL_FRAMES.with(Cell::get);
            largest = largest.max(frames);
            if frames < last {
                restarts += 1;
            }
            last = frames;
            checkpointer.after_commit(&db.writer);
            // Let a nudged thread finish its copy before the next group
            // (bounded: 10 s).
            for _ in 0..10_000 {
                if !checkpointer.nudged.get() || checkpointer.copied.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        // 480 rows of one page each: without restarts the WAL would pass
        // 480 frames.
        assert!(largest < 40, "the WAL grew to {largest} frames");
        assert!(restarts >= 10, "the WAL started over {restarts} times");
        let runs = checkpointer.runs.load(Ordering::Relaxed);
        assert!(
            runs <= restarts + 1,
            "{runs} background runs for {restarts} cycles"
        );
        drop(checkpointer);
        assert_eq!(db.rows(), 480);
    }
}
