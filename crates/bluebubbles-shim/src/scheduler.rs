//! The in-memory delivery scheduler: one lane per (webhook, conversation)
//! holding its pending delivery ids in order, a ready queue of lanes whose
//! head is due, and a timer heap for heads waiting out a backoff.
//!
//! SQLite stays the journal; this is the index the delivery worker reads,
//! so a wake-up costs O(ready lanes), never a table scan. Each lane has at
//! most one delivery in flight, which keeps order per conversation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// A lane: (webhook id, conversation guid).
pub(crate) type LaneKey = (i64, Arc<str>);

/// One pending delivery as the scheduler knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `queue.id`.
    pub(crate) id: i64,
    /// The message's `seq` (order within the lane; keys its body).
    pub(crate) seq: i64,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// Earliest time of the next attempt, ms since the epoch.
    pub(crate) next_ms: i64,
}

/// A due head handed to the delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dispatch {
    pub(crate) lane: LaneKey,
    pub(crate) entry: Entry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneState {
    /// Queued in `ready`.
    Ready,
    /// Waiting in `timers` for this time.
    Armed(i64),
    /// Its head is in flight.
    Busy(i64),
}

#[derive(Debug)]
struct Lane {
    queue: VecDeque<Entry>,
    state: LaneState,
}

/// What became of a dispatched delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Delivered or dead: leaves the lane.
    Done,
    /// Failed; retry at `next_ms`.
    Retry { attempts: u32, next_ms: i64 },
}

/// The scheduler's state. Pure data: every method takes the time it needs.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    lanes: HashMap<LaneKey, Lane>,
    ready: VecDeque<LaneKey>,
    timers: BinaryHeap<Reverse<(i64, LaneKey)>>,
    /// Deliveries finished in memory whose result is not yet committed; a
    /// reload must not bring them back.
    settling: HashSet<i64>,
    pending: usize,
    /// Failed attempts per webhook since its last success.
    failures: HashMap<i64, u32>,
}

/// Failed attempts in a row (no success between) after which a webhook
/// counts as down: its next success releases the heads waiting out a
/// backoff (see [`Scheduler::attempted`]). One failing conversation among
/// working ones never gets there, so it keeps its backoff.
pub(crate) const DOWN_AFTER: u32 = 4;

impl Scheduler {
    /// Deliveries waiting or in flight.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Appends a delivery to its lane (entries arrive in `seq` order; an
    /// older `seq`, e.g. a requeued dead letter, is put in its place).
    /// A delivery already in its lane is left alone.
    pub(crate) fn push(&mut self, lane: LaneKey, entry: Entry, now_ms: i64) {
        let l = self.lanes.entry(lane.clone()).or_insert_with(|| Lane {
            queue: VecDeque::new(),
            state: LaneState::Armed(i64::MAX),
        });
        let at = l.queue.partition_point(|e| e.seq < entry.seq);
        if l.queue.get(at).is_some_and(|e| e.seq == entry.seq) {
            return;
        }
        self.pending += 1;
        let new_head = at == 0 && !matches!(l.state, LaneState::Busy(_));
        l.queue.insert(at, entry);
        if new_head || l.queue.len() == 1 {
            self.arm(&lane, now_ms);
        }
    }

    /// Puts the lane's head in `ready` or `timers` (unless it is busy), and
    /// forgets an empty lane.
    fn arm(&mut self, lane: &LaneKey, now_ms: i64) {
        let Some(l) = self.lanes.get_mut(lane) else {
            return;
        };
        if matches!(l.state, LaneState::Busy(_)) {
            return;
        }
        let Some(head) = l.queue.front() else {
            self.lanes.remove(lane);
            return;
        };
        if head.next_ms <= now_ms {
            if l.state != LaneState::Ready {
                l.state = LaneState::Ready;
                self.ready.push_back(lane.clone());
            }
        } else if l.state != LaneState::Armed(head.next_ms) {
            l.state = LaneState::Armed(head.next_ms);
            self.timers.push(Reverse((head.next_ms, lane.clone())));
        }
    }

