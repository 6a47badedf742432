//! Store internals: group commit, savepoints, failed commits, restart
//! reload, dead letters, pruning and the query plans of hot statements.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use moltbot_channel::{Conversation, DeliveryMode};

use super::*;
use crate::bb;

const SHAPE: Shaper = Shaper {
    participants: bb::NOTIFICATION_PARTICIPANTS,
    encode: bb::new_message_event,
};

const HOOK: &str = "http://127.0.0.1:9/hook";

/// A folder of its own for a test's database, removed on drop.
pub(super) struct TempDb(PathBuf);

impl TempDb {
    pub(super) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "bb-store-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(super) fn path(&self) -> PathBuf {
        self.0.join("store.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn msg(id: &str, chat: &str, ts: i64) -> InboundMessage {
    InboundMessage {
        message_id: id.into(),
        conversation: Conversation {
            id: chat.into(),
            kind: ChatType::Group,
            label: None,
        },
        sender: Party {
            id: "ann@example.com".into(),
            name: Some("Ann".into()),
        },
        body: format!("body of {id}"),
        timestamp_ms: ts,
        reply_to_id: None,
        event_type: "meeting.started".into(),
        mode: DeliveryMode::Message,
        participants: Vec::new(),
        raw: None,
        mentioned: None,
        attachments: Vec::new(),
        upstream_id: None,
    }
}

fn backoff() -> Backoff {
    Backoff {
        base: std::time::Duration::from_millis(100),
        max: std::time::Duration::from_millis(100),
    }
}

/// Parks the writer inside a job until the returned sender is dropped, so
/// jobs submitted meanwhile are all queued when it comes back.
fn hold_writer(store: &Store) -> std_mpsc::Sender<()> {
    let (release, wait) = std_mpsc::channel::<()>();
    let (started, is_started) = std_mpsc::channel();
    store.0.journal.submit(
        Durability::Normal,
        move |_, _| {
            let _ = started.send(());
            let _ = wait.recv();
            Ok(())
        },
        |_: Result<(), ShimError>| {},
    );
    is_started.recv().unwrap();
    release
}

/// Returns once every job submitted before has committed and its effects
/// are applied (the journal is FIFO).
fn flush(store: &Store) {
    store
        .0
        .journal
        .call(Durability::Normal, |_, _| Ok(()))
        .unwrap();
}

fn count(store: &Store, sql: &str) -> i64 {
    store
        .read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

/// Stores one message as a job of its own.
fn one(
    store: &Store,
    m: InboundMessage,
    now_ms: i64,
    shaper: Shaper,
) -> impl Future<Output = Result<bool, ShimError>> + use<> {
    let each = store.record_inbound(vec![m].into(), now_ms, shaper, false);
    async move { each.await.pop().unwrap() }
}

/// Stores messages again after a storage failure (the inbound worker's retry).
fn again(
    store: &Store,
    messages: Vec<InboundMessage>,
) -> impl Future<Output = Vec<Result<bool, ShimError>>> + use<> {
    store.record_inbound(messages.into(), 1, SHAPE, true)
}

fn picky(m: &MessageRecord, c: &ChatRecord) -> String {
    assert_ne!(m.guid, "bad", "this message cannot be shaped");
    bb::new_message_event(m, c)
}

/// A delivery result nobody waits on shares the commit of the message
/// queued behind it (and its sync), and one alone still commits.
#[tokio::test]
async fn delivery_results_share_the_next_commit_and_commit_alone_too() {
    let db = TempDb::new();
    let store = Store::open(db.path()).unwrap();
    let (done, is_done) = std_mpsc::channel();
    let lazy = |done: std_mpsc::Sender<()>| {
        move |r: Result<(), ShimError>| {
            r.unwrap();
            let _ = done.send(());
        }
    };
    let before = store.commits();
    let gate = hold_writer(&store);
    store
        .0
        .journal
        .submit(Durability::Lazy, |_, _| Ok(()), lazy(done.clone()));
    let stored = one(&store, msg("m1", "zoom;+;c1", 1), 1, SHAPE);
    drop(gate);
    assert!(stored.await.unwrap());
    is_done
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(store.commits() - before, 2, "the parked group and one more");

    store
        .0
        .journal
        .submit(Durability::Lazy, |_, _| Ok(()), lazy(done));
    is_done
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(store.commits() - before, 3);
}

#[tokio::test]
async fn queued_inbound_messages_share_one_commit_and_all_are_acknowledged() {
    let db = TempDb::new();
    let store = Store::open(db.path()).unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let before = store.commits();
    let gate = hold_writer(&store);
    let pending: Vec<_> = (0..200)
        .map(|i| {
            one(
                &store,
                msg(&format!("m{i}"), &format!("zoom;+;c{}", i % 5), i),
                1,
                SHAPE,
            )
        })
        .collect();
    drop(gate);
    for p in pending {
        assert!(p.await.unwrap());
    }
    assert_eq!(
        store.commits() - before,
        2,
        "the parked group and one group for all 200"
    );
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending), (200, 200));
    let other = Store::open(db.path()).unwrap();
    assert_eq!(other.outbox_stats().unwrap().depth, 200);
    assert_eq!(count(&other, "SELECT COUNT(*) FROM queue"), 200);
}

