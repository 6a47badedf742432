//! The journal: one writer thread owns the write connection and commits
//! jobs in groups.
//!
//! The loop blocks for one job, takes whatever else is queued (up to
//! [`MAX_BATCH`]), opens `BEGIN IMMEDIATE`, runs each job inside its own
//! `SAVEPOINT` (a failing or panicking job is rolled back alone), commits
//! once — at most one WAL sync for the whole group — and only then tells
//! each job's caller its result. If the COMMIT fails, every job of the
//! group gets an error, so nothing is acknowledged that is not on disk.
//!
//! When the storage fails (disk full, I/O error: a failed COMMIT or a job
//! that hit `SQLITE_FULL`), the writer records the trouble (shown in
//! `/status` as `outbox.storeError`), logs it once, and waits before the
//! next group, doubling from [`TROUBLE_FIRST`] to [`TROUBLE_MAX`], so a full
//! disk costs no CPU; the first clean group clears it.
//!
//! On disk the writer commits with `synchronous=NORMAL` (the WAL frames are
//! written, not synced) and [`WalSync`] makes them durable behind it: the
//! callers of durable jobs (inbound messages, admin changes) hear back
//! after the sync thread's next sync of the WAL, while the writer already
//! runs the next group. Other jobs (attempt results, our own sent messages)
//! hear back at once unless an earlier group still waits for its sync:
//! callers always hear back in commit order. Such a commit may be lost to a
//! power cut (never to a process crash), which only means a redelivery,
//! and the next sync makes it durable too. Nobody waits on attempt results,
//! so a group of them alone first waits briefly for other jobs to share its
//! commit.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::checkpoint::Checkpointer;
use super::wal_sync::WalSync;
use crate::ShimError;

/// Most jobs committed together.
pub(crate) const MAX_BATCH: usize = 1024;

/// How a job's commit must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// On disk (the WAL synced) before the caller hears back.
    Full,
    /// Committed: survives a crash of the process, may roll back after a
    /// power cut until the next sync.
    Normal,
    /// `Normal`, and no caller waits on the commit (delivery results): a
    /// group of these alone waits up to [`LAZY_WAIT`] for company.
    Lazy,
}

/// How long a group of [`Durability::Lazy`] jobs alone waits for another job
/// before it commits. At a trickle of events each delivery's result would
/// otherwise commit on its own, writing the queue and counter pages to the
/// WAL a second time per event: at 1,000 events/s half of the commits and a
/// tenth of the WAL's frames.
const LAZY_WAIT: Duration = Duration::from_millis(2);

/// What the writer thread does between groups and on its own schedule.
pub(crate) trait Writer: Send + 'static {
    /// Called before each group's COMMIT (e.g. to bump counters once).
    ///
    /// # Errors
    /// An error fails the whole group.
    fn before_commit(&mut self, conn: &Connection) -> Result<(), ShimError>;
    /// Called after a group failed as a whole (BEGIN or COMMIT failed):
    /// in-memory state may need reloading.
    fn after_rollback(&mut self, conn: &Connection);
    /// Called when the queue has been idle for `IDLE_TICK`, and at most that
    /// often under load (pruning, vacuum). Runs outside any transaction.
    fn maintain(&mut self, conn: &Connection);
}

/// Idle time after which the writer runs [`Writer::maintain`].
const IDLE_TICK: Duration = Duration::from_millis(500);
/// First wait after a group that met a storage failure.
pub(crate) const TROUBLE_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between groups while the storage keeps failing.
pub(crate) const TROUBLE_MAX: Duration = Duration::from_secs(2);

