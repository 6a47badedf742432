//! The writer thread's own state: webhook targets, counters waiting for the
//! next commit, conversations waiting for a trim, and the periodic work
//! (pruning, incremental vacuum, noticing changes made by another process).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::ids::Ids;
use super::journal::Writer;
use super::known::Known;
use super::{Loaded, Shared, conversations, queue};
use crate::ShimError;

/// How often the pruner runs (sooner, at the writer's next idle tick,
/// while a pass used its whole [`PRUNE_ROWS`]).
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// Messages one pruner pass deletes at most: a pass is one transaction,
/// and the groups wait for it (about 25 µs a message).
pub(super) const PRUNE_ROWS: i64 = 500;
/// Conversations trimmed per pruner run.
const CHATS_PER_PRUNE: usize = 32;
/// Conversations quiet for this long are forgotten (with their messages
/// and participants).
pub(super) const CHAT_RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;
/// Quiet conversations forgotten per pruner run.
const STALE_CHATS_PER_PRUNE: i64 = 16;
/// Handles examined per pruner run.
const HANDLES_PER_PRUNE: i64 = 1000;
/// Free pages above which the pruner gives space back to the file system.
const VACUUM_ABOVE_PAGES: i64 = 256;
/// Pages released per vacuum step.
const VACUUM_PAGES: i64 = 1024;

/// Counters to add to `meta` with the next commit.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub(super) delivered: i64,
    pub(super) failed: i64,
    pub(super) last_error: Option<String>,
    pub(super) last_delivered_ms: Option<i64>,
}

/// What one pruner pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pruned {
    pub(super) messages: usize,
    pub(super) chats: usize,
    pub(super) handles: usize,
}

/// What the writer thread keeps between groups.
pub(crate) struct WriterState {
    pub(super) shared: Arc<Shared>,
    /// Webhooks that want `new-message`.
    pub(super) targets: Vec<i64>,
    pub(super) counters: Pending,
    pub(super) dirty_chats: HashSet<String>,
    /// Set when an inbound message met a storage failure (or a group
    /// failed): later inbound messages are refused untried until the
    /// caller retries the failed ones (see `Store::record_inbound`).
    pub(super) inbound_fenced: bool,
    /// Handles and conversations the writer knows (see `known`).
    pub(super) known: Known,
    /// Queue row ids (see `ids`).
    pub(super) ids: Ids,
    handle_cursor: i64,
    data_version: i64,
    last_prune: Instant,
    /// The last pass used its whole budget: the next tick prunes again.
    pub(super) prune_soon: bool,
}

impl WriterState {
    pub(super) fn new(shared: Arc<Shared>, conn: &Connection) -> Result<Self, ShimError> {
        let mut state = Self {
            shared,
            targets: Vec::new(),
            counters: Pending::default(),
            dirty_chats: HashSet::new(),
            inbound_fenced: false,
            known: Known::default(),
            ids: Ids::default(),
            handle_cursor: 0,
            data_version: data_version(conn)?,
            last_prune: Instant::now(),
            prune_soon: false,
        };
        state.reload(conn)?;
        Ok(state)
    }

    /// Re-reads webhooks, counters and every pending delivery and makes them
    /// the in-memory state at once (start-up, between groups).
    pub(super) fn reload(&mut self, conn: &Connection) -> Result<(), ShimError> {
        let loaded = self.load(conn)?;
        self.shared.replace(loaded);
        Ok(())
    }

    /// Reads webhooks, counters and every pending delivery, and takes the
    /// webhook targets for the jobs that follow. The caller applies the
    /// result with [`Shared::replace`] once it is committed.
    pub(super) fn load(&mut self, conn: &Connection) -> Result<Loaded, ShimError> {
        let hooks = queue::webhooks(conn)?;
        self.targets = hooks
            .iter()
            .filter(|w| w.wants_new_message())
            .map(|w| w.id)
            .collect();
        let rows = queue::load_pending(conn)?;
        let stats = super::recount(conn, rows.len())?;
        Ok(Loaded { hooks, rows, stats })
    }

