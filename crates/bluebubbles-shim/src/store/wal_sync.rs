//! Durability behind the writer: the WAL is synced by a thread of its own.
//!
//! With `synchronous=FULL` SQLite syncs the WAL inside every COMMIT, so the
//! writer thread sat idle for the length of each fsync while events queued.
//! Instead the writer commits with `NORMAL` (WAL frames written, not synced)
//! and hands the group's durable jobs to this thread, which syncs the WAL
//! file (any descriptor of a file syncs the file) and only then lets their
//! callers hear back. While one sync runs the writer runs the next group's
//! jobs, and commits them once the sync is done; their callers wait for the
//! next sync. Nothing is acknowledged before it is on disk,
//! as before; reads on other connections may see a commit a sync early.
//!
//! A failed sync is retried (doubling from [`TROUBLE_FIRST`] to
//! [`TROUBLE_MAX`]) with the jobs still waiting and the failure shown as the
//! store's trouble; nothing is acknowledged until a sync succeeds. Once the
//! store stops, a sync that still fails is not retried: the jobs waiting on
//! it are dropped unacknowledged (their callers hear that the store
//! stopped), so a stop never waits on a disk that stays broken.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;

use super::journal::{TROUBLE_FIRST, TROUBLE_MAX};
use super::lock;
use crate::ShimError;

/// What runs once a group's commit is settled.
pub(super) type Then = Box<dyn FnOnce() + Send>;

/// A group's finish handed to the thread: after a sync, or only in turn.
struct Queued {
    sync: bool,
    then: Then,
}

/// Counts shared by the writer and the thread.
#[derive(Default)]
struct Counts {
    /// Set when the store stops: a failing sync is given up.
    stopping: AtomicBool,
    /// Groups handed to the thread and not yet finished.
    held: AtomicUsize,
    /// Groups handed over for a sync that has not completed yet.
    unsynced: Mutex<usize>,
    synced: Condvar,
}

/// The sync thread; dropping it lets it finish what it holds and waits.
pub(super) struct WalSync {
    tx: Option<mpsc::Sender<Queued>>,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

impl WalSync {
    /// Starts the thread for the database at `db` (its WAL is `<db>-wal`);
    /// a failed sync is published in `trouble` until one succeeds.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub(super) fn start(db: &Path, trouble: Arc<Mutex<Option<String>>>) -> Result<Self, ShimError> {
        let wal = wal_of(db);
        let (tx, rx) = mpsc::channel::<Queued>();
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        let thread = std::thread::Builder::new()
            .name("store-sync".into())
            .spawn(move || sync_loop(&wal, &rx, &trouble, &shared))
            .map_err(|e| ShimError::Task(format!("cannot start the WAL sync thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            counts,
            thread: Some(thread),
        })
    }

    /// Whether a sync is due or running for a group handed over earlier.
    pub(super) fn syncing(&self) -> bool {
        *lock(&self.counts.unsynced) > 0
    }