#[tokio::test]
async fn a_failing_event_is_rolled_back_alone() {
    let store = Store::open_in_memory().unwrap();
    let shape = Shaper {
        participants: 10,
        encode: picky,
    };
    let gate = hold_writer(&store);
    let good1 = one(&store, msg("good1", "zoom;+;a", 1), 1, shape);
    let bad = one(&store, msg("bad", "zoom;+;b", 2), 1, shape);
    let good2 = one(&store, msg("good2", "zoom;+;a", 3), 1, shape);
    drop(gate);
    assert!(good1.await.unwrap());
    let err = bad.await.unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert!(good2.await.unwrap());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM messages"), 2);
    // The bad event's conversation, written before it failed, is gone too.
    assert!(store.chat("zoom;+;b").unwrap().is_none());
    assert_eq!(store.outbox_stats().unwrap().depth, 2);
    // The writer carries on.
    assert!(
        one(&store, msg("next", "zoom;+;b", 4), 1, SHAPE)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_failing_event_inside_one_job_fails_alone() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let shape = Shaper {
        participants: 10,
        encode: picky,
    };
    let each = store
        .record_inbound(
            vec![
                msg("good1", "zoom;+;a", 1),
                msg("bad", "zoom;+;b", 2),
                msg("good1", "zoom;+;a", 1),
                msg("good2", "zoom;+;a", 3),
            ]
            .into(),
            1,
            shape,
            false,
        )
        .await;
    assert!(matches!(each[0], Ok(true)));
    assert!(each[1].is_err());
    assert!(matches!(each[2], Ok(false)), "a repeat inside the job");
    assert!(matches!(each[3], Ok(true)));
    assert!(store.chat("zoom;+;b").unwrap().is_none());
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending), (2, 2));
    assert_eq!(store.take_due(crate::now_ms(), 10).len(), 1, "one lane");
}

#[tokio::test]
async fn a_failed_commit_acknowledges_nothing_in_its_group() {
    let store = Store::open_in_memory().unwrap();
    let gate = hold_writer(&store);
    let good1 = one(&store, msg("good1", "zoom;+;a", 1), 1, SHAPE);
    // A deferred foreign-key violation passes its savepoint but fails COMMIT.
    let (tx, breaker) = tokio::sync::oneshot::channel();
    store.0.journal.submit(
        Durability::Full,
        |conn, _| {
            conn.execute_batch(
                "PRAGMA defer_foreign_keys = ON;
                 CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TEMP TABLE child (parent INTEGER REFERENCES parent (id));
                 INSERT INTO child VALUES (999999);",
            )?;
            Ok(())
        },
        move |r: Result<(), ShimError>| {
            let _ = tx.send(r);
        },
    );
    let good2 = one(&store, msg("good2", "zoom;+;a", 3), 1, SHAPE);
    drop(gate);
    assert!(good1.await.is_err(), "not acknowledged");
    assert!(breaker.await.unwrap().is_err());
    assert!(good2.await.is_err(), "not acknowledged");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM messages"), 0);
    assert_eq!(store.outbox_stats().unwrap().depth, 0);
    // A later message is not stored ahead of the failed ones.
    let later = one(&store, msg("good3", "zoom;+;a", 4), 1, SHAPE).await;
    assert!(matches!(later, Err(ShimError::Unavailable(_))), "{later:?}");
    // Sent again (as the inbound worker does), they are stored, in order.
    let each = again(
        &store,
        vec![msg("good1", "zoom;+;a", 1), msg("good2", "zoom;+;a", 3)],
    )
    .await;
    assert!(each.iter().all(|r| matches!(r, Ok(true))), "{each:?}");
    assert_eq!(store.outbox_stats().unwrap().depth, 2);
    assert!(
        one(&store, msg("good3", "zoom;+;a", 4), 1, SHAPE)
            .await
            .unwrap()
    );
}

fn guid_of(store: &Store, d: &Dispatch) -> String {
    store.payloads(&[d.entry.id], SHAPE).unwrap()[0]
        .clone()
        .unwrap()
        .1
}

#[tokio::test]
async fn a_restart_reloads_the_scheduler_in_order_per_conversation() {
    let db = TempDb::new();
    {
        let store = Store::open(db.path()).unwrap();
        store.add_webhook(HOOK, &["*".into()], 0).unwrap();
        for (id, chat) in [
            ("a1", "A"),
            ("b1", "B"),
            ("a2", "A"),
            ("a3", "A"),
            ("b2", "B"),
        ] {
            let chat = format!("zoom;+;{chat}");
            assert!(one(&store, msg(id, &chat, 1), 1, SHAPE).await.unwrap());
        }
    }
    let store = Store::open(db.path()).unwrap();
    assert_eq!(store.outbox_stats().unwrap().pending, 5);
    let now = crate::now_ms();
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..10 {
        let due = store.take_due(now, 10);
        if due.is_empty() {
            break;
        }
        assert!(due.len() <= 2, "one in flight per conversation");
        for d in &due {
            seen.push(guid_of(&store, d));
            store.finish_attempt(d, &Attempt::Delivered, now, 3, &backoff(), 0.0, SHAPE);
        }
    }
    let a: Vec<_> = seen.iter().filter(|g| g.starts_with('a')).collect();
    let b: Vec<_> = seen.iter().filter(|g| g.starts_with('b')).collect();
    assert_eq!(a, ["a1", "a2", "a3"]);
    assert_eq!(b, ["b1", "b2"]);
    flush(&store);
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending, stats.delivered), (0, 0, 5));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM queue"), 0);
}

/// A message for two webhooks has a row per webhook, sharing its seq (and
/// its one body in memory); each delivery removes its own row.
#[tokio::test]
async fn a_message_stays_until_its_last_webhook_has_it() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    store
        .add_webhook("http://127.0.0.1:9/other", &["*".into()], 0)
        .unwrap();
    one(&store, msg("m1", "zoom;+;A", 1), 1, SHAPE)
        .await
        .unwrap();
    let now = crate::now_ms();
    let due = store.take_due(now, 10);
    assert_eq!(due.len(), 2, "one delivery per webhook");
    assert_eq!(due[0].entry.seq, due[1].entry.seq, "one message");
    assert_ne!(due[0].entry.id, due[1].entry.id, "two rows");
    assert!(lock(&store.0.shared.bodies).contains(due[0].entry.seq));
    let rows = |store: &Store| count(store, "SELECT COUNT(*) FROM queue");
    assert_eq!((rows(&store), store.outbox_stats().unwrap().depth), (2, 2));
    store.finish_attempt(&due[0], &Attempt::Delivered, now, 3, &backoff(), 0.0, SHAPE);
    flush(&store);
    assert_eq!(rows(&store), 1);
    assert_eq!(store.outbox_stats().unwrap().depth, 1);
    assert!(
        lock(&store.0.shared.bodies).contains(due[1].entry.seq),
        "the body stays for the second webhook"
    );
    store.finish_attempt(&due[1], &Attempt::Delivered, now, 3, &backoff(), 0.0, SHAPE);
    flush(&store);
    assert_eq!(rows(&store), 0);
    assert!(!lock(&store.0.shared.bodies).contains(due[1].entry.seq));
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending, stats.delivered), (0, 0, 2));
    // A result for a delivery that is already gone changes nothing.
    store.finish_attempt(&due[1], &Attempt::Delivered, now, 3, &backoff(), 0.0, SHAPE);
    flush(&store);
    assert_eq!(store.outbox_stats().unwrap().delivered, 2);
}