    /// One bounded pruner pass: trims conversations that got messages since
    /// the last pass to their window, forgets conversations quiet for
    /// [`CHAT_RETENTION_MS`], then deletes handles nothing refers to.
    pub(super) fn prune(&mut self, conn: &Connection, now_ms: i64) -> Result<Pruned, ShimError> {
        let dirty: Vec<String> = self
            .dirty_chats
            .iter()
            .take(CHATS_PER_PRUNE)
            .cloned()
            .collect();
        // Messages whose webhook body is still to be built stay.
        let keep_from = queue::oldest_unbuilt(conn)?.unwrap_or(i64::MAX);
        let mut budget = PRUNE_ROWS;
        for chat in &dirty {
            if budget <= 0 {
                break;
            }
            let (n, more) = conversations::trim_chat(conn, chat, budget, keep_from)?;
            budget -= i64::try_from(n).unwrap_or(i64::MAX);
            if !more {
                self.dirty_chats.remove(chat);
            }
        }
        let chats = conversations::prune_stale_chats(
            conn,
            now_ms.saturating_sub(CHAT_RETENTION_MS),
            STALE_CHATS_PER_PRUNE,
            keep_from,
            &mut budget,
        )?;
        self.prune_soon = budget <= 0;
        let (handles, next) =
            conversations::prune_handles(conn, self.handle_cursor, HANDLES_PER_PRUNE)?;
        self.handle_cursor = next;
        if chats > 0 || handles > 0 {
            // Rows the writer remembers may be gone.
            self.known.forget();
        }
        Ok(Pruned {
            messages: usize::try_from(PRUNE_ROWS - budget).unwrap_or(0),
            chats,
            handles,
        })
    }

    fn prune_in_transaction(&mut self, conn: &Connection) -> Result<(), ShimError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match self.prune(conn, crate::now_ms()) {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        vacuum(conn)?;
        Ok(())
    }
}

/// Gives free pages back to the file system, a bounded step at a time.
pub(super) fn vacuum(conn: &Connection) -> Result<(), ShimError> {
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    if free > VACUUM_ABOVE_PAGES {
        conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
    }
    Ok(())
}

fn data_version(conn: &Connection) -> Result<i64, ShimError> {
    Ok(conn.pragma_query_value(None, "data_version", |r| r.get(0))?)
}

impl Writer for WriterState {
    fn before_commit(&mut self, conn: &Connection) -> Result<(), ShimError> {
        self.known.flush(conn)?;
        self.ids.write(conn)?;
        let c = std::mem::take(&mut self.counters);
        if c.delivered > 0 {
            queue::bump_meta(conn, "delivered", c.delivered)?;
        }
        if c.failed > 0 {
            queue::bump_meta(conn, "failed", c.failed)?;
        }
        if let Some(e) = &c.last_error {
            queue::set_meta(conn, "last_error", e.as_str())?;
        }
        if let Some(ms) = c.last_delivered_ms {
            queue::set_meta(conn, "last_delivered_ms", ms)?;
        }
        Ok(())
    }

    fn after_rollback(&mut self, conn: &Connection) {
        // The group's inbound messages failed: later ones wait for their retry.
        self.inbound_fenced = true;
        self.known.reset();
        self.ids.reset();
        if let Err(e) = self.reload(conn) {
            tracing::error!(error = %e, "could not reload the outbox after a failed commit");
        }
    }

    fn maintain(&mut self, conn: &Connection) {
        match data_version(conn) {
            Ok(v) if v != self.data_version => {
                self.data_version = v;
                self.known.forget();
                tracing::debug!(
                    "the database was changed by another process; reloading the outbox"
                );
                match self.reload(conn) {
                    Ok(()) => self.shared.wake.notify_one(),
                    Err(e) => tracing::error!(error = %e, "could not reload the outbox"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read data_version"),
        }
        if self.prune_soon || self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            if let Err(e) = self.prune_in_transaction(conn) {
                // Back to the usual period, not a retry every tick.
                self.prune_soon = false;
                tracing::warn!(error = %e, "pruning failed; will try again");
            }
        }
    }
}
