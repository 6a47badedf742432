//! Outbox cost per event against the backlog on disk.
//!
//! For each backlog size (default 0, 10k and 100k pending deliveries in a
//! database in a temporary folder on disk), this fills the backlog through
//! the inbound worker (no delivery running), measures the ingest of a further
//! batch of events on top of it (concurrent `send_acked` producers, each
//! acknowledged after its group commit and the WAL sync after it) and of another
//! batch sent without waiting (as the WebSocket transport does), then starts
//! the delivery worker against a loopback webhook that answers 200 and
//! measures the drain of everything. Prints events/s and transactions.
//!
//! ```text
//! cargo run --release -p bluebubbles-shim --example outbox_bench -- [backlogs] [batch]
//! cargo run --release -p bluebubbles-shim --example outbox_bench -- 0,10000,100000 20000
//! ```
//! `MOLTBOT_BENCH_DIR` picks the folder (default: the system temp folder).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bluebubbles_shim::{Shim, ShimConfig, Store};
use moltbot_channel::{
    AccountStatus, CancellationToken, Capabilities, Channel, ChannelError, ChannelMeta, ChatType,
    Conversation, DeliveryMode, DeliveryResult, InboundMessage, InboundSender, OutboundMedia,
    OutboundMessage, Party, ProbeReport, StartContext, inbound_channel,
};

/// Conversations the events are spread over.
const CONVERSATIONS: usize = 64;
/// Concurrent producers.
const PRODUCERS: usize = 64;

/// A channel that is never asked to send.
struct Quiet;

#[async_trait]
impl Channel for Quiet {
    fn id(&self) -> &str {
        "zoom"
    }
    fn meta(&self) -> ChannelMeta {
        ChannelMeta {
            id: "zoom".into(),
            label: "Zoom".into(),
            selection_label: "Zoom".into(),
            blurb: "bench".into(),
            docs_path: "/".into(),
            order: 0,
        }
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            chat_types: vec![ChatType::Group],
            media: false,
            reply: false,
            threads: false,
            reactions: false,
            edit: false,
        }
    }
    async fn start(&self, ctx: StartContext) -> Result<(), ChannelError> {
        ctx.cancel.cancelled().await;
        Ok(())
    }
    async fn send_text(&self, _: OutboundMessage) -> Result<DeliveryResult, ChannelError> {
        Err(ChannelError::Unsupported("bench".into()))
    }
    async fn send_media(&self, _: OutboundMedia) -> Result<DeliveryResult, ChannelError> {
        Err(ChannelError::Unsupported("bench".into()))
    }
    async fn probe(&self) -> ProbeReport {
        ProbeReport::new(vec![])
    }
    fn status(&self) -> AccountStatus {
        AccountStatus::default()
    }
}

fn event(n: u64) -> InboundMessage {
    let chat = n % CONVERSATIONS as u64;
    InboundMessage {
        message_id: format!("bench-{n}"),
        conversation: Conversation {
            id: format!("zoom;+;meeting:{chat}"),
            kind: ChatType::Group,
            label: Some(format!("Meeting {chat}")),
        },
        sender: Party {
            id: format!("user{}@example.com", n % 500),
            name: Some(format!("User {}", n % 500)),
        },
        body: format!("Message number {n} with a little text in it."),
        timestamp_ms: 1_736_150_400_000 + i64::try_from(n).unwrap_or(0),
        reply_to_id: None,
        event_type: "chat_message.sent".into(),
        mode: DeliveryMode::Message,
        participants: Vec::new(),
        raw: None,
        mentioned: None,
        attachments: Vec::new(),
        upstream_id: None,
    }
}

/// Sends events `from..to` with concurrent producers; returns the elapsed time.
async fn ingest(tx: &InboundSender, from: u64, to: u64) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(from));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let tx = tx.clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= to {
                        break;
                    }
                    tx.send_acked(event(n)).await.expect("acknowledged");
                }
            })
        })
        .collect();
    for p in producers {
        p.await.expect("producer");
    }
    started.elapsed()
}