/// Messages stored before any webhook wait in one row each; the webhooks
/// configured later get them in order; deleting a webhook drops its rows
/// (dead letters included) and nothing else.
#[tokio::test]
async fn waiting_messages_go_to_the_webhooks_that_come() {
    let store = Store::open_in_memory().unwrap();
    for (i, id) in ["w1", "w2"].into_iter().enumerate() {
        one(&store, msg(id, "zoom;+;A", i as i64), 1, SHAPE)
            .await
            .unwrap();
    }
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending), (2, 0));
    assert!(store.take_due(i64::MAX, 10).is_empty(), "no webhook yet");
    let other = "http://127.0.0.1:9/other";
    store
        .sync_config_webhooks(&[HOOK.into(), other.into()], 5)
        .unwrap();
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending), (4, 4));
    let hooks = store.webhooks().unwrap();
    let id_of = |url: &str| hooks.iter().find(|w| w.url == url).unwrap().id;
    let mut seen: Vec<(i64, String)> = Vec::new();
    for _ in 0..4 {
        let due = store.take_due(i64::MAX, 10);
        assert!(due.len() <= 2, "one in flight per lane");
        for d in &due {
            let guid = guid_of(&store, d);
            seen.push((d.lane.0, guid.clone()));
            if d.lane.0 == id_of(HOOK) {
                store.finish_attempt(d, &Attempt::Delivered, 1, 3, &backoff(), 0.0, SHAPE);
            } else if guid == "w1" {
                // Dies at once (one attempt allowed); w2 then stays in flight.
                let failed = Attempt::Failed("HTTP 404".into());
                store.finish_attempt(d, &failed, 1, 1, &backoff(), 0.0, SHAPE);
            }
        }
    }
    flush(&store);
    let to = |url: &str| {
        seen.iter()
            .filter(|(h, _)| *h == id_of(url))
            .map(|(_, g)| g.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(to(HOOK), ["w1", "w2"]);
    assert_eq!(to(other), ["w1", "w2"]);
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending, stats.dead_letters), (2, 1, 1));
    store.delete_webhook(id_of(other)).unwrap();
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending, stats.dead_letters), (0, 0, 0));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM queue"), 0);
}

/// The pruner keeps the oldest message any row still needs, also when that
/// row is a copy made for a second webhook (a higher id, an older seq).
#[tokio::test]
async fn the_oldest_needed_message_counts_copied_rows() {
    let store = Store::open_in_memory().unwrap();
    for (i, id) in ["w1", "w2"].into_iter().enumerate() {
        one(&store, msg(id, "zoom;+;A", i as i64), 1, SHAPE)
            .await
            .unwrap();
    }
    store
        .sync_config_webhooks(&[HOOK.into(), "http://127.0.0.1:9/other".into()], 5)
        .unwrap();
    let oldest = |store: &Store| {
        store
            .0
            .journal
            .call(Durability::Normal, |conn, _| queue::oldest_unbuilt(conn))
            .unwrap()
    };
    let rowid = |guid: &str| {
        count(
            &store,
            &format!("SELECT rowid FROM messages WHERE guid = '{guid}'"),
        )
    };
    assert_eq!(oldest(&store), Some(rowid("w1")));
    // w1's first row is delivered; its copy (id 3) still needs w1.
    let first: i64 = count(&store, "SELECT MIN(id) FROM queue");
    store
        .0
        .journal
        .call(Durability::Normal, move |conn, _| {
            Ok(conn.execute("DELETE FROM queue WHERE id = ?1", [first])?)
        })
        .unwrap();
    assert_eq!(oldest(&store), Some(rowid("w1")));
    store
        .0
        .journal
        .call(Durability::Normal, |conn, _| {
            Ok(conn.execute("DELETE FROM queue WHERE guid = 'w1'", [])?)
        })
        .unwrap();
    assert_eq!(oldest(&store), Some(rowid("w2")));
}

#[tokio::test]
async fn retries_keep_order_then_dead_letter_and_requeue() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    for id in ["m1", "m2"] {
        one(&store, msg(id, "zoom;+;A", 1), 1, SHAPE).await.unwrap();
    }
    let now = 1_000_000;
    let failed = Attempt::Failed("webhook answered HTTP 500".into());
    let d = store.take_due(now, 10);
    assert_eq!(d.len(), 1);
    assert_eq!(
        store.finish_attempt(&d[0], &failed, now, 2, &backoff(), 0.0, SHAPE),
        AttemptOutcome::Retry
    );
    // m2 waits behind m1's backoff.
    assert!(store.take_due(now, 10).is_empty());
    let (next, _) = store.next_due();
    let next = next.unwrap();
    assert!(next > now);
    let d2 = store.take_due(next, 10);
    assert_eq!(d2.len(), 1);
    assert_eq!(d2[0].entry.id, d[0].entry.id);
    assert_eq!(d2[0].entry.attempts, 1);
    assert_eq!(
        store.finish_attempt(&d2[0], &failed, next, 2, &backoff(), 0.0, SHAPE),
        AttemptOutcome::Dead
    );
    // Dead: m2 goes next.
    let d3 = store.take_due(next, 10);
    assert_eq!(guid_of(&store, &d3[0]), "m2");
    store.finish_attempt(&d3[0], &Attempt::Delivered, next, 2, &backoff(), 0.0, SHAPE);
    flush(&store);
    let stats = store.outbox_stats().unwrap();
    assert_eq!(
        (
            stats.depth,
            stats.pending,
            stats.dead_letters,
            stats.failed,
            stats.delivered
        ),
        (1, 0, 1, 2, 1)
    );
    let dead = store.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].message_guid.as_str(), dead[0].attempts), ("m1", 2));
    assert!(store.requeue(dead[0].id).unwrap());
    let d4 = store.take_due(crate::now_ms(), 10);
    assert_eq!(guid_of(&store, &d4[0]), "m1");
    assert_eq!(d4[0].entry.attempts, 0);
    store.finish_attempt(&d4[0], &Attempt::Delivered, next, 2, &backoff(), 0.0, SHAPE);
    flush(&store);
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.pending, stats.dead_letters), (0, 0, 0));
}

