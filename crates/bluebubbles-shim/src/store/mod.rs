//! The SQLite store: conversations, recent messages, webhooks and the
//! durable outbox of webhook deliveries.
//!
//! - [`journal`]: the one writer thread, group commit with a savepoint per
//!   job; callers hear back only after the commit.
//! - [`wal_sync`]: the WAL's syncs, on a thread behind the writer.
//! - [`schema`]: connection settings and migrations.
//! - [`conversations`]: handles, conversations, participants, messages.
//! - [`known`]: the writer's memory of handles and conversations, so a
//!   message to a known conversation rewrites none of their rows.
//! - [`queue`]: the outbox (one row per delivery), dead letters, webhooks, counters.
//! - [`ids`]: queue row ids, reserved in blocks and never reused.
//! - [`sends`]: sends keyed by a `tempGuid`, across restarts.
//! - [`writer`]: the writer's state and its periodic pruning and vacuum.
//! - [`bodies`]: webhook bodies kept in memory until delivered (bounded).
//! - The in-memory [`Scheduler`] (in `crate::scheduler`) is loaded here at
//!   open with one ordered read and kept in step after every commit.
//!
//! Reads (API, CLI, payloads for delivery) use a separate connection;
//! `/status` numbers come from memory.

mod bodies;
mod checkpoint;
mod conversations;
mod ids;
mod journal;
mod known;
mod lookups;
mod queue;
mod records;
mod schema;
mod sends;
mod wal_sync;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use moltbot_channel::{ChatType, InboundMessage, Party};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Notify;

use self::bodies::Bodies;
pub(crate) use self::bodies::Body;
use self::ids::Ids;
use self::journal::{Durability, Journal};
pub(crate) use self::sends::Earlier;
use self::sends::SendLog;
use self::writer::WriterState;
use crate::scheduler::{Completion, Dispatch, Entry, LaneKey, Scheduler};
use crate::{Backoff, ShimError, guid};

pub(crate) use self::records::{
    AttachmentRecord, Attempt, AttemptOutcome, ChatRecord, Member, MessageFilter, MessageRecord,
    Sent, ZoomMeta,
};
pub use self::records::{DeadLetter, OutboxStats, Webhook};

/// Builds a message's webhook body from the stored records (BlueBubbles
/// shaping lives above the store, in `bb`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shaper {
    /// Participants to read for the body; a conversation with this many or
    /// more is shaped without them.
    pub(crate) participants: usize,
    /// The encoder.
    pub(crate) encode: fn(&MessageRecord, &ChatRecord) -> String,
}

/// In-memory state shared by the writer thread and the delivery worker.
pub(crate) struct Shared {
    scheduler: Mutex<Scheduler>,
    stats: Mutex<OutboxStats>,
    webhooks: Mutex<Vec<Webhook>>,
    bodies: Mutex<Bodies>,
    /// Signalled when deliveries become ready.
    pub(crate) wake: Notify,
}