/// Sends events `from..to` from one producer without waiting for each
/// acknowledgement (as the WebSocket transport does), then waits until all
/// are stored; returns the elapsed time.
async fn stream(shim: &Shim, tx: &InboundSender, from: u64, to: u64) -> Duration {
    let started = Instant::now();
    let before = shim.store().outbox_stats().expect("stats").depth;
    for n in from..to {
        tx.send(event(n)).await.expect("queued");
    }
    let want = before + (to - from);
    while shim.store().outbox_stats().expect("stats").depth < want {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    started.elapsed()
}

/// A webhook receiver on 127.0.0.1:0 answering 200; returns its URL and hit count.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let h = Arc::clone(&h);
            async move {
                h.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook?password=bench"), hits)
}

/// CPU time of this process so far (user + system), from /proc (Linux);
/// zero elsewhere. On a shared machine this is the fairer cost measure.
fn cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // Fields 14 and 15 (utime, stime); `after` starts at field 3.
            let utime: u64 = after.get(11)?.parse().ok()?;
            let stime: u64 = after.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// CPU time of the store's writer thread so far (Linux; zero elsewhere):
/// the journal's own cost, without producers, tokio or the receiver.
fn writer_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ticks: u64 = tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "store-writer")
        })
        .filter_map(|t| {
            let s = std::fs::read_to_string(t.path().join("stat")).ok()?;
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_millis(ticks * 10)
}

fn per_event_us(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The same number of events written the plainest durable way: one table,
/// a ~1 kB body per row, groups of `per_commit` rows per FULL commit, one
/// thread. What any SQLite-backed relay pays at least.
fn baseline_store(dir: &std::path::Path, n: u64, per_commit: u64) -> (Duration, Duration) {
    let db = dir.join("baseline.db");
    let conn = rusqlite::Connection::open(&db).expect("baseline db");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch(
        "CREATE TABLE q (seq INTEGER PRIMARY KEY, guid TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .expect("table");
    let body = "x".repeat(1100);
    let (started, cpu_before) = (Instant::now(), cpu());
    let mut i = 0;
    while i < n {
        conn.execute_batch("BEGIN").expect("begin");
        let mut stmt = conn
            .prepare_cached("INSERT INTO q (guid, body) VALUES (?1, ?2)")
            .expect("prepare");
        for _ in 0..per_commit.min(n - i) {
            stmt.execute(rusqlite::params![format!("bench-{i}"), body])
                .expect("insert");
            i += 1;
        }
        drop(stmt);
        conn.execute_batch("COMMIT").expect("commit");
    }
    (started.elapsed(), cpu() - cpu_before)
}

/// `n` POSTs of a ~1 kB body to `url`, 16 in flight: the webhook half of a
/// relay without any bookkeeping.
async fn baseline_posts(url: &str, n: u64) -> (Duration, Duration) {
    let client = reqwest::Client::new();
    let body = format!(
        "{{\"type\":\"new-message\",\"data\":\"{}\"}}",
        "x".repeat(1100)
    );
    let next = Arc::new(AtomicU64::new(0));
    let (started, cpu_before) = (Instant::now(), cpu());
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, body, next) = (
                client.clone(),
                url.to_owned(),
                body.clone(),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let res = client.post(&url).body(body.clone()).send().await;
                    assert!(res.expect("post").status().is_success());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    (started.elapsed(), cpu() - cpu_before)
}

async fn run(backlog: u64, batch: u64) {
    let base = std::env::var_os("MOLTBOT_BENCH_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = base.join(format!("outbox-bench-{}-{backlog}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench folder");
    let db = dir.join("bench.db");
    let (url, hits) = receiver().await;
    let mut config = ShimConfig::new("bench-password");
    config.webhooks = vec![url.clone()];
    let store = Store::open(&db).expect("open");
    let shim = Shim::new(config, Arc::new(Quiet), store).expect("shim");
    let (tx, rx) = inbound_channel(1024);
    let cancel = CancellationToken::new();
    let inbound = {
        let (shim, cancel) = (shim.clone(), cancel.clone());
        tokio::spawn(async move { shim.run_inbound(rx, cancel).await })
    };

    let fill = ingest(&tx, 0, backlog).await;
    let commits_before = shim.store().commits();
    let (cpu_before, writer_before) = (cpu(), writer_cpu());
    let took = ingest(&tx, backlog, backlog + batch).await;
    let (ingest_cpu, ingest_writer) = (cpu() - cpu_before, writer_cpu() - writer_before);
    let commits = shim.store().commits() - commits_before;
    let (commits_before, cpu_before, writer_before) = (shim.store().commits(), cpu(), writer_cpu());
    let streamed = stream(&shim, &tx, backlog + batch, backlog + 2 * batch).await;
    let (stream_commits, stream_cpu, stream_writer) = (
        shim.store().commits() - commits_before,
        cpu() - cpu_before,
        writer_cpu() - writer_before,
    );
    let batch_total = 2 * batch;
    let total = backlog + batch_total;
    assert_eq!(shim.store().outbox_stats().expect("stats").pending, total);
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(db.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);

    let started = Instant::now();
    let cpu_before = cpu();
    let delivery = {
        let (shim, cancel) = (shim.clone(), cancel.clone());
        tokio::spawn(async move { shim.run_delivery(cancel).await })
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while shim.store().outbox_stats().expect("stats").depth > 0 {
        assert!(Instant::now() < deadline, "drain did not finish");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drain = started.elapsed();
    let drain_cpu = cpu() - cpu_before;
    let delivered = hits.load(Ordering::Relaxed);
    cancel.cancel();
    let _ = inbound.await;
    let _ = delivery.await;
    drop(shim);

    if backlog == 0 {
        let per_commit = (batch / commits.max(1)).max(1);
        let (wall, used) = baseline_store(&dir, batch, per_commit);
        println!(
            "baseline  {batch:>7} plain FULL inserts  {:>9.0} ev/s  {:>6.1} us CPU/ev  ({per_commit} rows/commit, same disk, same run)",
            rate(batch, wall),
            per_event_us(used, batch)
        );
        let (wall, used) = baseline_posts(&url, batch).await;
        println!(
            "baseline  {batch:>7} plain POSTs         {:>9.0} ev/s  {:>6.1} us CPU/ev  (16 in flight, no store)",
            rate(batch, wall),
            per_event_us(used, batch)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if backlog > 0 {
        println!(
            "fill      {backlog:>7} events        {:>9.0} ev/s  ({:.2} s)",
            rate(backlog, fill),
            fill.as_secs_f64()
        );
    }
    println!(
        "ingest    {batch:>7} on {backlog:>7} pending {:>9.0} ev/s  {:>6.1} us CPU/ev  {:>6.1} us writer/ev  ({commits} commits, {:.1} events/commit, db+wal {:.1} MB)",
        rate(batch, took),
        per_event_us(ingest_cpu, batch),
        per_event_us(ingest_writer, batch),
        batch as f64 / commits.max(1) as f64,
        size as f64 / 1e6
    );
    println!(
        "stream    {batch:>7} on {:>7} pending {:>9.0} ev/s  {:>6.1} us CPU/ev  {:>6.1} us writer/ev  ({stream_commits} commits, {:.1} events/commit; unacknowledged sends, as the WebSocket)",
        backlog + batch,
        rate(batch, streamed),
        per_event_us(stream_cpu, batch),
        per_event_us(stream_writer, batch),
        batch as f64 / stream_commits.max(1) as f64
    );
    println!(
        "drain     {total:>7} pending         {:>9.0} ev/s  {:>6.1} us CPU/ev  ({:.2} s, {delivered} POSTs; CPU includes the receiver)",
        rate(total, drain),
        per_event_us(drain_cpu, total),
        drain.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backlogs: Vec<u64> = args
        .next()
        .unwrap_or_else(|| "0,10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("backlog sizes: 0,10000,100000"))
        .collect();
    let batch: u64 = args
        .next()
        .map_or(20_000, |s| s.parse().expect("batch size"));
    println!(
        "outbox bench: {CONVERSATIONS} conversations, {PRODUCERS} producers, on disk, inbound acknowledged after a WAL sync"
    );
    for backlog in backlogs {
        run(backlog, batch).await;
    }
}