/// `total` messages, a millisecond apart up to `now`, into one conversation.
async fn fill_busy(store: &Store, total: i64, now: i64) {
    for i in 0..total {
        let m = msg(&format!("m{i}"), "zoom;+;busy", now - total + i);
        one(store, m, now, SHAPE).await.unwrap();
    }
}

/// One pruner pass at `now`.
fn prune(store: &Store, now: i64) -> writer::Pruned {
    store
        .0
        .journal
        .call(Durability::Normal, move |conn, w| w.prune(conn, now))
        .unwrap()
}

#[tokio::test]
async fn the_pruner_trims_windows_forgets_quiet_conversations_and_handles() {
    let store = Store::open_in_memory().unwrap();
    let now = crate::now_ms();
    let extra = 25;
    let total = conversations::RECENT_MESSAGES_PER_CHAT + extra;
    fill_busy(&store, total, now).await;
    let mut old = msg("old", "zoom;+;quiet", 1_000);
    old.sender = Party {
        id: "gone@example.com".into(),
        name: None,
    };
    one(&store, old, now, SHAPE).await.unwrap();
    let prune = || prune(&store, now);
    // Every message still waits for a webhook, and its body is built from
    // it when its turn comes: the pruner keeps them all.
    let nothing = writer::Pruned {
        messages: 0,
        chats: 0,
        handles: 0,
    };
    assert_eq!(prune(), nothing);
    assert_eq!(
        store.outbox_stats().unwrap().depth,
        u64::try_from(total + 1).unwrap()
    );
    // Delivered, they may go.
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    deliver_all(&store, now);
    assert_eq!(
        prune(),
        writer::Pruned {
            // The quiet conversation's one message too.
            messages: usize::try_from(extra + 1).unwrap(),
            chats: 1,
            handles: 1
        }
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM messages WHERE chat_guid = 'zoom;+;busy'"
        ),
        conversations::RECENT_MESSAGES_PER_CHAT
    );
    // The oldest went, the newest stayed.
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM messages WHERE guid = 'm0'"),
        0
    );
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE guid = 'm{}'",
                total - 1
            )
        ),
        1
    );
    assert!(store.chat("zoom;+;quiet").unwrap().is_none());
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM handles WHERE address = 'gone@example.com'"
        ),
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM handles WHERE address = 'ann@example.com'"
        ),
        1
    );
}

/// A pass is one transaction the groups wait for: it deletes at most
/// `PRUNE_ROWS` messages, trims and quiet conversations alike, and the
/// rest goes in the passes that follow (a quiet conversation goes once its
/// last message has).
#[tokio::test]
async fn a_pruner_pass_deletes_a_bounded_number_of_messages() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let now = crate::now_ms();
    let excess = writer::PRUNE_ROWS + 100;
    fill_busy(
        &store,
        conversations::RECENT_MESSAGES_PER_CHAT + excess,
        now,
    )
    .await;
    let quiet = writer::PRUNE_ROWS + 50;
    let messages = (0..quiet)
        .map(|i| msg(&format!("q{i}"), "zoom;+;quiet", 1_000 + i))
        .collect();
    assert!(
        (store.record_inbound(messages, now, SHAPE, false).await)
            .iter()
            .all(Result::is_ok)
    );
    deliver_all(&store, now);
    // While a pass uses its whole budget, the writer's next idle tick
    // prunes again instead of waiting out the 30 s period. The passes run
    // in one job: between jobs a loaded machine's idle tick would prune too.
    let passes = store
        .0
        .journal
        .call(Durability::Normal, move |conn, w| {
            let mut passes = Vec::new();
            for _ in 0..10 {
                let pass = w.prune(conn, now)?;
                passes.push((pass.messages, pass.chats));
                if !w.prune_soon {
                    break;
                }
            }
            Ok(passes)
        })
        .unwrap();
    let budget = usize::try_from(writer::PRUNE_ROWS).unwrap();
    assert!(passes.iter().all(|p| p.0 <= budget), "{passes:?}");
    assert_eq!(
        passes.iter().map(|p| p.0).sum::<usize>(),
        usize::try_from(excess + quiet).unwrap(),
        "{passes:?}"
    );
    assert_eq!(passes.iter().map(|p| p.1).sum::<usize>(), 1, "{passes:?}");
    assert!(passes.len() >= 3, "{passes:?}");
    assert!(store.chat("zoom;+;quiet").unwrap().is_none());
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM messages"),
        conversations::RECENT_MESSAGES_PER_CHAT
    );
}

/// Delivers every pending message (each conversation in order) and waits
/// for the results' commit.
fn deliver_all(store: &Store, now: i64) {
    for _ in 0..100_000 {
        let due = store.take_due(now, 100);
        if due.is_empty() {
            break;
        }
        for d in &due {
            store.finish_attempt(d, &Attempt::Delivered, now, 3, &backoff(), 0.0, SHAPE);
        }
    }
    flush(store);
    assert_eq!(store.outbox_stats().unwrap().depth, 0);
}