/// A file beside the database at `db`: its path with `suffix` appended.
fn beside(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    path.into()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Webhooks, pending deliveries and counters as read from the tables.
pub(crate) struct Loaded {
    hooks: Vec<Webhook>,
    rows: Vec<(LaneKey, Entry)>,
    stats: OutboxStats,
}

impl Shared {
    fn replace(&self, loaded: Loaded) {
        *lock(&self.webhooks) = loaded.hooks;
        lock(&self.bodies).clear();
        lock(&self.scheduler).reload(loaded.rows, crate::now_ms());
        *lock(&self.stats) = loaded.stats;
        self.wake.notify_one();
    }

    /// Applies committed inbound messages: their deliveries join the
    /// scheduler, the counters move.
    fn stored(
        &self,
        each: Vec<Result<Stored, ShimError>>,
        now_ms: i64,
    ) -> Vec<Result<bool, ShimError>> {
        let (mut rows, mut deliveries) = (0, 0);
        // Bodies first: a delivery the scheduler hands out finds its body.
        {
            let mut bodies = lock(&self.bodies);
            for stored in each.iter().flatten() {
                if let Some((seq, body)) = &stored.body {
                    bodies.insert(*seq, body.clone(), stored.deliveries.len());
                }
            }
        }
        let mut s = lock(&self.scheduler);
        let out = each
            .into_iter()
            .map(|r| {
                r.map(|stored| {
                    if stored.fresh {
                        // One row per delivery, or one waiting for a webhook.
                        rows += stored.deliveries.len().max(1) as u64;
                        deliveries += stored.deliveries.len() as u64;
                        for (lane, entry) in stored.deliveries {
                            s.push(lane, entry, now_ms);
                        }
                    }
                    stored.fresh
                })
            })
            .collect();
        drop(s);
        self.stats(|s| {
            s.depth += rows;
            s.pending += deliveries;
        });
        if deliveries > 0 {
            self.wake.notify_one();
        }
        out
    }

    fn stats(&self, f: impl FnOnce(&mut OutboxStats)) {
        f(&mut lock(&self.stats));
    }
}

/// Counts the outbox from the tables (start-up, reloads, webhook changes:
/// never per event).
fn recount(conn: &Connection, pending: usize) -> Result<OutboxStats, ShimError> {
    let meta_u64 = |key| -> Result<u64, ShimError> {
        Ok(u64::try_from(queue::get_meta::<i64>(conn, key)?.unwrap_or(0)).unwrap_or(0))
    };
    Ok(OutboxStats {
        depth: queue::count(conn, "outbox")?,
        pending: u64::try_from(pending).unwrap_or(u64::MAX),
        dead_letters: queue::count(conn, "dead")?,
        delivered: meta_u64("delivered")?,
        failed: meta_u64("failed")?,
        last_error: queue::get_meta(conn, "last_error")?,
        last_delivered_at_ms: queue::get_meta(conn, "last_delivered_ms")?,
        store_error: None,
    })
}

/// The shim's SQLite database. Cheap to clone; all clones share one writer
/// thread, one read connection and the in-memory outbox state.
#[derive(Clone)]
pub struct Store(Arc<Inner>);

struct Inner {
    // Field order: the reader closes before the journal joins its thread.
    reader: Mutex<Connection>,
    shared: Arc<Shared>,
    journal: Journal<WriterState>,
    sends: SendLog,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// Result of storing an inbound message.
struct Stored {
    fresh: bool,
    deliveries: Vec<(LaneKey, Entry)>,
    /// The webhook body by its message's `seq`, for the in-memory cache.
    body: Option<(i64, Body)>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, migrating it to
    /// the current schema.
    ///
    /// # Errors
    /// [`ShimError::Database`] when the file cannot be opened,
    /// [`ShimError::Migration`] when it cannot be migrated (or comes from a
    /// newer version).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ShimError> {
        let path = path.as_ref();
        let mut writer = Connection::open(path)?;
        schema::prepare_writer(&mut writer, true)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let checkpoints = Connection::open(path)?;
        schema::prepare_reader(&checkpoints)?;
        Self::start(
            writer,
            reader,
            Some(checkpoints),
            SendLog::open_or_memory(path)?,
        )
    }

    /// An in-memory database (tests, demo), shared by the writer and the
    /// reader through SQLite's `memdb` VFS.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn open_in_memory() -> Result<Self, ShimError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:/moltbot-zoom-{}-{}-{}?vfs=memdb",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut writer = Connection::open(&name)?;
        schema::prepare_writer(&mut writer, false)?;
        let reader = Connection::open(&name)?;
        Self::start(writer, reader, None, SendLog::in_memory()?)
    }

    fn start(
        writer: Connection,
        reader: Connection,
        checkpoints: Option<Connection>,
        sends: SendLog,
    ) -> Result<Self, ShimError> {
        schema::prepare_reader(&reader)?;
        let shared = Arc::new(Shared {
            scheduler: Mutex::new(Scheduler::default()),
            stats: Mutex::new(OutboxStats::default()),
            webhooks: Mutex::new(Vec::new()),
            bodies: Mutex::new(Bodies::default()),
            wake: Notify::new(),
        });
        let state = WriterState::new(Arc::clone(&shared), &writer)?;
        let journal = Journal::start(writer, state, checkpoints)?;
        Ok(Self(Arc::new(Inner {
            reader: Mutex::new(reader),
            shared,
            journal,
            sends,
        })))
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

    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, ShimError>) -> Result<R, ShimError> {
        f(&lock(&self.0.reader))
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0.shared
    }

    // ----- conversations and messages -------------------------------------

    /// Stores inbound messages, each with its conversation and its outbox
    /// entry (shaped by `shaper`), as one job of the next group commit, each
    /// message in its own savepoint: one that fails is rolled back alone and
    /// gets its error. Resolves only after the commit and the WAL sync after it,
    /// to one result per message: false when the message id was already
    /// stored (a redelivery, nothing changes). If the commit fails, every
    /// message gets an error.
    ///
    /// Order under storage failures: once a message meets one (e.g. disk
    /// full), it and every later inbound message get
    /// [`ShimError::Unavailable`] without being tried, until a call with
    /// `retry` (the caller's resubmission of the earliest failed message and
    /// those after it) clears the fence. So no message is stored ahead of an
    /// earlier one that is still waiting.
    pub(crate) fn record_inbound(
        &self,
        messages: Arc<[InboundMessage]>,
        now_ms: i64,
        shaper: Shaper,
        retry: bool,
    ) -> impl Future<Output = Vec<Result<bool, ShimError>>> + Send + use<> {
        let shared = Arc::clone(&self.0.shared);
        let n = messages.len();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Optimistically the whole group in one savepoint; if any message
        // fails, that is rolled back and each message gets its own
        // savepoint, so a bad one fails alone. (A savepoint per message
        // copies every page it touches to the sub-journal: a third of the
        // writer's time under a blast.)
        self.0.journal.submit_parts(
            Durability::Full,
            move |conn, w| {
                if retry {
                    w.inbound_fenced = false;
                }
                if !w.inbound_fenced {
                    let all = journal::isolated(conn, |conn| {
                        messages
                            .iter()
                            .map(|m| store_inbound(conn, w, m, now_ms, shaper))
                            .collect::<Result<Vec<_>, _>>()
                    });
                    match all {
                        Ok(stored) => return Ok(stored.into_iter().map(Ok).collect()),
                        // Rolled back: what it taught the cache may be gone.
                        Err(_) => w.known.forget(),
                    }
                }
                Ok(messages
                    .iter()
                    .map(|m| {
                        if w.inbound_fenced {
                            let refused = Err(ShimError::Unavailable(
                                "an earlier message is waiting to be stored".into(),
                            ));
                            // Still in trouble until the retry goes through.
                            if !retry {
                                journal::note_trouble(&refused);
                            }
                            return refused;
                        }
                        let r = journal::isolated(conn, |conn| {
                            store_inbound(conn, w, m, now_ms, shaper)
                        });
                        if r.is_err() {
                            // Rolled back: what it taught the cache may be gone.
                            w.known.forget();
                        }
                        if r.as_ref().is_err_and(ShimError::is_transient) {
                            w.inbound_fenced = true;
                        }
                        r
                    })
                    .collect::<Vec<_>>())
            },
            move |result: Result<Vec<Result<Stored, ShimError>>, ShimError>| {
                let _ = tx.send(match result {
                    Ok(each) => shared.stored(each, now_ms),
                    Err(e) => {
                        let transient = e.is_transient();
                        let e = e.to_string();
                        (0..n)
                            .map(|_| {
                                Err(if transient {
                                    ShimError::Unavailable(e.clone())
                                } else {
                                    ShimError::Task(e.clone())
                                })
                            })
                            .collect()
                    }
                });
            },
        );
        async move {
            rx.await.unwrap_or_else(|_| {
                (0..n)
                    .map(|_| Err(ShimError::Task("the store writer stopped".into())))
                    .collect()
            })
        }
    }

    /// Before a send of `text` keyed by `temp_guid` to `chat_guid` posts
    /// anything: an earlier send under the key (recorded, or begun and not
    /// recorded), else the intent is logged now (see [`sends`]).
    ///
    /// # Errors
    /// SQLite failures.
    pub(crate) fn begin_send(
        &self,
        temp_guid: &str,
        chat_guid: &str,
        text: &str,
    ) -> Result<Earlier, ShimError> {
        let Some(begun) = self
            .0
            .sends
            .begin(temp_guid, chat_guid, text, crate::now_ms())?
        else {
            return Ok(Earlier::None);
        };
        let sent = self.read(|conn| {
            let Some(message) = conversations::sent_by_temp_guid(conn, temp_guid)? else {
                return Ok(None);
            };
            let chat = conversations::chat_by_guid(conn, &message.chat_guid, None)?;
            Ok(chat.map(|chat| (message, chat)))
        })?;
        Ok(match sent {
            Some(sent) => Earlier::Sent(Box::new(sent)),
            None => Earlier::Unfinished(begun),
        })
    }

    /// Records a message we sent (and its conversation, created if new).
    /// Resolves after the commit without holding a blocking thread: the
    /// reply path waits on the writer alone (one thread hop less per send).
    pub(crate) fn record_sent(
        &self,
        sent: Sent,
    ) -> impl Future<Output = Result<(MessageRecord, ChatRecord), ShimError>> + Send + use<> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.journal.submit(
            Durability::Normal,
            move |conn, w| store_sent(conn, w, sent),
            move |r| {
                let _ = tx.send(r);
            },
        );
        async move {
            rx.await
                .map_err(|_| ShimError::Task("the store writer stopped".into()))?
        }
    }

    /// Creates a direct conversation with `address` unless it exists.
    pub(crate) fn ensure_direct_chat(&self, address: &str) -> Result<ChatRecord, ShimError> {
        let address = address.trim().to_owned();
        self.0.journal.call(Durability::Normal, move |conn, w| {
            let chat_guid = guid::direct(&address);
            w.known.release_chat(&chat_guid);
            let member = conversations::upsert_handle(
                conn,
                &Party {
                    id: address,
                    name: None,
                },
            )?;
            conversations::upsert_chat(conn, &chat_guid, ChatType::Direct, None, &[member], 0)?;
            let mut chat = conversations::chat_by_guid(conn, &chat_guid, None)?
                .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
            w.known.pending_activity(&mut chat);
            Ok(chat)
        })
    }

    /// One conversation.
    pub(crate) fn chat(&self, chat_guid: &str) -> Result<Option<ChatRecord>, ShimError> {
        self.read(|c| conversations::chat_by_guid(c, chat_guid, None))
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
        self.read(|c| conversations::chats(c, filter_guid, by_activity, offset, limit))
    }

    /// A page of messages and the total matching count.
    pub(crate) fn messages(
        &self,
        f: &MessageFilter,
    ) -> Result<(Vec<MessageRecord>, i64), ShimError> {
        self.read(|c| conversations::messages(c, f))
    }

    // ----- webhooks --------------------------------------------------------

    /// Runs a webhook change, then re-reads webhooks, counters and the
    /// pending deliveries (webhook changes are rare; this keeps them simple).
    fn change_webhooks<T, F>(&self, f: F) -> Result<T, ShimError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Ids) -> Result<T, ShimError> + Send + 'static,
    {
        let shared = Arc::clone(&self.0.shared);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.0.journal.submit(
            Durability::Full,
            move |conn, w| {
                let out = f(conn, &mut w.ids)?;
                Ok((out, w.load(conn)?))
            },
            // Applied after the commit, in order with the other jobs' effects.
            move |r: Result<(T, Loaded), ShimError>| {
                let _ = tx.send(r.map(|(out, loaded)| {
                    shared.replace(loaded);
                    out
                }));
            },
        );
        rx.recv()
            .map_err(|_| ShimError::Task("the store writer stopped".into()))?
    }

    /// Makes the configured webhooks match `urls`: adds new ones, removes
    /// configured ones no longer listed (webhooks added over the API stay).
    pub(crate) fn sync_config_webhooks(
        &self,
        urls: &[String],
        now_ms: i64,
    ) -> Result<(), ShimError> {
        let urls = urls.to_vec();
        self.change_webhooks(move |conn, ids| {
            let existing: Vec<(i64, String)> = conn
                .prepare("SELECT id, url FROM webhooks WHERE source = 'config'")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (id, url) in existing {
                if !urls.contains(&url) {
                    delete_webhook(conn, id)?;
                }
            }
            for url in &urls {
                conn.execute(
                    "INSERT OR IGNORE INTO webhooks (url, events, created_ms, source) VALUES (?1, '[\"*\"]', ?2, 'config')",
                    rusqlite::params![url, now_ms],
                )?;
            }
            assign_waiting(conn, ids, now_ms)
        })
    }

    /// Every webhook, oldest first.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn webhooks(&self) -> Result<Vec<Webhook>, ShimError> {
        Ok(lock(&self.0.shared.webhooks).clone())
    }

    /// Registers a webhook; an existing URL returns the stored record
    /// unchanged (`false`). Messages waiting for a first webhook go to it.
    pub(crate) fn add_webhook(
        &self,
        url: &str,
        events: &[String],
        now_ms: i64,
    ) -> Result<(Webhook, bool), ShimError> {
        let url = url.to_owned();
        let events = serde_json::to_string(events)?;
        self.change_webhooks(move |conn, ids| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO webhooks (url, events, created_ms, source) VALUES (?1, ?2, ?3, 'api')",
                rusqlite::params![url, events, now_ms],
            )? == 1;
            assign_waiting(conn, ids, now_ms)?;
            let hook = queue::webhooks(conn)?
                .into_iter()
                .find(|w| w.url == url)
                .ok_or_else(|| ShimError::Task("webhook vanished".into()))?;
            Ok((hook, inserted))
        })
    }

    /// Removes a webhook and its pending deliveries; false when unknown.
    pub(crate) fn delete_webhook(&self, id: i64) -> Result<bool, ShimError> {
        self.change_webhooks(move |conn, _| delete_webhook(conn, id))
    }

    // ----- delivery --------------------------------------------------------

    /// Takes up to `max` due deliveries (one per lane), marking their lanes
    /// busy until [`Store::finish_attempt`].
    pub(crate) fn take_due(&self, now_ms: i64, max: usize) -> Vec<Dispatch> {
        lock(&self.0.shared.scheduler).take(now_ms, max)
    }

    /// When the next waiting delivery becomes due, and whether one is due now.
    pub(crate) fn next_due(&self) -> (Option<i64>, bool) {
        let s = lock(&self.0.shared.scheduler);
        (s.next_due(), s.has_ready())
    }

    /// Gives dispatched deliveries back untried (their bodies could not be
    /// read); a delivery whose message is gone is forgotten.
    pub(crate) fn abandon(&self, d: &Dispatch, gone: bool, now_ms: i64) {
        if gone {
            lock(&self.0.shared.bodies).release(d.entry.seq);
        }
        let mut s = lock(&self.0.shared.scheduler);
        if gone {
            s.complete(&d.lane, d.entry.id, Completion::Done, now_ms);
        } else {
            s.abandon(&d.lane, d.entry.id, now_ms);
        }
    }

    /// Frees lanes whose attempts were abandoned (the worker stopped).
    pub(crate) fn release_in_flight(&self, now_ms: i64) {
        lock(&self.0.shared.scheduler).release_all(now_ms);
    }

    /// The URL of a webhook.
    pub(crate) fn webhook_url(&self, id: i64) -> Option<String> {
        lock(&self.0.shared.webhooks)
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.url.clone())
    }

    /// The body of a dispatched delivery when it is kept in memory.
    pub(crate) fn cached_body(&self, d: &Dispatch) -> Option<Body> {
        lock(&self.0.shared.bodies).get(d.entry.seq)
    }

    /// Up to `max` deliveries queued behind `d` in its lane whose bodies are
    /// not kept in memory: worth reading with `d`'s.
    pub(crate) fn read_ahead(&self, d: &Dispatch, max: usize) -> Vec<Entry> {
        if lock(&self.0.shared.bodies).bytes() > bodies::BODY_BUDGET / 4 * 3 {
            // Bodies read now would not be kept.
            return Vec::new();
        }
        let upcoming = lock(&self.0.shared.scheduler).upcoming(&d.lane, max);
        let bodies = lock(&self.0.shared.bodies);
        upcoming
            .into_iter()
            .filter(|e| !bodies.contains(e.seq))
            .collect()
    }

    /// Keeps a body read ahead for the one delivery of its lane that will
    /// use it (within the memory budget).
    pub(crate) fn keep_body(&self, seq: i64, body: Body) {
        lock(&self.0.shared.bodies).insert(seq, body, 1);
    }

    /// Loads the bodies and message guids of deliveries by id (one read
    /// transaction), shaping those whose row carries none with `shaper`;
    /// `None` for one that is gone.
    pub(crate) fn payloads(
        &self,
        ids: &[i64],
        shaper: Shaper,
    ) -> Result<Vec<Option<(String, String)>>, ShimError> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let mut chats = queue::ChatsRead::new();
            let out = ids
                .iter()
                .map(|&id| queue::payload(c, id, shaper, &mut chats))
                .collect();
            c.execute_batch("COMMIT")?;
            out
        })
    }

    /// Records an attempt: updates the scheduler at once (so the lane's next
    /// message can go) and queues the journal write (`synchronous=NORMAL`,
    /// batched). A success deletes the delivery's row; a failure schedules
    /// a retry after the backoff or, at `max_attempts`, makes a dead letter
    /// (whose body, shaped by `shaper`, is then written into its row).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_attempt(
        &self,
        d: &Dispatch,
        attempt: &Attempt,
        now_ms: i64,
        max_attempts: u32,
        backoff: &Backoff,
        jitter: f64,
        shaper: Shaper,
    ) -> AttemptOutcome {
        let Dispatch { lane, entry } = d;
        let (id, seq) = (entry.id, entry.seq);
        let shared = Arc::clone(&self.0.shared);
        match attempt {
            Attempt::Delivered => {
                lock(&shared.bodies).release(seq);
                lock(&shared.scheduler).settling(id);
                let hook = Arc::clone(&shared);
                // One DELETE: no savepoint (one per delivery cost its
                // statement and a copy of every page the delete touched).
                self.0.journal.submit_parts(
                    Durability::Lazy,
                    move |conn, w| {
                        let removed = queue::remove_delivery(conn, id)?;
                        if removed {
                            w.counters.delivered += 1;
                            w.counters.last_delivered_ms = Some(now_ms);
                        }
                        Ok(removed)
                    },
                    move |r: Result<bool, ShimError>| {
                        lock(&hook.scheduler).settled(id);
                        match r {
                            Ok(true) => hook.stats(|s| {
                                s.pending = s.pending.saturating_sub(1);
                                s.depth = s.depth.saturating_sub(1);
                                s.delivered += 1;
                                s.last_delivered_at_ms = Some(now_ms);
                            }),
                            Ok(false) => {}
                            Err(e) => {
                                tracing::error!(delivery = id, error = %e, "could not record a delivery; it will be redelivered after a restart");
                            }
                        }
                    },
                );
                // Freed only now: the lane's next result queues behind this one.
                {
                    let mut s = lock(&shared.scheduler);
                    s.complete(lane, id, Completion::Done, now_ms);
                    s.attempted(lane.0, true, now_ms);
                }
                shared.wake.notify_one();
                AttemptOutcome::Delivered
            }
            Attempt::Failed(error) | Attempt::Deferred { error, .. } => {
                let (attempts, delay) = match attempt {
                    Attempt::Deferred { retry_after, .. } => (
                        entry.attempts,
                        (*retry_after).clamp(backoff.base, backoff.max),
                    ),
                    _ => {
                        let attempts = entry.attempts.saturating_add(1);
                        (attempts, backoff.delay(attempts, jitter))
                    }
                };
                let dead = matches!(attempt, Attempt::Failed(_)) && attempts >= max_attempts;
                let next_ms =
                    now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                let how = if dead {
                    lock(&shared.bodies).release(seq);
                    lock(&shared.scheduler).settling(id);
                    Completion::Done
                } else {
                    Completion::Retry { attempts, next_ms }
                };
                let error = error.clone();
                let hook = Arc::clone(&shared);
                // One UPDATE: no savepoint needed.
                self.0.journal.submit_parts(
                    Durability::Lazy,
                    move |conn, w| {
                        let found = queue::record_failure(conn, id, attempts, dead, next_ms, &error)?;
                        if found && dead {
                            queue::keep_payload(conn, id, shaper)?;
                        }
                        if found {
                            w.counters.failed += 1;
                            w.counters.last_error = Some(error.clone());
                        }
                        Ok(found.then_some(error))
                    },
                    move |r: Result<Option<String>, ShimError>| {
                        lock(&hook.scheduler).settled(id);
                        match r {
                            Ok(Some(error)) => hook.stats(|s| {
                                s.failed += 1;
                                s.last_error = Some(error);
                                if dead {
                                    s.pending = s.pending.saturating_sub(1);
                                    s.dead_letters += 1;
                                }
                            }),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!(delivery = id, error = %e, "could not record a failed attempt");
                            }
                        }
                    },
                );
                {
                    let mut s = lock(&shared.scheduler);
                    s.complete(lane, id, how, now_ms);
                    s.attempted(lane.0, false, now_ms);
                }
                if dead {
                    AttemptOutcome::Dead
                } else {
                    AttemptOutcome::Retry
                }
            }
        }
    }

    // ----- admin -----------------------------------------------------------

    /// Transactions the writer has committed since open; with the number of
    /// events stored it gives the group-commit batch size (benchmarks).
    pub fn commits(&self) -> u64 {
        self.0.journal.commits()
    }

    /// Outbox counters, from memory (kept in step with every commit).
    ///
    /// # Errors
    /// None today; kept fallible for callers.
    pub fn outbox_stats(&self) -> Result<OutboxStats, ShimError> {
        let mut stats = lock(&self.0.shared.stats).clone();
        stats.store_error = self.0.journal.trouble();
        Ok(stats)
    }

    /// Every dead letter, oldest first.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, ShimError> {
        self.read(queue::dead_letters)
    }

    /// One dead letter.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, ShimError> {
        self.read(|c| queue::dead_letter(c, id))
    }

    /// Puts a dead letter back in the queue with a fresh attempt budget;
    /// false when there is no such dead letter. A delivery worker in this
    /// process picks it up at once; one in another process within a second.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn requeue(&self, id: i64) -> Result<bool, ShimError> {
        let shared = Arc::clone(&self.0.shared);
        let found = self.0.journal.call(Durability::Full, move |conn, _| {
            Ok(conn
                .prepare_cached(queue::REQUEUE)?
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .ok())
        })?;
        let Some((seq, webhook_id, chat_guid)) = found else {
            return Ok(false);
        };
        let now = crate::now_ms();
        let entry = Entry {
            id,
            seq,
            attempts: 0,
            next_ms: 0,
        };
        lock(&shared.scheduler).push((webhook_id, Arc::from(chat_guid.as_str())), entry, now);
        shared.stats(|s| {
            s.dead_letters = s.dead_letters.saturating_sub(1);
            s.pending += 1;
        });
        shared.wake.notify_one();
        Ok(true)
    }

    /// Deletes a dead letter for good; false when there is no such dead letter.
    ///
    /// # Errors
    /// [`ShimError::Database`] when SQLite fails.
    pub fn drop_dead_letter(&self, id: i64) -> Result<bool, ShimError> {
        let dropped = self.0.journal.call(Durability::Full, move |conn, _| {
            Ok(conn.prepare_cached(queue::DROP_DEAD)?.execute([id])? == 1)
        })?;
        if dropped {
            self.0.shared.stats(|s| {
                s.dead_letters = s.dead_letters.saturating_sub(1);
                s.depth = s.depth.saturating_sub(1);
            });
        }
        Ok(dropped)
    }
}