thread_local! {
    /// A storage failure met by a job of the current group (writer thread).
    static TROUBLE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes a storage failure met inside a job (see [`ShimError::is_transient`]).
pub(super) fn note_trouble<T>(result: &Result<T, ShimError>) {
    if let Err(e) = result {
        if e.is_transient() {
            // The first failure of the group is the cause; keep it.
            TROUBLE.with(|t| {
                t.borrow_mut().get_or_insert_with(|| e.to_string());
            });
        }
    }
}

/// A unit of work: runs in a savepoint, then hears whether it committed.
trait Job<W>: Send {
    fn durability(&self) -> Durability;
    fn run(&mut self, conn: &Connection, state: &mut W);
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct Call<T, F, D> {
    durability: Durability,
    /// Whether the job runs in its own savepoint (false: it isolates its
    /// parts itself).
    savepoint: bool,
    work: Option<F>,
    result: Option<Result<T, ShimError>>,
    done: D,
}

impl<W, T, F, D> Job<W> for Call<T, F, D>
where
    T: Send,
    F: FnOnce(&Connection, &mut W) -> Result<T, ShimError> + Send,
    D: FnOnce(Result<T, ShimError>) + Send,
{
    fn durability(&self) -> Durability {
        self.durability
    }

    fn run(&mut self, conn: &Connection, state: &mut W) {
        let Some(work) = self.work.take() else {
            return;
        };
        let result = if self.savepoint {
            isolated(conn, |conn| work(conn, state))
        } else {
            unwound(|| work(conn, state))
        };
        note_trouble(&result);
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(ShimError::Task("store job did not run".into())),
            // The group failed as a whole: the storage's doing, never the job's.
            (Err(e), _) => Err(ShimError::Unavailable(format!("commit failed: {e}"))),
        };
        (self.done)(result);
    }
}

/// Runs `f` in its own savepoint: an error or a panic rolls back what `f`
/// wrote and nothing else. Savepoints nest, so a job may isolate its parts.
pub(super) fn isolated<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, ShimError>,
) -> Result<T, ShimError> {
    if conn.is_autocommit() {
        // SQLite rolled the group's transaction back (it does on
        // SQLITE_FULL and some I/O errors): a savepoint now would start a
        // transaction of its own and commit this part alone.
        return Err(ShimError::Unavailable(
            "the group's transaction was rolled back by a storage failure".into(),
        ));
    }
    // Cached: a savepoint is taken per event.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(drop);
    run("SAVEPOINT job")?;
    let result = unwound(|| f(conn));
    note_trouble(&result);
    if result.is_err() {
        run("ROLLBACK TO job")?;
    }
    run("RELEASE job")?;
    result
}

/// Runs `f`, turning a panic into an error.
fn unwound<T>(f: impl FnOnce() -> Result<T, ShimError>) -> Result<T, ShimError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ShimError::Task("a store job panicked".into())))
}

type BoxedJob<W> = Box<dyn Job<W>>;

/// The sending side of the journal. Dropping it lets the writer finish the
/// queued jobs and waits for it.
pub(crate) struct Journal<W> {
    tx: Option<mpsc::Sender<BoxedJob<W>>>,
    thread: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
    trouble: Arc<Mutex<Option<String>>>,
    /// A failing sync of the WAL ([`WalSync`]).
    sync_trouble: Arc<Mutex<Option<String>>>,
}

impl<W> std::fmt::Debug for Journal<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

impl<W: Writer> Journal<W> {
    /// Starts the writer thread on `conn` (already configured and migrated),
    /// with `checkpoints` taking the WAL checkpoints off its path (a second
    /// connection to the same file; `None` for an in-memory database).
    ///
    /// # Errors
    /// A thread cannot be spawned.
    pub(crate) fn start(
        conn: Connection,
        state: W,
        checkpoints: Option<Connection>,
    ) -> Result<Self, ShimError> {
        let sync_trouble = Arc::new(Mutex::new(None));
        let wal_sync = match conn.path().filter(|_| checkpoints.is_some()) {
            Some(path) => {
                let wal_sync = WalSync::start(Path::new(path), Arc::clone(&sync_trouble))?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                Some(wal_sync)
            }
            None => None,
        };
        let checkpointer = checkpoints
            .map(|c| Checkpointer::start(&conn, c))
            .transpose()?;
        let (tx, rx) = mpsc::channel::<BoxedJob<W>>();
        let commits = Arc::new(AtomicU64::new(0));
        let trouble = Arc::new(Mutex::new(None));
        let shared = Shared {
            commits: Arc::clone(&commits),
            trouble: Arc::clone(&trouble),
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let end = Ends {
                    checkpointer: checkpointer.as_ref(),
                    wal_sync: wal_sync.as_ref(),
                };
                write_loop(&conn, state, &rx, &shared, &end);
                // The last syncs before the connection closes: closing the
                // last one checkpoints the WAL and deletes it.
                drop(wal_sync);
                drop(checkpointer);
                drop(conn);
            })
            .map_err(|e| ShimError::Task(format!("cannot start the store writer: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            commits,
            trouble,
            sync_trouble,
        })
    }