    /// Blocks until every group handed over for a sync is synced. The
    /// writer waits here before it commits a group that needs a sync, so
    /// it commits at most one such group per sync: committing more often
    /// wrote the pages that consecutive groups share to the WAL again each
    /// time (at 5,000 events/s, p99 116 against 31 ms).
    pub(super) fn wait_synced(&self) {
        let mut unsynced = lock(&self.counts.unsynced);
        while *unsynced > 0 {
            unsynced = self
                .counts
                .synced
                .wait(unsynced)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Runs `then` once the commits made so far are on disk (`sync`: after a
    /// sync that starts after this call), or else once every group handed
    /// over before it has finished: the callers hear back in commit order.
    /// Runs it at once when it needs no sync and nothing is held.
    pub(super) fn finish(&self, sync: bool, then: Then) {
        let counts = &self.counts;
        if !sync && counts.held.load(Ordering::Acquire) == 0 {
            then();
            return;
        }
        let Some(tx) = &self.tx else {
            return then();
        };
        counts.held.fetch_add(1, Ordering::AcqRel);
        if sync {
            *lock(&counts.unsynced) += 1;
        }
        if let Err(mpsc::SendError(queued)) = tx.send(Queued { sync, then }) {
            // The thread is gone (it never stops while `tx` lives).
            if sync {
                *lock(&counts.unsynced) -= 1;
            }
            counts.held.fetch_sub(1, Ordering::AcqRel);
            (queued.then)();
        }
    }
}

impl Drop for WalSync {
    fn drop(&mut self) {
        self.counts.stopping.store(true, Ordering::Release);
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The WAL file of the database at `db`.
pub(super) fn wal_of(db: &Path) -> PathBuf {
    super::beside(db, "-wal")
}

fn sync_loop(
    wal: &Path,
    rx: &mpsc::Receiver<Queued>,
    trouble: &Mutex<Option<String>>,
    counts: &Counts,
) {
    let mut dir_synced = false;
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let syncs = waiting.iter().filter(|q| q.sync).count();
        let synced = syncs == 0 || wait_for_sync(wal, &mut dir_synced, trouble, &counts.stopping);
        if syncs > 0 {
            *lock(&counts.unsynced) -= syncs;
            counts.synced.notify_all();
        }
        let n = waiting.len();
        if !synced {
            // Stopping with a sync that fails: nothing more is acknowledged.
            tracing::error!(
                groups = n,
                "the store stopped while the WAL could not be synced; their messages were not acknowledged"
            );
            drop(waiting);
            counts.held.fetch_sub(n, Ordering::AcqRel);
            continue;
        }
        for queued in waiting {
            // A caller's panic must not stop the syncs the writer waits on.
            if catch_unwind(AssertUnwindSafe(queued.then)).is_err() {
                tracing::error!("a store job's completion panicked");
            }
        }
        counts.held.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Syncs, retrying with backoff until a sync succeeds (true), or until it
/// fails once the store is `stopping` (false).
fn wait_for_sync(
    wal: &Path,
    dir_synced: &mut bool,
    trouble: &Mutex<Option<String>>,
    stopping: &AtomicBool,
) -> bool {
    let mut wait = TROUBLE_FIRST;
    loop {
        match sync(wal, dir_synced) {
            Ok(()) => break,
            Err(_) if stopping.load(Ordering::Acquire) => return false,
            Err(e) => {
                let error = format!("cannot sync the WAL {}: {e}", wal.display());
                let mut published = lock(trouble);
                if published.is_none() {
                    tracing::error!(%error, "the store cannot make commits durable; nothing is acknowledged until a sync succeeds; retrying with backoff");
                }
                *published = Some(error);
                drop(published);
                std::thread::sleep(wait);
                wait = (wait * 2).min(TROUBLE_MAX);
            }
        }
    }
    let cleared = lock(trouble).take().is_some();
    if cleared {
        tracing::warn!("the store syncs again");
    }
    true
}

/// Syncs the WAL's data, and once its directory (so a WAL created at open
/// survives a power cut, as SQLite's own first FULL sync would ensure).
/// Opened for each sync: a descriptor kept open could outlive the file.
/// No WAL file means nothing to sync: SQLite deletes it only after copying
/// every frame into the database and syncing that.
fn sync(wal: &Path, dir_synced: &mut bool) -> std::io::Result<()> {
    match File::open(wal) {
        Ok(file) => file.sync_data()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if !*dir_synced {
        if let Some(dir) = wal.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        *dir_synced = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::TempDb;

    fn trouble() -> Arc<Mutex<Option<String>>> {
        Arc::new(Mutex::new(None))
    }

    #[test]
    fn jobs_run_after_a_sync_in_order() {
        let dir = TempDb::new();
        let db = dir.path();
        std::fs::write(wal_of(&db), b"frames").unwrap();
        let sync = WalSync::start(&db, trouble()).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            sync.finish(i % 3 == 0, Box::new(move || tx.send(i).unwrap()));
        }
        drop(sync);
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_panicking_completion_does_not_stop_the_syncs() {
        let dir = TempDb::new();
        let sync = WalSync::start(&dir.path(), trouble()).unwrap();
        sync.finish(true, Box::new(|| panic!("a caller's bug")));
        let (tx, rx) = mpsc::channel();
        sync.finish(
            true,
            Box::new(move || {
                let thread = std::thread::current().name().map(str::to_owned);
                tx.send(thread).unwrap();
            }),
        );
        // Still synced by the thread: without it a completion would run at
        // once, unsynced.
        let ran_on = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(ran_on, Ok(Some("store-sync".to_owned())));
    }

    #[test]
    fn no_wal_file_means_nothing_to_sync() {
        let dir = TempDb::new();
        let trouble = trouble();
        let sync = WalSync::start(&dir.path(), Arc::clone(&trouble)).unwrap();
        let (tx, rx) = mpsc::channel();
        sync.finish(true, Box::new(move || tx.send(()).unwrap()));
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(*trouble.lock().unwrap(), None);
    }

    /// A stop does not wait for a disk that stays broken: the jobs held
    /// behind the failing sync are dropped, never acknowledged.
    #[test]
    fn a_stop_gives_up_a_sync_that_keeps_failing() {
        let dir = TempDb::new();
        let folder = dir.path();
        std::fs::write(&folder, b"not a folder").unwrap();
        let trouble = trouble();
        let sync = WalSync::start(&folder.join("db.sqlite"), Arc::clone(&trouble)).unwrap();
        let (tx, rx) = mpsc::channel::<&str>();
        let later = tx.clone();
        sync.finish(true, Box::new(move || tx.send("synced").unwrap()));
        sync.finish(false, Box::new(move || later.send("in turn").unwrap()));
        for _ in 0..500 {
            if trouble.lock().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            trouble.lock().unwrap().is_some(),
            "the failure is published"
        );
        let (stopped, done) = mpsc::channel();
        std::thread::spawn(move || {
            drop(sync);
            stopped.send(()).unwrap();
        });
        done.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the stop waited on the failing sync");
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(1)),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "nothing is acknowledged"
        );
    }

    #[test]
    fn a_failing_sync_holds_the_jobs_and_shows_the_trouble_until_it_succeeds() {
        let dir = TempDb::new();
        // The database's folder is a file: every sync fails (ENOTDIR).
        let folder = dir.path();
        std::fs::write(&folder, b"not a folder").unwrap();
        let db = folder.join("db.sqlite");
        let trouble = trouble();
        let sync = WalSync::start(&db, Arc::clone(&trouble)).unwrap();
        let (tx, rx) = mpsc::channel();
        let later = tx.clone();
        sync.finish(true, Box::new(move || tx.send("synced").unwrap()));
        // Needs no sync, but is held behind the group that does.
        sync.finish(false, Box::new(move || later.send("in turn").unwrap()));
        let shown = (0..500).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            trouble.lock().unwrap().clone()
        });
        let shown = shown.expect("the failure is published");
        assert!(shown.contains("cannot sync the WAL"), "{shown}");
        assert!(
            rx.try_recv().is_err(),
            "acknowledged before a sync succeeded"
        );
        std::fs::remove_file(&folder).unwrap();
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(wal_of(&db), b"frames").unwrap();
        let wait = std::time::Duration::from_secs(10);
        assert_eq!(rx.recv_timeout(wait), Ok("synced"));
        assert_eq!(rx.recv_timeout(wait), Ok("in turn"));
        assert_eq!(*trouble.lock().unwrap(), None, "the trouble clears");
    }
}