    /// Takes up to `max` due heads, marking their lanes busy.
    pub(crate) fn take(&mut self, now_ms: i64, max: usize) -> Vec<Dispatch> {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now_ms {
                break;
            }
            let Some(Reverse((at, lane))) = self.timers.pop() else {
                break;
            };
            if let Some(l) = self.lanes.get_mut(&lane) {
                if l.state == LaneState::Armed(at) {
                    l.state = LaneState::Ready;
                    self.ready.push_back(lane);
                }
            }
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(lane) = self.ready.pop_front() else {
                break;
            };
            let Some(l) = self.lanes.get_mut(&lane) else {
                continue;
            };
            if l.state != LaneState::Ready {
                continue;
            }
            let Some(head) = l.queue.front().copied() else {
                self.lanes.remove(&lane);
                continue;
            };
            l.state = LaneState::Busy(head.id);
            out.push(Dispatch { lane, entry: head });
        }
        out
    }

    /// Up to `max` deliveries queued behind the head of `lane` (the next
    /// ones it will dispatch, in order).
    pub(crate) fn upcoming(&self, lane: &LaneKey, max: usize) -> Vec<Entry> {
        self.lanes.get(lane).map_or_else(Vec::new, |l| {
            l.queue.iter().skip(1).take(max).copied().collect()
        })
    }

    /// The earliest time a waiting head becomes due (may be stale: waking
    /// early is harmless).
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Whether some lane is ready now.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Records what became of a dispatched delivery and frees its lane.
    /// A `Done` whose result goes to the journal is marked with
    /// [`Scheduler::settling`] first.
    pub(crate) fn complete(&mut self, lane: &LaneKey, id: i64, how: Completion, now_ms: i64) {
        let Some(l) = self.lanes.get_mut(lane) else {
            return;
        };
        if l.state == LaneState::Busy(id) {
            l.state = LaneState::Armed(i64::MAX);
        }
        if let Some(pos) = l.queue.iter().position(|e| e.id == id) {
            match how {
                Completion::Done => {
                    l.queue.remove(pos);
                    self.pending = self.pending.saturating_sub(1);
                }
                Completion::Retry { attempts, next_ms } => {
                    if let Some(e) = l.queue.get_mut(pos) {
                        e.attempts = attempts;
                        e.next_ms = next_ms;
                    }
                }
            }
        }
        self.arm(lane, now_ms);
    }

    /// Counts an attempt to webhook `webhook`. A success after it was down
    /// ([`DOWN_AFTER`] failures in a row) makes every head of its lanes
    /// that failed before due now: the receiver is back, and each
    /// conversation need not wait out its own backoff (up to minutes) to
    /// find out. Order per conversation is unchanged; attempts still count
    /// toward the dead-letter budget.
    pub(crate) fn attempted(&mut self, webhook: i64, ok: bool, now_ms: i64) {
        if !ok {
            *self.failures.entry(webhook).or_default() += 1;
            return;
        }
        if self.failures.remove(&webhook).unwrap_or(0) < DOWN_AFTER {
            return;
        }
        let waiting: Vec<LaneKey> = self
            .lanes
            .iter_mut()
            .filter(|(k, l)| {
                k.0 == webhook && matches!(l.state, LaneState::Armed(at) if at > now_ms)
            })
            .filter_map(|(k, l)| {
                let head = l.queue.front_mut()?;
                (head.attempts > 0 && head.next_ms > now_ms).then(|| {
                    head.next_ms = now_ms;
                    k.clone()
                })
            })
            .collect();
        for lane in waiting {
            self.arm(&lane, now_ms);
        }
    }

    /// The result of delivery `id` is on its way to the journal: until
    /// [`Scheduler::settled`], a reload must not bring it back. Marked
    /// before the result is queued, and the lane freed after, so results
    /// reach the writer in each lane's order.
    pub(crate) fn settling(&mut self, id: i64) {
        self.settling.insert(id);
    }

    /// The result of delivery `id` is committed.
    pub(crate) fn settled(&mut self, id: i64) {
        self.settling.remove(&id);
    }

    /// Frees every busy lane (the worker stopped; its attempts are lost and
    /// will be retried).
    pub(crate) fn release_all(&mut self, now_ms: i64) {
        let busy: Vec<LaneKey> = self
            .lanes
            .iter()
            .filter(|(_, l)| matches!(l.state, LaneState::Busy(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for lane in busy {
            if let Some(l) = self.lanes.get_mut(&lane) {
                l.state = LaneState::Armed(i64::MAX);
            }
            self.arm(&lane, now_ms);
        }
    }

    /// Gives a dispatched delivery back to its lane untried.
    pub(crate) fn abandon(&mut self, lane: &LaneKey, id: i64, now_ms: i64) {
        if let Some(l) = self.lanes.get_mut(lane) {
            if l.state == LaneState::Busy(id) {
                l.state = LaneState::Armed(i64::MAX);
            }
        }
        self.arm(lane, now_ms);
    }

    /// Replaces the contents with `rows` (ordered by lane, then seq), as read
    /// from the journal, keeping in-flight heads busy and leaving out results
    /// not yet committed.
    pub(crate) fn reload(&mut self, rows: Vec<(LaneKey, Entry)>, now_ms: i64) {
        let busy: HashMap<LaneKey, i64> = self
            .lanes
            .iter()
            .filter_map(|(k, l)| match l.state {
                LaneState::Busy(id) => Some((k.clone(), id)),
                _ => None,
            })
            .collect();
        let settling = std::mem::take(&mut self.settling);
        *self = Self::default();
        for (lane, entry) in rows {
            if settling.contains(&entry.id) {
                continue;
            }
            self.push(lane, entry, now_ms);
        }
        for (lane, id) in busy {
            if let Some(l) = self.lanes.get_mut(&lane) {
                if l.queue.front().is_some_and(|e| e.id == id) {
                    l.state = LaneState::Busy(id);
                }
            }
        }
        self.settling = settling;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(w: i64, c: &str) -> LaneKey {
        (w, Arc::from(c))
    }

    fn e(id: i64, next_ms: i64) -> Entry {
        Entry {
            id,
            seq: id,
            attempts: 0,
            next_ms,
        }
    }

    fn ids(d: &[Dispatch]) -> Vec<i64> {
        d.iter().map(|d| d.entry.id).collect()
    }

    /// Fails every due head (attempt counted, retry at `next_ms`).
    fn fail_all(s: &mut Scheduler, now: i64, next_ms: i64) {
        for d in s.take(now, usize::MAX) {
            let how = Completion::Retry {
                attempts: d.entry.attempts + 1,
                next_ms,
            };
            s.complete(&d.lane, d.entry.id, how, now);
            s.attempted(d.lane.0, false, now);
        }
    }

    #[test]
    fn a_webhook_back_from_down_releases_heads_waiting_out_a_backoff() {
        let mut s = Scheduler::default();
        let (a, b, other) = (lane(1, "a"), lane(1, "b"), lane(2, "c"));
        s.push(a.clone(), e(1, 0), 0);
        s.push(a.clone(), e(2, 0), 0);
        s.push(b.clone(), e(3, 0), 0);
        s.push(other.clone(), e(4, 0), 0);
        // Webhook 1 is down: its heads fail, then wait minutes.
        // (Webhook 2 fails twice as well, fewer than DOWN_AFTER in all.)
        fail_all(&mut s, 0, 1);
        fail_all(&mut s, 1, 300_000);
        assert!(s.take(10, 8).is_empty(), "all waiting out a backoff");
        // A success to webhook 2 (not down) changes nothing for webhook 1;
        // one success to webhook 1 after it was down releases its heads in
        // order, and the failed attempts still count.
        s.attempted(2, true, 10);
        assert!(s.take(10, 8).is_empty());
        s.attempted(1, true, 10);
        let d = s.take(10, 8);
        let mut got = ids(&d);
        got.sort_unstable();
        assert_eq!(got, vec![1, 3]);
        assert!(d.iter().all(|d| d.entry.attempts == 2));
        assert_eq!(
            s.next_due(),
            Some(300_000),
            "webhook 2's head keeps its time"
        );
    }

    #[test]
    fn one_failing_conversation_among_working_ones_keeps_its_backoff() {
        let mut s = Scheduler::default();
        let (bad, good) = (lane(1, "bad"), lane(1, "good"));
        s.push(bad.clone(), e(1, 0), 0);
        for id in 2..20 {
            s.push(good.clone(), e(id, 0), 0);
        }
        for t in 0..10 {
            // The bad head fails once per round; the good lane delivers.
            let d = s.take(t, 8);
            for d in d {
                if d.lane == bad {
                    s.complete(
                        &bad,
                        d.entry.id,
                        Completion::Retry {
                            attempts: 1,
                            next_ms: 1_000_000,
                        },
                        t,
                    );
                    s.attempted(1, false, t);
                } else {
                    s.complete(&good, d.entry.id, Completion::Done, t);
                    s.attempted(1, true, t);
                }
            }
        }
        assert_eq!(
            s.next_due(),
            Some(1_000_000),
            "the failing head still waits"
        );
        assert!(s.take(100, 8).iter().all(|d| d.lane != bad));
    }

    #[test]
    fn one_in_flight_per_lane_in_order() {
        let mut s = Scheduler::default();
        let (a, b) = (lane(1, "a"), lane(1, "b"));
        s.push(a.clone(), e(1, 0), 0);
        s.push(a.clone(), e(2, 0), 0);
        s.push(b.clone(), e(3, 0), 0);
        assert_eq!(ids(&s.take(0, 10)), [1, 3]);
        assert!(s.take(0, 10).is_empty(), "lanes are busy");
        s.complete(&a, 1, Completion::Done, 0);
        assert_eq!(ids(&s.take(0, 10)), [2]);
        assert_eq!(s.pending(), 2);
    }

    #[test]
    fn a_retry_waits_for_its_time_and_keeps_its_place() {
        let mut s = Scheduler::default();
        let a = lane(1, "a");
        s.push(a.clone(), e(1, 0), 0);
        s.push(a.clone(), e(2, 0), 0);
        assert_eq!(ids(&s.take(0, 10)), [1]);
        s.complete(
            &a,
            1,
            Completion::Retry {
                attempts: 1,
                next_ms: 100,
            },
            0,
        );
        assert_eq!(s.next_due(), Some(100));
        assert!(s.take(99, 10).is_empty());
        let d = s.take(100, 10);
        assert_eq!(ids(&d), [1]);
        assert_eq!(d[0].entry.attempts, 1);
    }

    #[test]
    fn a_requeued_older_entry_goes_first_and_reload_keeps_busy_and_settling() {
        let mut s = Scheduler::default();
        let a = lane(1, "a");
        s.push(a.clone(), e(5, 0), 0);
        s.push(a.clone(), e(2, 0), 0);
        assert_eq!(ids(&s.take(0, 10)), [2]);
        s.settling(2);
        s.complete(&a, 2, Completion::Done, 0);
        assert_eq!(ids(&s.take(0, 10)), [5]);
        // The journal still lists 2 (its result is not committed) and 5.
        s.reload(vec![(a.clone(), e(2, 0)), (a.clone(), e(5, 0))], 0);
        assert!(s.take(0, 10).is_empty(), "5 is still in flight");
        s.settled(2);
        s.complete(&a, 5, Completion::Done, 0);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn abandoning_one_lane_and_releasing_all() {
        let mut s = Scheduler::default();
        s.push(lane(1, "a"), e(1, 0), 0);
        s.push(lane(2, "a"), e(2, 0), 0);
        s.push(lane(2, "a"), e(2, 0), 0);
        assert_eq!(s.pending(), 2, "a known delivery is not added twice");
        assert_eq!(s.take(0, 10).len(), 2);
        s.abandon(&lane(1, "a"), 1, 0);
        assert_eq!(ids(&s.take(0, 10)), [1]);
        s.release_all(0);
        let mut again = ids(&s.take(0, 10));
        again.sort_unstable();
        assert_eq!(again, [1, 2]);
    }
}