    /// The storage failure the writer is waiting out, if any (e.g. "database
    /// or disk is full", or a failing WAL sync); cleared by the first clean
    /// group or sync.
    pub(crate) fn trouble(&self) -> Option<String> {
        let read = |t: &Mutex<Option<String>>| {
            t.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        read(&self.trouble).or_else(|| read(&self.sync_trouble))
    }

    /// Groups committed so far.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `work`; `done` hears its result after the group commits (or
    /// fails). Never blocks.
    pub(crate) fn submit<T, F, D>(&self, durability: Durability, work: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut W) -> Result<T, ShimError> + Send + 'static,
        D: FnOnce(Result<T, ShimError>) + Send + 'static,
    {
        self.enqueue(durability, true, work, done);
    }

    /// Like [`Journal::submit`] for work that puts each of its parts in its
    /// own savepoint with [`isolated`] and writes nothing outside them, or
    /// whose every statement leaves a consistent state on its own (SQLite
    /// undoes a failed statement): no savepoint around the whole job.
    /// Savepoints nest, and pages touched under an outer savepoint are
    /// copied to its journal for as long as it is open; without one, the
    /// sub-journal starts over after each part.
    pub(crate) fn submit_parts<T, F, D>(&self, durability: Durability, work: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut W) -> Result<T, ShimError> + Send + 'static,
        D: FnOnce(Result<T, ShimError>) + Send + 'static,
    {
        self.enqueue(durability, false, work, done);
    }

    fn enqueue<T, F, D>(&self, durability: Durability, savepoint: bool, work: F, done: D)
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut W) -> Result<T, ShimError> + Send + 'static,
        D: FnOnce(Result<T, ShimError>) + Send + 'static,
    {
        let job: BoxedJob<W> = Box::new(Call {
            durability,
            savepoint,
            work: Some(work),
            result: None,
            done,
        });
        if let Some(tx) = &self.tx {
            if let Err(mpsc::SendError(job)) = tx.send(job) {
                job.finish(Err("the store writer stopped".into()));
            }
        }
    }

    /// Runs `work` and waits (blocking the thread) for its commit.
    ///
    /// # Errors
    /// The job's own error, or a commit failure.
    pub(crate) fn call<T, F>(&self, durability: Durability, work: F) -> Result<T, ShimError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut W) -> Result<T, ShimError> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(durability, work, move |r| {
            let _ = tx.send(r);
        });
        rx.recv()
            .map_err(|_| ShimError::Task("the store writer stopped".into()))?
    }
}

impl<W> Drop for Journal<W> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// What the writer thread publishes.
struct Shared {
    commits: Arc<AtomicU64>,
    trouble: Arc<Mutex<Option<String>>>,
}

/// What a commit hands on to, on disk: the checkpoints and the WAL syncs.
struct Ends<'a> {
    checkpointer: Option<&'a Checkpointer>,
    wal_sync: Option<&'a WalSync>,
}