/// A message the pruner would drop stays while its webhook body is still to
/// be built; a dead letter keeps its body in its row and lets its message go.
#[tokio::test]
async fn the_pruner_keeps_what_the_outbox_needs_and_a_dead_letter_keeps_its_body() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let now = crate::now_ms();
    let total = conversations::RECENT_MESSAGES_PER_CHAT + 3;
    one(&store, msg("old", "zoom;+;quiet", 1_000), now, SHAPE)
        .await
        .unwrap();
    fill_busy(&store, total, now).await;
    let prune = || prune(&store, now);
    // The bodies as they were built at the commit, before any is delivered.
    let seqs: Vec<i64> = (1..=total + 1).collect();
    let kept: Vec<String> = seqs
        .iter()
        .map(|&seq| {
            lock(&store.0.shared.bodies)
                .get(seq)
                .unwrap()
                .payload
                .to_string()
        })
        .collect();
    assert_eq!(prune().messages + prune().chats, 0);
    // Read back (no longer in memory, say after a restart): the same bytes.
    let built = store.payloads(&seqs, SHAPE).unwrap();
    for (built, kept) in built.into_iter().zip(&kept) {
        assert_eq!(&built.unwrap().0, kept);
    }
    // The quiet conversation's message dies; the busy one's first three are
    // delivered (the pruner keeps messages from the oldest waiting one on).
    let mut dead = None;
    for _ in 0..10 {
        for d in store.take_due(now, 100) {
            if (2..=4).contains(&d.entry.seq) {
                store.finish_attempt(&d, &Attempt::Delivered, now, 1, &backoff(), 0.0, SHAPE);
            } else if d.entry.seq == 1 {
                let failed = Attempt::Failed("HTTP 500".into());
                store.finish_attempt(&d, &failed, now, 1, &backoff(), 0.0, SHAPE);
                dead = Some(d.entry.id);
            }
        }
    }
    flush(&store);
    let pruned = prune();
    // Three trimmed, and the quiet conversation with its one message.
    assert_eq!((pruned.messages, pruned.chats), (4, 1));
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM messages WHERE guid = 'old'"),
        0
    );
    let letter = store.dead_letter(dead.unwrap()).unwrap().unwrap();
    let body: serde_json::Value = serde_json::from_str(&kept[0]).unwrap();
    assert_eq!(letter.payload, body);
    // A row written before bodies were built on read keeps its own.
    store
        .0
        .journal
        .call(Durability::Normal, |conn, _| {
            Ok(conn.execute("UPDATE queue SET payload = '{\"old\":1}' WHERE id = 6", [])?)
        })
        .unwrap();
    assert_eq!(
        store.payloads(&[6], SHAPE).unwrap()[0].as_ref().unwrap().0,
        r#"{"old":1}"#
    );
    // The next one, still pending, is read back from its message.
    assert_eq!(
        store.payloads(&[5], SHAPE).unwrap()[0].as_ref().unwrap().0,
        kept[4]
    );
}

#[tokio::test]
async fn participants_are_rows_and_a_crowd_is_shaped_without_them() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let mut m = msg("crowd", "zoom;+;meeting:1", 1);
    m.participants = (0..500)
        .map(|i| Party {
            id: format!("p{i}@example.com"),
            name: None,
        })
        .collect();
    one(&store, m, 1, SHAPE).await.unwrap();
    one(&store, msg("after", "zoom;+;meeting:1", 2), 1, SHAPE)
        .await
        .unwrap();
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM chat_participants WHERE chat_guid = 'zoom;+;meeting:1'"
        ),
        501
    );
    assert_eq!(
        store
            .chat("zoom;+;meeting:1")
            .unwrap()
            .unwrap()
            .participants
            .len(),
        501
    );
    let bodies = store.payloads(&[1, 2], SHAPE).unwrap();
    for (body, _) in bodies.into_iter().map(Option::unwrap) {
        assert!(body.len() <= bb::MAX_NOTIFICATION_BYTES);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["data"]["chats"][0].get("participants").is_none());
    }
}

/// A webhook body shaped from the conversation record alone, so a test can
/// compare what the writer used with what the tables hold.
fn chat_only(_: &MessageRecord, c: &ChatRecord) -> String {
    format!("{c:?}")
}

/// A small participant bound, so conversations become crowded quickly.
const CHAT_ONLY: Shaper = Shaper {
    participants: 3,
    encode: chat_only,
};

fn party(id: &str, name: Option<&str>) -> Party {
    Party {
        id: id.into(),
        name: name.map(Into::into),
    }
}

/// The body of the newest outbox message next to the conversation as the
/// tables hold it after the commit (read with the same participant bound).
fn shaped_and_stored(store: &Store, chat: &str) -> (String, String) {
    let seq = count(store, "SELECT MAX(COALESCE(seq, id)) FROM queue");
    let body = lock(&store.0.shared.bodies)
        .get(seq)
        .unwrap()
        .payload
        .to_string();
    let stored = store
        .read(|c| conversations::chat_by_guid(c, chat, Some(CHAT_ONLY.participants)))
        .unwrap()
        .unwrap();
    (body, format!("{stored:?}"))
}