/// Deletes webhook `id` and its deliveries (pending and dead). Scans the
/// outbox: admin changes only.
fn delete_webhook(conn: &Connection, id: i64) -> Result<bool, ShimError> {
    conn.execute("DELETE FROM queue WHERE webhook_id = ?1", [id])?;
    Ok(conn.execute("DELETE FROM webhooks WHERE id = ?1", [id])? == 1)
}

/// Gives messages waiting for a first webhook to the current targets.
fn assign_waiting(conn: &Connection, ids: &mut Ids, now_ms: i64) -> Result<(), ShimError> {
    let targets: Vec<i64> = queue::webhooks(conn)?
        .into_iter()
        .filter(Webhook::wants_new_message)
        .map(|w| w.id)
        .collect();
    queue::assign_waiting(conn, ids, &targets, now_ms)?;
    Ok(())
}

fn store_inbound(
    conn: &Connection,
    w: &mut WriterState,
    m: &InboundMessage,
    now_ms: i64,
    shaper: Shaper,
) -> Result<Stored, ShimError> {
    if conversations::message_exists(conn, &m.message_id)? {
        return Ok(Stored {
            fresh: false,
            deliveries: Vec::new(),
            body: None,
        });
    }
    let chat_guid = m.conversation.id.as_str();
    let sender = w.known.handle(conn, &m.sender)?;
    let mut members = Vec::with_capacity(1 + m.participants.len());
    members.push(sender.clone());
    for p in &m.participants {
        members.push(w.known.handle(conn, p)?);
    }
    let chat = w.known.chat(
        conn,
        &m.conversation,
        &members,
        m.timestamp_ms,
        shaper.participants,
    )?;
    let zoom = ZoomMeta {
        event_type: m.event_type.clone(),
        mode: serde_json::to_value(m.mode)?
            .as_str()
            .unwrap_or("message")
            .to_owned(),
        conversation_kind: m.conversation.kind.as_str().to_owned(),
        conversation_label: m.conversation.label.clone(),
        was_mentioned: m.mentioned,
        message_id: m.upstream_id.clone(),
    };
    let record = conversations::insert_message(
        conn,
        MessageRecord {
            rowid: 0,
            guid: m.message_id.clone(),
            chat_guid: chat_guid.to_owned(),
            sender: Some(sender),
            text: m.body.clone(),
            date_ms: m.timestamp_ms,
            is_from_me: false,
            thread_originator: m.reply_to_id.clone(),
            temp_guid: None,
            attachments: m
                .attachments
                .iter()
                .map(AttachmentRecord::inbound)
                .collect(),
            zoom: Some(zoom),
            parts: Vec::new(),
        },
    )?;
    let payload = (shaper.encode)(&record, chat);
    let (seq, ids) = queue::insert_rows(
        conn,
        &mut w.ids,
        &record.guid,
        chat_guid,
        &w.targets,
        now_ms,
    )?;
    let chat: Arc<str> = Arc::from(chat_guid);
    let deliveries = w
        .targets
        .iter()
        .zip(ids)
        .map(|(&webhook_id, id)| {
            (
                (webhook_id, Arc::clone(&chat)),
                Entry {
                    id,
                    seq,
                    attempts: 0,
                    next_ms: now_ms,
                },
            )
        })
        .collect();
    if !w.dirty_chats.contains(chat_guid) {
        w.dirty_chats.insert(chat_guid.to_owned());
    }
    w.known.note_activity(chat_guid, m.timestamp_ms);
    Ok(Stored {
        fresh: true,
        deliveries,
        body: Some((
            seq,
            Body {
                payload: Arc::from(payload),
                guid: Arc::from(record.guid),
            },
        )),
    })
}

fn store_sent(
    conn: &Connection,
    w: &mut WriterState,
    sent: Sent,
) -> Result<(MessageRecord, ChatRecord), ShimError> {
    let kind = guid::kind_of(&sent.chat_guid);
    w.known.release_chat(&sent.chat_guid);
    let mut members = Vec::new();
    if kind == ChatType::Direct {
        let address = guid::identifier(&sent.chat_guid).to_owned();
        members.push(conversations::upsert_handle(
            conn,
            &Party {
                id: address,
                name: None,
            },
        )?);
    }
    conversations::upsert_chat(conn, &sent.chat_guid, kind, None, &members, sent.date_ms)?;
    let record = match conversations::message_by_guid(conn, &sent.guid)? {
        Some(m) => m,
        None => conversations::insert_message(
            conn,
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
                parts: sent.parts,
            },
        )?,
    };
    let mut chat = conversations::chat_by_guid(conn, &sent.chat_guid, None)?
        .ok_or_else(|| ShimError::Task("conversation vanished".into()))?;
    w.known.pending_activity(&mut chat);
    w.dirty_chats.insert(chat.guid.clone());
    Ok((record, chat))
}
