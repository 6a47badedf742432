//! Webhook bodies kept in memory from their commit until their last
//! delivery, within a byte budget, so the delivery worker seldom reads them
//! back from the database (a read is a hop to a blocking thread). The
//! journal stays the truth: a body that is not here is read back (or rebuilt
//! from its message) by delivery id.

use std::collections::HashMap;
use std::sync::Arc;

/// Bytes of bodies kept at most, at their commit or read back ahead of
/// their turn; beyond it new bodies are read back (and rebuilt) when their
/// turn comes, so a large backlog costs disk reads, not memory. 8 MB: once
/// the writer got cheaper (one row per delivery), a blast's ingest ran ahead
/// of its deliveries by more than 2 MB of bodies (the budget until
/// 2026-12), and rebuilding the spilled ones took 12 % of the CPU and a
/// third of the rate; a drained backlog also spreads its read-ahead over
/// every conversation behind (docs/performance.md, "CPU per event").
pub(crate) const BODY_BUDGET: usize = 8 << 20;

/// A message's webhook body and guid.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// The JSON body.
    pub(crate) payload: Arc<str>,
    /// The message guid (for logs).
    pub(crate) guid: Arc<str>,
}

#[derive(Debug)]
struct Slot {
    body: Body,
    /// Deliveries of this message not yet done.
    refs: usize,
}

/// The cache, keyed by the message's `seq` (shared by its rows).
#[derive(Debug, Default)]
pub(crate) struct Bodies {
    slots: HashMap<i64, Slot>,
    bytes: usize,
}

impl Bodies {
    /// Keeps `body` for `refs` deliveries of message `seq` (at its commit,
    /// or read back ahead of its turn), if it fits within [`BODY_BUDGET`].
    pub(crate) fn insert(&mut self, seq: i64, body: Body, refs: usize) {
        let size = body.payload.len() + body.guid.len();
        if refs == 0 || self.bytes + size > BODY_BUDGET || self.slots.contains_key(&seq) {
            return;
        }
        self.bytes += size;
        self.slots.insert(seq, Slot { body, refs });
    }

    /// Whether the body of message `seq` is kept.
    pub(crate) fn contains(&self, seq: i64) -> bool {
        self.slots.contains_key(&seq)
    }

    /// The body of message `seq`, if kept.
    pub(crate) fn get(&self, seq: i64) -> Option<Body> {
        self.slots.get(&seq).map(|s| s.body.clone())
    }

    /// One delivery of message `seq` is done (delivered, dead or gone); the
    /// body goes with the last one.
    pub(crate) fn release(&mut self, seq: i64) {
        let Some(slot) = self.slots.get_mut(&seq) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            if let Some(slot) = self.slots.remove(&seq) {
                self.bytes -= slot.body.payload.len() + slot.body.guid.len();
            }
        }
    }

    /// Forgets everything (the pending set was re-read from the tables).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.slots.shrink_to_fit();
        self.bytes = 0;
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Body {
        Body {
            payload: Arc::from("x".repeat(n)),
            guid: Arc::from(""),
        }
    }

    #[test]
    fn a_body_lives_until_its_last_delivery_and_the_budget_holds() {
        let mut b = Bodies::default();
        b.insert(1, body(10), 2);
        b.release(1);
        assert!(b.get(1).is_some(), "one delivery is still pending");
        b.release(1);
        assert!(b.get(1).is_none());
        assert_eq!(b.bytes(), 0);
        b.insert(2, body(BODY_BUDGET), 1);
        b.insert(3, body(1), 1);
        assert!(b.get(2).is_some());
        assert!(b.get(3).is_none(), "over the budget: read back later");
        b.release(2);
        b.insert(3, body(1), 1);
        assert!(b.get(3).is_some(), "room again");
        b.clear();
        assert_eq!(b.bytes(), 0);
    }
}