/// The writer's memory of conversations and handles answers every message
/// exactly as the tables would: new participants, renames, a conversation
/// growing crowded, label changes, activity that goes back in time, sends
/// and direct conversations made by other jobs, a message rolled back, a
/// restart and a pruner pass in between.
#[tokio::test]
async fn remembered_conversations_match_the_tables() {
    let db = TempDb::new();
    let chat = "zoom;+;meeting:7";
    let check = |store: &Store, what: &str| {
        let (body, stored) = shaped_and_stored(store, chat);
        assert_eq!(body, stored, "{what}");
    };
    let mut seq = 0;
    let mut next = |store: &Store, m: InboundMessage| {
        seq += 1;
        let m = InboundMessage {
            message_id: format!("{}-{seq}", m.message_id),
            ..m
        };
        one(store, m, 1, CHAT_ONLY)
    };
    {
        let store = Store::open(db.path()).unwrap();
        store.add_webhook(HOOK, &["*".into()], 0).unwrap();
        next(&store, msg("a", chat, 100)).await.unwrap();
        check(&store, "first message");
        next(&store, msg("a", chat, 200)).await.unwrap();
        check(&store, "known conversation, known sender");
        next(&store, msg("a", chat, 150)).await.unwrap();
        check(&store, "an older timestamp does not lower the activity");
        let mut m = msg("b", chat, 300);
        m.sender = party("bob@example.com", None);
        next(&store, m).await.unwrap();
        check(&store, "a new participant");
        let mut m = msg("c", chat, 310);
        m.sender = party("ann@example.com", Some("Ann Smith"));
        next(&store, m).await.unwrap();
        check(&store, "a renamed participant");
        let mut m = msg("d", chat, 320);
        m.conversation.label = Some("Standup".into());
        next(&store, m).await.unwrap();
        check(&store, "a new label");
        // Sent by us into the same conversation (another kind of job).
        store
            .record_sent(Sent {
                guid: "sent-1".into(),
                chat_guid: chat.into(),
                text: "hi".into(),
                date_ms: 400,
                thread_originator: None,
                temp_guid: None,
                attachments: Vec::new(),
                parts: Vec::new(),
            })
            .await
            .unwrap();
        next(&store, msg("e", chat, 350)).await.unwrap();
        check(&store, "after a send");
        // A message that fails after its conversation changed is rolled back.
        let mut bad = msg("bad", chat, 500);
        bad.sender = party("carol@example.com", Some("Carol"));
        bad.message_id = "bad".into();
        let picky_small = Shaper {
            participants: CHAT_ONLY.participants,
            encode: |m, c| {
                assert_ne!(m.guid, "bad", "this message cannot be shaped");
                chat_only(m, c)
            },
        };
        assert!(one(&store, bad, 1, picky_small).await.is_err());
        next(&store, msg("f", chat, 360)).await.unwrap();
        check(&store, "after a rolled-back message");
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM handles WHERE address = 'carol@example.com'"
            ),
            0
        );
        // Crowded: the participant bound is reached.
        for who in ["dan", "eve"] {
            let mut m = msg(who, chat, 370);
            m.sender = party(&format!("{who}@example.com"), None);
            next(&store, m).await.unwrap();
            check(&store, who);
        }
        assert!(store.chat(chat).unwrap().unwrap().participants.len() >= 3);
        next(&store, msg("g", chat, 380)).await.unwrap();
        check(&store, "crowded");
    }
    // A restart starts with no memory; the pruner forgets a quiet one.
    let store = Store::open(db.path()).unwrap();
    let mut m = msg("h", chat, 390);
    m.participants = vec![party("fay@example.com", Some("Fay"))];
    next(&store, m).await.unwrap();
    check(&store, "after a restart");
    next(&store, msg("q", "zoom;+;quiet", 1)).await.unwrap();
    let now = crate::now_ms();
    deliver_all(&store, now);
    prune(&store, now);
    assert!(store.chat("zoom;+;quiet").unwrap().is_none());
    next(&store, msg("q", "zoom;+;quiet", now)).await.unwrap();
    let (body, stored) = shaped_and_stored(&store, "zoom;+;quiet");
    assert_eq!(body, stored, "a pruned conversation comes back");
}

/// A conversation's stored activity is a floor written only when a group
/// raises it by a step; reads, the activity order and the pruner see the
/// newest message all the same.
#[tokio::test]
async fn activity_is_a_floor_that_reads_complete_from_the_newest_message() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    let (busy, quiet) = ("zoom;+;channel:busy", "zoom;+;channel:quiet");
    let floor = |chat: &str| {
        count(
            &store,
            &format!("SELECT last_message_ms FROM chats WHERE guid = '{chat}'"),
        )
    };
    one(&store, msg("q", quiet, 50), 1, SHAPE).await.unwrap();
    one(&store, msg("first", busy, 10), 1, SHAPE).await.unwrap();
    let messages = (0..50)
        .map(|i| msg(&format!("m{i}"), busy, 100 + i))
        .collect();
    let results = store.record_inbound(messages, 1, SHAPE, false).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(floor(busy), 10, "a rise under the step is not written");
    assert_eq!(store.chat(busy).unwrap().unwrap().last_message_ms, 149);
    let order = |store: &Store| -> Vec<String> {
        let (page, total) = store.chats(None, true, 0, 10).unwrap();
        assert_eq!(total, 2);
        page.into_iter().map(|c| c.guid).collect()
    };
    assert_eq!(
        order(&store),
        [busy, quiet],
        "ordered by the newest message"
    );
    // The pruner's cutoff lies between the floor and the newest message.
    deliver_all(&store, 1);
    prune(&store, 149 + writer::CHAT_RETENTION_MS);
    assert!(store.chat(busy).unwrap().is_some(), "a busy one is kept");
    assert!(store.chat(quiet).unwrap().is_none(), "a quiet one goes");

    let later = 10 + known::ACTIVITY_STEP_MS;
    one(&store, msg("later", busy, later), 1, SHAPE)
        .await
        .unwrap();
    assert_eq!(floor(busy), later, "a rise by the step is written");
    assert_eq!(store.chat(busy).unwrap().unwrap().last_message_ms, later);
}