fn write_loop<W: Writer>(
    conn: &Connection,
    mut state: W,
    rx: &mpsc::Receiver<BoxedJob<W>>,
    shared: &Shared,
    end: &Ends<'_>,
) {
    let mut last_maintenance = std::time::Instant::now();
    let mut wait = TROUBLE_FIRST;
    loop {
        let first = match rx.recv_timeout(IDLE_TICK) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                state.maintain(conn);
                last_maintenance = std::time::Instant::now();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        take_queued(rx, &mut batch);
        if batch.iter().all(|j| j.durability() == Durability::Lazy) {
            if let Ok(job) = rx.recv_timeout(LAZY_WAIT) {
                batch.push(job);
                take_queued(rx, &mut batch);
            }
        }
        TROUBLE.with(|t| t.borrow_mut().take());
        let failed = commit_group(conn, &mut state, batch, rx, end.wal_sync, &shared.commits);
        let trouble = failed.or_else(|| TROUBLE.with(|t| t.borrow_mut().take()));
        let mut published = shared
            .trouble
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match trouble {
            Some(error) => {
                if published.is_none() {
                    tracing::error!(%error, "the store cannot write (disk full or I/O error); nothing unwritten is acknowledged, inbound messages wait and are retried; retrying with backoff");
                }
                // Keep the first cause (later groups may only report that
                // they wait for it).
                published.get_or_insert(error);
                drop(published);
                // Wait it out: a full disk must not cost CPU.
                std::thread::sleep(wait);
                wait = (wait * 2).min(TROUBLE_MAX);
                continue;
            }
            None => {
                if published.take().is_some() {
                    tracing::warn!("the store writes again");
                }
                wait = TROUBLE_FIRST;
            }
        }
        drop(published);
        if let Some(checkpointer) = end.checkpointer {
            checkpointer.after_commit(conn);
        }
        if last_maintenance.elapsed() >= IDLE_TICK {
            state.maintain(conn);
            last_maintenance = std::time::Instant::now();
        }
    }
    state.maintain(conn);
}

/// Adds the jobs already queued to `batch`, up to [`MAX_BATCH`].
fn take_queued<W>(rx: &mpsc::Receiver<BoxedJob<W>>, batch: &mut Vec<BoxedJob<W>>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Commits one group; the error text when the group failed as a whole.
/// Its callers hear back through `wal_sync` (on disk) or at once. A group
/// that needs a sync while an earlier group's sync is in flight waits for
/// that sync before its COMMIT, then takes in the jobs that came meanwhile.
fn commit_group<W: Writer>(
    conn: &Connection,
    state: &mut W,
    mut batch: Vec<BoxedJob<W>>,
    rx: &mpsc::Receiver<BoxedJob<W>>,
    wal_sync: Option<&WalSync>,
    commits: &AtomicU64,
) -> Option<String> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        state.after_rollback(conn);
        return Some(fail(batch, &e.to_string()));
    }
    let durable = |batch: &[BoxedJob<W>]| batch.iter().any(|j| j.durability() == Durability::Full);
    run_jobs(conn, state, &mut batch);
    if let Some(wal_sync) = wal_sync.filter(|w| durable(&batch) && w.syncing()) {
        wal_sync.wait_synced();
        let ran = batch.len();
        take_queued(rx, &mut batch);
        run_jobs(conn, state, &mut batch[ran..]);
    }
    let committed = if conn.is_autocommit() {
        // Rolled back by SQLite under a job (SQLITE_FULL, I/O error).
        Err(ShimError::Unavailable(TROUBLE.with(|t| {
            t.borrow()
                .clone()
                .unwrap_or_else(|| "the transaction was rolled back by a storage failure".into())
        })))
    } else {
        state
            .before_commit(conn)
            .and_then(|()| Ok(conn.execute_batch("COMMIT")?))
    };
    match committed {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            let durable = durable(&batch);
            let finish = move || {
                for job in batch {
                    job.finish(Ok(()));
                }
            };
            match wal_sync {
                Some(wal_sync) => wal_sync.finish(durable, Box::new(finish)),
                None => finish(),
            }
            None
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            state.after_rollback(conn);
            tracing::debug!(error = %e, jobs = batch.len(), "store commit failed; nothing in the group is acknowledged");
            Some(fail(batch, &e.to_string()))
        }
    }
}

/// Runs each job of a group, unless SQLite rolled the group back.
fn run_jobs<W>(conn: &Connection, state: &mut W, jobs: &mut [BoxedJob<W>]) {
    for job in jobs {
        if conn.is_autocommit() {
            break;
        }
        job.run(conn, state);
    }
}

fn fail<W>(batch: Vec<BoxedJob<W>>, error: &str) -> String {
    for job in batch {
        job.finish(Err(error.to_owned()));
    }
    error.to_owned()
}
