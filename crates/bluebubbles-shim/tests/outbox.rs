//! Durable outbox: ack after commit, ordered delivery with retries, dead
//! letters, restart, webhook payload shape.

mod common;

use bluebubbles_shim::Store;
use common::*;
use moltbot_channel::{CancellationToken, ChatType, DeliveryMode, Party};
use serde_json::json;

fn run_delivery(shim: &bluebubbles_shim::Shim) -> CancellationToken {
    let cancel = CancellationToken::new();
    let s = shim.clone();
    let c = cancel.clone();
    tokio::spawn(async move { s.run_delivery(c).await });
    cancel
}

#[tokio::test]
async fn inbound_is_acknowledged_only_after_commit() {
    let dir = TempDir::new();
    let (shim, _) = shim_with(config(), Store::open(dir.db()).unwrap());
    let (tx, cancel, task) = start_inbound(&shim);
    tx.send_acked(inbound(
        "m1",
        "zoom;+;meeting:1",
        ChatType::Group,
        "started",
        1,
    ))
    .await
    .unwrap();
    // A second connection only sees committed data.
    let other = Store::open(dir.db()).unwrap();
    assert_eq!(other.outbox_stats().unwrap().depth, 1);
    // A redelivered event (same id) is acknowledged but stored once.
    tx.send_acked(inbound(
        "m1",
        "zoom;+;meeting:1",
        ChatType::Group,
        "started",
        1,
    ))
    .await
    .unwrap();
    assert_eq!(other.outbox_stats().unwrap().depth, 1);
    cancel.cancel();
    task.await.unwrap();
    // With the worker gone, producers get an error instead of a silent loss.
    assert!(
        tx.send_acked(inbound("m2", "zoom;+;meeting:1", ChatType::Group, "x", 2))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn delivery_retries_a_flaky_receiver_in_order_per_conversation() {
    let mut rx = receiver(3).await;
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    config.webhook_secret = Some("hook-secret".into());
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let (tx, _cancel_in, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    let mut expected_a = Vec::new();
    let mut expected_b = Vec::new();
    for i in 0..5 {
        let a = format!("a{i}");
        let b = format!("b{i}");
        tx.send_acked(inbound(&a, "zoom;+;meeting:A", ChatType::Group, "x", i))
            .await
            .unwrap();
        tx.send_acked(inbound(&b, "zoom;+;channel:B", ChatType::Channel, "y", i))
            .await
            .unwrap();
        expected_a.push(a);
        expected_b.push(b);
    }
    let (ok, failed) = rx.accepted(10).await;
    assert_eq!(failed.len(), 3);
    let order = |chat: &str| -> Vec<String> {
        ok.iter()
            .filter(|h| h.body["data"]["chats"][0]["guid"] == chat)
            .map(|h| h.body["data"]["guid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order("zoom;+;meeting:A"), expected_a);
    assert_eq!(order("zoom;+;channel:B"), expected_b);
    // The URL carries `?password=`: the receiver reads that, no header.
    assert!(
        ok.iter()
            .chain(&failed)
            .all(|h| h.authorization.is_none() && h.x_password.is_none())
    );
    eventually("outbox to drain", || {
        shim.store().outbox_stats().unwrap().depth == 0
    })
    .await;
    let stats = shim.store().outbox_stats().unwrap();
    assert_eq!(
        (stats.delivered, stats.failed, stats.dead_letters),
        (10, 3, 0)
    );
    assert_eq!(
        stats.last_error.as_deref(),
        Some("webhook answered HTTP 500")
    );
    assert!(stats.last_delivered_at_ms.is_some());
    cancel.cancel();
}

#[tokio::test]
async fn a_webhook_without_password_in_its_url_gets_the_secret_in_x_password() {
    let mut rx = receiver(1).await;
    let mut config = config();
    config.webhooks = vec![rx.plain_url()];
    config.webhook_secret = Some("hook-secret".into());
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let (tx, _cancel_in, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    tx.send_acked(inbound("x1", "zoom;+;feed", ChatType::Group, "x", 1))
        .await
        .unwrap();
    let (ok, failed) = rx.accepted(1).await;
    assert_eq!(failed.len(), 1);
    for hit in ok.iter().chain(&failed) {
        assert_eq!(hit.x_password.as_deref(), Some("hook-secret"));
        assert_eq!(hit.authorization, None, "no Bearer header");
    }
    cancel.cancel();
}

#[tokio::test]
async fn a_failing_conversation_dead_letters_without_blocking_others_and_can_be_requeued() {
    let mut rx = receiver(0).await;
    rx.reject.lock().unwrap().push("zoom;+;meeting:A".into());
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    config.max_attempts = 3;
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let (tx, _c, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    tx.send_acked(inbound("a1", "zoom;+;meeting:A", ChatType::Group, "x", 1))
        .await
        .unwrap();
    tx.send_acked(inbound("a2", "zoom;+;meeting:A", ChatType::Group, "x", 2))
        .await
        .unwrap();
    tx.send_acked(inbound("b1", "zoom;+;meeting:B", ChatType::Group, "y", 3))
        .await
        .unwrap();
    tx.send_acked(inbound("b2", "zoom;+;meeting:B", ChatType::Group, "y", 4))
        .await
        .unwrap();
    // B proceeds while A's head keeps failing.
    let (ok, _) = rx.accepted(2).await;
    let got: Vec<_> = ok
        .iter()
        .map(|h| h.body["data"]["guid"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["b1", "b2"]);
    eventually("both A messages dead", || {
        shim.store().outbox_stats().unwrap().dead_letters == 2
    })
    .await;
    let dead = shim.store().dead_letters().unwrap();
    assert_eq!(
        dead.iter()
            .map(|d| d.message_guid.as_str())
            .collect::<Vec<_>>(),
        ["a1", "a2"]
    );
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].chat_guid, "zoom;+;meeting:A");
    assert!(!dead[0].webhook_url.contains("password"));
    assert_eq!(dead[0].payload["data"]["guid"], "a1");
    assert_eq!(
        shim.store()
            .dead_letter(dead[1].id)
            .unwrap()
            .unwrap()
            .message_guid,
        "a2"
    );
    assert!(shim.store().dead_letter(9999).unwrap().is_none());

    // Drop one, requeue the other once the receiver recovers.
    assert!(shim.store().drop_dead_letter(dead[1].id).unwrap());
    assert!(!shim.store().drop_dead_letter(dead[1].id).unwrap());
    rx.reject.lock().unwrap().clear();
    while rx.hits.try_recv().is_ok() {}
    assert!(shim.store().requeue(dead[0].id).unwrap());
    assert!(!shim.store().requeue(dead[0].id).unwrap());
    let (ok, _) = rx.accepted(1).await;
    assert_eq!(ok[0].body["data"]["guid"], "a1");
    eventually("outbox to drain", || {
        shim.store().outbox_stats().unwrap().depth == 0
    })
    .await;
    assert_eq!(shim.store().outbox_stats().unwrap().dead_letters, 0);
    cancel.cancel();
}

#[tokio::test]
async fn pending_messages_survive_a_restart_with_the_same_guid() {
    let dir = TempDir::new();
    let mut rx = receiver(0).await;
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    {
        // First run: accepted, never delivered (no delivery worker), then gone.
        let (shim, _) = shim_with(config.clone(), Store::open(dir.db()).unwrap());
        let (tx, cancel, task) = start_inbound(&shim);
        tx.send_acked(inbound(
            "keep-1",
            "zoom;+;meeting:9",
            ChatType::Group,
            "one",
            1,
        ))
        .await
        .unwrap();
        tx.send_acked(inbound(
            "keep-2",
            "zoom;+;meeting:9",
            ChatType::Group,
            "two",
            2,
        ))
        .await
        .unwrap();
        cancel.cancel();
        task.await.unwrap();
    }
    let (shim, _) = shim_with(config, Store::open(dir.db()).unwrap());
    assert_eq!(shim.store().outbox_stats().unwrap().pending, 2);
    let cancel = run_delivery(&shim);
    let (ok, _) = rx.accepted(2).await;
    let got: Vec<_> = ok
        .iter()
        .map(|h| h.body["data"]["guid"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["keep-1", "keep-2"]);
    eventually("outbox to drain", || {
        shim.store().outbox_stats().unwrap().depth == 0
    })
    .await;
    cancel.cancel();
}

#[tokio::test]
async fn webhooks_registered_over_the_api_receive_earlier_and_later_messages() {
    let mut rx = receiver(0).await;
    let (shim, _) = shim();
    let (tx, _c, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    // Accepted before any webhook exists: kept, not lost.
    tx.send_acked(inbound("early", "zoom;+;feed", ChatType::Group, "x", 1))
        .await
        .unwrap();
    assert_eq!(shim.store().outbox_stats().unwrap().depth, 1);
    let r = post(
        &shim.router(),
        &authed("/api/v1/webhook"),
        json!({"url": rx.plain_url(), "events": ["new-message"]}),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    tx.send_acked(inbound("late", "zoom;+;feed", ChatType::Group, "y", 2))
        .await
        .unwrap();
    let (ok, _) = rx.accepted(2).await;
    let got: Vec<_> = ok
        .iter()
        .map(|h| h.body["data"]["guid"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["early", "late"]);
    // No password in the URL: the default webhook secret (the shim
    // password) goes raw in `x-password`, never as `Authorization`.
    for hit in &ok {
        assert_eq!(hit.x_password.as_deref(), Some(PASSWORD));
        assert_eq!(hit.authorization, None);
    }
    cancel.cancel();
}

#[tokio::test]
async fn webhook_json_has_the_documented_fields() {
    let mut rx = receiver(0).await;
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let (tx, _c, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    let mut dm = inbound(
        "dm-1",
        "zoom;-;ann@example.com",
        ChatType::Direct,
        "hi",
        1_720_000_000_000,
    );
    dm.reply_to_id = Some("root-7".into());
    dm.mode = DeliveryMode::Context;
    tx.send_acked(dm).await.unwrap();
    let mut big = inbound(
        "grp-1",
        "zoom;+;meeting:77",
        ChatType::Group,
        "started",
        1_720_000_000_001,
    );
    big.participants = (0..200)
        .map(|i| Party {
            id: format!("person{i}@example.com"),
            name: Some(format!("Person {i}")),
        })
        .collect();
    big.mentioned = Some(true);
    tx.send_acked(big).await.unwrap();
    let (ok, _) = rx.accepted(2).await;

    let body = &ok[0].body;
    assert_eq!(body["type"], "new-message");
    let d = &body["data"];
    assert_eq!(d["guid"], "dm-1");
    assert_eq!(d["text"], "hi");
    assert_eq!(d["isFromMe"], false);
    assert_eq!(d["dateCreated"], 1_720_000_000_000i64);
    assert_eq!(d["attachments"], json!([]));
    assert_eq!(d["threadOriginatorGuid"], "root-7");
    assert_eq!(d["handle"]["address"], "ann@example.com");
    assert_eq!(d["handle"]["service"], "zoom");
    assert_eq!(d["handle"]["displayName"], "Ann");
    assert!(d["handle"]["originalROWID"].as_i64().unwrap() > 0);
    assert_eq!(d["handleId"], d["handle"]["originalROWID"]);
    for key in [
        "originalROWID",
        "attributedBody",
        "subject",
        "error",
        "dateRead",
        "isDelivered",
        "itemType",
        "associatedMessageGuid",
        "associatedMessageType",
        "balloonBundleId",
        "expressiveSendStyleId",
        "hasPayloadData",
        "dateEdited",
        "dateRetracted",
        "partCount",
    ] {
        assert!(d.get(key).is_some(), "missing {key}");
    }
    assert!(
        d.get("replyToGuid").is_none(),
        "replyToGuid stays out of webhooks"
    );
    let chat = &d["chats"][0];
    assert_eq!(chat["guid"], "zoom;-;ann@example.com");
    assert_eq!(chat["style"], 45);
    assert_eq!(chat["chatIdentifier"], "ann@example.com");
    assert_eq!(chat["isArchived"], false);
    assert_eq!(chat["displayName"], "label of zoom;-;ann@example.com");
    assert_eq!(
        chat["participants"][0],
        json!({"originalROWID": d["handle"]["originalROWID"], "address": "ann@example.com", "service": "zoom", "displayName": "Ann"})
    );
    assert_eq!(
        d["zoom"],
        json!({"eventType": "chat_message.sent", "mode": "context", "conversationKind": "direct",
               "conversationLabel": "label of zoom;-;ann@example.com"})
    );

    // Large participant lists are dropped to keep the payload small.
    let g = &ok[1].body["data"];
    assert_eq!(g["chats"][0]["style"], 43);
    assert!(g["chats"][0].get("participants").is_none());
    assert!(ok[1].body.to_string().len() <= 4000);
    // Whether the message names us rides along; absent when unknown (the DM above).
    assert_eq!(g["zoom"]["wasMentioned"], true);
    assert!(d["zoom"].get("wasMentioned").is_none());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_producers_are_all_acknowledged_and_stored() {
    let dir = TempDir::new();
    let store = Store::open(dir.db()).unwrap();
    let (shim, _) = shim_with(config(), store);
    let (tx, cancel, task) = start_inbound(&shim);
    let producers: Vec<_> = (0..32)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let id = format!("p{p}-{i}");
                    let chat = format!("zoom;+;meeting:{}", p % 4);
                    tx.send_acked(inbound(&id, &chat, ChatType::Group, "x", i64::from(i)))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    assert_eq!(shim.store().outbox_stats().unwrap().depth, 800);
    // Fewer transactions than messages: commits were shared.
    assert!(shim.store().commits() < 800, "{}", shim.store().commits());
    cancel.cancel();
    task.await.unwrap();
    drop(shim);
    let reopened = Store::open(dir.db()).unwrap();
    assert_eq!(reopened.outbox_stats().unwrap().depth, 800);
}

/// The schema before versioning (user_version 0), verbatim.
const OLD_SCHEMA: &str = "
CREATE TABLE handles (rowid INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE, name TEXT);
CREATE TABLE chats (rowid INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    display_name TEXT, participants TEXT NOT NULL DEFAULT '[]', last_message_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (rowid INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, chat_guid TEXT NOT NULL,
    sender_handle INTEGER, text TEXT NOT NULL, date_ms INTEGER NOT NULL, is_from_me INTEGER NOT NULL,
    thread_originator TEXT, temp_guid TEXT, attachments TEXT NOT NULL DEFAULT '[]', zoom TEXT);
CREATE INDEX messages_by_chat ON messages (chat_guid, date_ms);
CREATE INDEX messages_by_date ON messages (date_ms);
CREATE TABLE webhooks (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, events TEXT NOT NULL,
    created_ms INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, guid TEXT NOT NULL, chat_guid TEXT NOT NULL,
    payload TEXT NOT NULL, created_ms INTEGER NOT NULL, assigned INTEGER NOT NULL);
CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    chat_guid TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL, last_error TEXT, UNIQUE (seq, webhook_id));
CREATE INDEX deliveries_by_head ON deliveries (webhook_id, chat_guid, state, seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
";

#[tokio::test]
async fn a_database_from_before_migrations_is_upgraded_and_its_outbox_delivered() {
    let dir = TempDir::new();
    let mut rx = receiver(0).await;
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(OLD_SCHEMA).unwrap();
        let body = |guid: &str, chat: &str| {
            json!({"type": "new-message", "data": {"guid": guid, "chats": [{"guid": chat}]}})
                .to_string()
        };
        conn.execute_batch(
            "INSERT INTO handles (address, name) VALUES ('ann@example.com', 'Ann'), ('bob@example.com', NULL);
             INSERT INTO chats (guid, kind, participants, last_message_ms) VALUES
               ('zoom;+;meeting:1', 'group',
                '[{\"rowid\":1,\"address\":\"ann@example.com\",\"name\":\"Ann\"},{\"rowid\":2,\"address\":\"bob@example.com\",\"name\":null}]', 5);
             INSERT INTO meta (key, value) VALUES ('delivered', 7);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO webhooks (url, events, created_ms, source) VALUES (?1, '[\"*\"]', 0, 'config')",
            [&rx.url],
        )
        .unwrap();
        for (seq, guid, chat, state) in [
            (1, "old-dead", "zoom;+;meeting:1", "dead"),
            (2, "old-1", "zoom;+;meeting:1", "pending"),
            (3, "old-2", "zoom;+;meeting:1", "pending"),
            (4, "old-3", "zoom;+;meeting:2", "pending"),
        ] {
            conn.execute(
                "INSERT INTO outbox (seq, guid, chat_guid, payload, created_ms, assigned) VALUES (?1, ?2, ?3, ?4, 0, 1)",
                rusqlite::params![seq, guid, chat, body(guid, chat)],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO deliveries (seq, webhook_id, chat_guid, state, attempts, next_attempt_ms, last_error)
                 VALUES (?1, 1, ?2, ?3, 2, 0, 'webhook answered HTTP 500')",
                rusqlite::params![seq, chat, state],
            )
            .unwrap();
        }
    }
    let store = Store::open(dir.db()).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert!(version >= 2, "user_version {version}");
        let auto_vacuum: i64 = conn
            .pragma_query_value(None, "auto_vacuum", |r| r.get(0))
            .unwrap();
        assert_eq!(auto_vacuum, 2, "converted to incremental auto-vacuum");
        let members: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM chat_participants WHERE chat_guid = 'zoom;+;meeting:1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(members, 2, "participants moved from JSON to rows");
    }
    let stats = store.outbox_stats().unwrap();
    assert_eq!(
        (
            stats.depth,
            stats.pending,
            stats.dead_letters,
            stats.delivered
        ),
        (4, 3, 1, 7)
    );
    let mut config = config();
    config.webhooks = vec![rx.url.clone()];
    let (shim, _) = shim_with(config, store);
    let cancel = run_delivery(&shim);
    let (ok, _) = rx.accepted(3).await;
    let order = |chat: &str| -> Vec<String> {
        ok.iter()
            .filter(|h| h.body["data"]["chats"][0]["guid"] == chat)
            .map(|h| h.body["data"]["guid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order("zoom;+;meeting:1"), ["old-1", "old-2"]);
    assert_eq!(order("zoom;+;meeting:2"), ["old-3"]);
    eventually("three delivered", || {
        shim.store().outbox_stats().unwrap().pending == 0
    })
    .await;
    let dead = shim.store().dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_guid, "old-dead");
    assert!(shim.store().requeue(dead[0].id).unwrap());
    let (ok, _) = rx.accepted(1).await;
    assert_eq!(ok[0].body["data"]["guid"], "old-dead");
    eventually("outbox to drain", || {
        shim.store().outbox_stats().unwrap().depth == 0
    })
    .await;
    assert_eq!(shim.store().outbox_stats().unwrap().delivered, 11);
    cancel.cancel();
}

/// A receiver that answers 503 with `Retry-After` (a gateway that has not
/// yet taken the turn) defers the delivery: those answers do not use up the
/// attempts, so the message is delivered once the receiver takes it.
#[tokio::test]
async fn retry_after_answers_defer_without_using_up_attempts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const BUSY: usize = 10;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let app = {
        let requests = requests.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let requests = requests.clone();
                let done_tx = done_tx.clone();
                async move {
                    use axum::response::IntoResponse;
                    if requests.fetch_add(1, Ordering::SeqCst) < BUSY {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            [("retry-after", "0")],
                        )
                            .into_response();
                    }
                    let _ = done_tx.send(body);
                    axum::http::StatusCode::OK.into_response()
                }
            }),
        )
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = config();
    config.webhooks = vec![url];
    config.max_attempts = 3;
    let (shim, _) = shim_with(config, Store::open_in_memory().unwrap());
    let (tx, _c, _) = start_inbound(&shim);
    let cancel = run_delivery(&shim);
    tx.send_acked(inbound("d1", "zoom;+;meeting:D", ChatType::Group, "x", 1))
        .await
        .unwrap();
    let body = tokio::time::timeout(std::time::Duration::from_secs(20), done_rx.recv())
        .await
        .expect("delivered within 20 s")
        .unwrap();
    assert!(body.contains("\"d1\""), "{body}");
    assert_eq!(requests.load(Ordering::SeqCst), BUSY + 1);
    eventually("outbox to drain", || {
        shim.store().outbox_stats().unwrap().depth == 0
    })
    .await;
    assert_eq!(shim.store().outbox_stats().unwrap().dead_letters, 0);
    cancel.cancel();
}