/// After a restart no body is in memory: the bodies queued behind a lane's
/// head are read ahead with it, kept for their one delivery, and released
/// by it.
#[tokio::test]
async fn bodies_behind_a_head_are_read_ahead_and_released_by_their_delivery() {
    let db = TempDb::new();
    let chat = "zoom;+;channel:r";
    {
        let store = Store::open(db.path()).unwrap();
        store.add_webhook(HOOK, &["*".into()], 0).unwrap();
        for i in 0..4 {
            one(&store, msg(&format!("r{i}"), chat, i), 1, SHAPE)
                .await
                .unwrap();
        }
        one(&store, msg("other", "zoom;+;channel:o", 9), 1, SHAPE)
            .await
            .unwrap();
    }
    let store = Store::open(db.path()).unwrap();
    let due = store.take_due(i64::MAX, 8);
    let head = due.iter().find(|d| &*d.lane.1 == chat).unwrap();
    assert_eq!(guid_of(&store, head), "r0");
    assert!(
        store.cached_body(head).is_none(),
        "nothing kept after a restart"
    );
    let seqs = |entries: &[Entry]| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    let ahead = store.read_ahead(head, 2);
    assert_eq!(seqs(&ahead), vec![head.entry.seq + 1, head.entry.seq + 2]);
    let ids: Vec<i64> = ahead.iter().map(|e| e.id).collect();
    for (e, body) in ahead.iter().zip(store.payloads(&ids, SHAPE).unwrap()) {
        let (payload, guid) = body.unwrap();
        store.keep_body(e.seq, body_of(payload, guid));
    }
    assert_eq!(
        seqs(&store.read_ahead(head, 8)),
        vec![head.entry.seq + 3],
        "kept ones are not read again"
    );
    let delivered = |d: &Dispatch| {
        store.finish_attempt(d, &Attempt::Delivered, 1, 10, &backoff(), 0.0, SHAPE);
    };
    delivered(head);
    let next = store.take_due(i64::MAX, 8);
    let second = next
        .iter()
        .find(|d| d.entry.seq == head.entry.seq + 1)
        .unwrap();
    let body = store.cached_body(second).expect("read ahead");
    assert!(body.payload.contains("body of r1"));
    assert_eq!(&*body.guid, "r1");
    delivered(second);
    assert!(
        !lock(&store.0.shared.bodies).contains(second.entry.seq),
        "released"
    );
    assert!(lock(&store.0.shared.bodies).contains(head.entry.seq + 2));
}

fn body_of(payload: String, guid: String) -> Body {
    Body {
        payload: Arc::from(payload),
        guid: Arc::from(guid),
    }
}

/// Every statement that runs per event, per delivery or per pruner step
/// must be a keyed search: no full scan, no temporary sort.
#[test]
fn hot_statements_search_by_key() {
    let db = TempDb::new();
    drop(Store::open(db.path()).unwrap());
    let conn = Connection::open(db.path()).unwrap();
    let hot = [
        conversations::UPSERT_HANDLE,
        conversations::HANDLE_BY_ADDRESS,
        conversations::UPSERT_CHAT,
        conversations::ADD_PARTICIPANT,
        conversations::CHAT_BY_GUID,
        conversations::PARTICIPANTS,
        conversations::PARTICIPANTS_BEYOND,
        conversations::MESSAGE_EXISTS,
        conversations::MESSAGE_BY_GUID,
        conversations::INSERT_MESSAGE,
        conversations::WINDOW_EDGE,
        conversations::TRIM_CHAT,
        conversations::STALE_CHATS,
        conversations::DELETE_CHAT_MESSAGES,
        conversations::DELETE_CHAT_PARTICIPANTS,
        conversations::DELETE_CHAT,
        conversations::PRUNE_HANDLES,
        conversations::HANDLE_CURSOR,
        known::RAISE_ACTIVITY,
        ids::FLOOR,
        queue::INSERT_ROW,
        queue::DELETE_ROW,
        queue::RECORD_FAILURE,
        queue::PAYLOAD,
        queue::KEEP_PAYLOAD,
        queue::ASSIGN,
        queue::COPY_ROW,
        queue::BUMP_META,
        queue::SET_META,
        queue::GET_META,
        queue::DEAD_LETTER,
        queue::REQUEUE,
        queue::DROP_DEAD,
    ];
    for sql in hot {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if !sql.trim_start().starts_with("INSERT") {
            assert!(!plan.is_empty(), "no plan for {sql}");
        }
        // A SELECT without FROM "scans" its one constant row.
        for step in plan.iter().filter(|s| *s != "SCAN CONSTANT ROW") {
            assert!(
                !step.starts_with("SCAN") && !step.contains("TEMP B-TREE"),
                "{sql}\n=> {plan:#?}"
            );
        }
    }
}

/// Caps the database at `pages` pages (`None`: at its current size), the
/// way a full disk stops it growing: the next page needed fails with
/// `SQLITE_FULL`.
fn cap_pages(store: &Store, pages: Option<i64>) {
    store
        .0
        .journal
        .call(Durability::Normal, move |conn, _| {
            let now: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
            conn.pragma_update(None, "max_page_count", pages.unwrap_or(now))?;
            Ok(())
        })
        .unwrap();
}

fn big(id: &str, chat: &str, ts: i64) -> InboundMessage {
    let mut m = msg(id, chat, ts);
    m.body = "x".repeat(64 * 1024);
    m
}

#[tokio::test]
async fn a_full_disk_refuses_in_order_reports_and_recovers() {
    let store = Store::open_in_memory().unwrap();
    store.add_webhook(HOOK, &["*".into()], 0).unwrap();
    assert!(
        one(&store, msg("m0", "zoom;+;a", 1), 1, SHAPE)
            .await
            .unwrap()
    );
    cap_pages(&store, None);
    let each = store
        .record_inbound(
            vec![
                big("m1", "zoom;+;a", 2),
                msg("m2", "zoom;+;a", 3),
                msg("m3", "zoom;+;b", 4),
            ]
            .into(),
            1,
            SHAPE,
            false,
        )
        .await;
    assert!(
        matches!(&each[0], Err(e) if e.is_transient() && e.to_string().contains("full")),
        "{each:?}"
    );
    // The small ones might fit, but are not stored ahead of the first.
    assert!(
        each[1..]
            .iter()
            .all(|r| matches!(r, Err(ShimError::Unavailable(_)))),
        "{each:?}"
    );
    let later = one(&store, msg("m4", "zoom;+;a", 5), 1, SHAPE).await;
    assert!(matches!(later, Err(ShimError::Unavailable(_))), "{later:?}");
    let stats = store.outbox_stats().unwrap();
    assert!(
        stats
            .store_error
            .as_deref()
            .is_some_and(|e| e.contains("full")),
        "{stats:?}"
    );
    assert_eq!(stats.depth, 1, "only m0 was acknowledged and stored");
    // Still full: the retry is refused again, nothing is lost or reordered.
    let each = again(
        &store,
        vec![big("m1", "zoom;+;a", 2), msg("m2", "zoom;+;a", 3)],
    )
    .await;
    assert!(each.iter().all(Result::is_err), "{each:?}");
    // Space comes back: the retry stores everything, in order, and the
    // trouble is cleared.
    cap_pages(&store, Some(1 << 30));
    let each = again(
        &store,
        vec![
            big("m1", "zoom;+;a", 2),
            msg("m2", "zoom;+;a", 3),
            msg("m3", "zoom;+;b", 4),
            msg("m4", "zoom;+;a", 5),
        ],
    )
    .await;
    assert!(each.iter().all(|r| matches!(r, Ok(true))), "{each:?}");
    flush(&store);
    let stats = store.outbox_stats().unwrap();
    assert_eq!((stats.depth, stats.store_error), (5, None));
    let order: Vec<i64> = store
        .read(|c| {
            let mut st = c.prepare(
                "SELECT COALESCE(seq, id) FROM queue WHERE chat_guid = 'zoom;+;a' ORDER BY 1",
            )?;
            let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(v)
        })
        .unwrap();
    assert_eq!(order.len(), 4);
    let guids: Vec<String> = store
        .read(|c| {
            let mut st = c.prepare(
                "SELECT guid FROM queue WHERE chat_guid = 'zoom;+;a' ORDER BY COALESCE(seq, id)",
            )?;
            let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(v)
        })
        .unwrap();
    assert_eq!(guids, ["m0", "m1", "m2", "m4"]);
}

/// The reply path records a send without a blocking thread: it completes
/// while the runtime's only blocking thread is busy.
#[test]
fn record_sent_needs_no_blocking_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open_in_memory().unwrap();
    let (release, wait) = std_mpsc::channel::<()>();
    rt.block_on(async {
        let busy = tokio::task::spawn_blocking(move || {
            let _ = wait.recv();
        });
        let sent = Sent {
            guid: "zoom-msg-1".into(),
            chat_guid: "zoom;+;channel:c1".into(),
            text: "hi".into(),
            date_ms: 1,
            thread_originator: None,
            temp_guid: Some("t1".into()),
            attachments: Vec::new(),
            parts: Vec::new(),
        };
        let recorded =
            tokio::time::timeout(std::time::Duration::from_secs(10), store.record_sent(sent))
                .await
                .expect("record_sent waited for a blocking thread");
        let (msg, chat) = recorded.unwrap();
        assert_eq!(msg.guid, "zoom-msg-1");
        assert!(msg.is_from_me && msg.rowid > 0);
        assert_eq!(msg.temp_guid.as_deref(), Some("t1"));
        assert_eq!(chat.guid, "zoom;+;channel:c1");
        drop(release);
        busy.await.unwrap();
    });
}

/// Both connections' page caches have the memory bound the blast's peak
/// RSS counts on (a cache fills to its cap while the outbox grows).
#[test]
fn page_caches_are_bounded() {
    let db = TempDb::new();
    let store = Store::open(db.path()).unwrap();
    let reader: i64 = store
        .read(|c| Ok(c.query_row("PRAGMA cache_size", [], |r| r.get(0))?))
        .unwrap();
    let writer: i64 = store
        .0
        .journal
        .call(Durability::Normal, |c, _| {
            Ok(c.query_row("PRAGMA cache_size", [], |r| r.get(0))?)
        })
        .unwrap();
    // Negative values are KiB.
    for kib in [reader, writer] {
        assert_eq!(kib, -schema::CACHE_KIB);
        assert!((1..=4 * 1024).contains(&-kib), "{kib}");
    }
}

/// A keyed send across reopenings: logged the first time, unfinished when
/// begun again before it is recorded (with the text begun first), and,
/// once recorded, found in the store with its conversation, through the
/// partial index of our own messages.
#[test]
fn keyed_sends_are_found_again_after_reopening() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = TempDb::new();
    let chat = "zoom;+;channel:c1";
    rt.block_on(async {
        let store = Store::open(db.path()).unwrap();
        assert!(matches!(
            store.begin_send("k1", chat, "first words").unwrap(),
            Earlier::None
        ));
        drop(store);
        let store = Store::open(db.path()).unwrap();
        match store.begin_send("k1", chat, "reworded").unwrap() {
            Earlier::Unfinished(begun) => {
                assert_eq!(begun.chat_guid, chat);
                assert_eq!(begun.text, "first words");
            }
            other => panic!("expected the unfinished send, got {other:?}"),
        }
        let sent = Sent {
            guid: "zoom-msg-1".into(),
            chat_guid: chat.into(),
            text: "first words".into(),
            date_ms: 1,
            thread_originator: None,
            temp_guid: Some("k1".into()),
            attachments: Vec::new(),
            parts: Vec::new(),
        };
        store.record_sent(sent).await.unwrap();
        drop(store);
        let store = Store::open(db.path()).unwrap();
        match store.begin_send("k1", chat, "again").unwrap() {
            Earlier::Sent(sent) => {
                assert_eq!(sent.0.guid, "zoom-msg-1");
                assert_eq!(sent.0.temp_guid.as_deref(), Some("k1"));
                assert_eq!(sent.1.guid, chat);
            }
            other => panic!("expected the recorded message, got {other:?}"),
        }
        let plan: Vec<String> = store
            .read(|c| {
                let mut stmt = c.prepare(&format!(
                    "EXPLAIN QUERY PLAN {}",
                    conversations::SENT_BY_TEMP_GUID
                ))?;
                let rows = stmt.query_map(["k1"], |r| r.get(3))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("messages_by_temp_guid")),
            "{plan:?}"
        );
    });
}
