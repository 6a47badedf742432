//! The baseline: a minimal durable relay doing the sidecar's essential work
//! and nothing more. It reads the same WebSocket stream, parses each
//! double-encoded frame, appends a small webhook body per event to a journal
//! file with one `fdatasync` per batch, and only then POSTs one webhook per
//! event, 16 in flight. A failed POST goes back to the head of the queue and
//! pauses sending for 100 ms. It keeps no order per conversation, no
//! conversation state and no rendering: it is the floor the sidecar is
//! compared with, not a competitor.
//!
//! It runs as a process of its own (this executable, started with the
//! hidden `--baseline-relay` arguments), as the sidecar does: inside the
//! bench's process its tasks shared the worker threads of the WebSocket
//! server and the receiver, so a frame or a webhook could pass between them
//! without waking a thread, and the comparison favoured it whenever the
//! CPUs were contended. Its memory is now measured the same way too.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::sidecar::{Rss, rss_of};

/// Webhook POSTs in flight.
const IN_FLIGHT: usize = 16;
/// Most events in one journal batch (one fdatasync).
const BATCH: usize = 1024;
/// Pause after a failed POST.
const FAILURE_PAUSE: Duration = Duration::from_millis(100);
/// Heartbeat period (Zoom asks for about 30 s).
const HEARTBEAT: Duration = Duration::from_secs(25);
/// How often the relay reports its journaled count (when it changed).
const REPORT_EVERY: Duration = Duration::from_millis(50);
/// The line prefix of that report on the relay's stdout.
const JOURNALED: &str = "journaled ";

/// The running relay process, seen from the bench.
pub(crate) struct Baseline {
    child: Child,
    pid: u32,
    journaled: Arc<AtomicU64>,
}

impl Baseline {
    /// Starts the relay process on `ws_url`, delivering to `webhook_url`,
    /// journaling into `dir/journal.ndjson`.
    pub(crate) async fn start(ws_url: &str, webhook_url: &str, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let exe = std::env::current_exe()?;
        let mut child = Command::new(&exe)
            .arg("--baseline-relay")
            .args([ws_url, webhook_url])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the baseline relay {}", exe.display()))?;
        let pid = child.id().context("the baseline relay exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let journaled = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&journaled);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix(JOURNALED).and_then(|n| n.parse().ok()) {
                    counter.store(n, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            child,
            pid,
            journaled,
        })
    }

    /// Events made durable so far (as last reported, at most
    /// [`REPORT_EVERY`] old).
    pub(crate) fn journaled(&self) -> u64 {
        self.journaled.load(Ordering::Relaxed)
    }

    /// `VmRSS` and `VmHWM` now.
    pub(crate) fn rss(&self) -> Rss {
        rss_of(self.pid)
    }

    /// SIGKILLs the relay and waits for it.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The relay process's body: relays until the connection ends, printing
/// `journaled <n>` whenever the count changed (at most every
/// [`REPORT_EVERY`]).
pub(crate) async fn relay(ws_url: &str, webhook_url: &str, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("journal.ndjson"))?;
    let url = format!("{ws_url}?subscriptionId=fake-subscription&access_token=baseline");
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    let (mut sink, mut source) = ws.split();
    let (parsed_tx, parsed_rx) = mpsc::channel::<(i64, Vec<u8>)>(8 * BATCH);
    let (durable_tx, durable_rx) = mpsc::unbounded_channel::<Vec<Vec<u8>>>();
    let journaled = Arc::new(AtomicU64::new(0));

    let reader = async move {
        let mut beat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if sink.send(Message::text(r#"{"module":"heartbeat"}"#)).await.is_err() {
                        return;
                    }
                }
                msg = source.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(_)) => continue,
                        _ => return,
                    };
                    if let Some(item) = parse(text.as_str()) {
                        if parsed_tx.send(item).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let counter = Arc::clone(&journaled);
    tokio::task::spawn_blocking(move || journal(file, parsed_rx, durable_tx, &counter));
    tokio::spawn(dispatch(webhook_url.to_owned(), durable_rx));
    tokio::spawn(async move {
        let mut told = 0;
        let mut tick = tokio::time::interval(REPORT_EVERY);
        loop {
            tick.tick().await;
            let n = journaled.load(Ordering::Relaxed);
            if n != told {
                told = n;
                println!("{JOURNALED}{n}");
            }
        }
    });
    reader.await;
    Ok(())
}

/// Frame → (event_ts, webhook body); `None` for frames that are not events.
fn parse(text: &str) -> Option<(i64, Vec<u8>)> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame.get("module")?.as_str()? != "message" {
        return None;
    }
    let event: Value = match frame.get("content")? {
        Value::String(s) => serde_json::from_str(s).ok()?,
        other => other.clone(),
    };
    let ts = event.get("event_ts")?.as_i64()?;
    let body = json!({
        "type": "new-message",
        "data": {
            "guid": format!("baseline-{ts}"),
            "text": event.get("event")?.as_str()?,
            "dateCreated": ts,
        }
    });
    Some((ts, serde_json::to_vec(&body).ok()?))
}

/// The journal writer (a blocking thread): batch, append, fdatasync, forward.
fn journal(
    file: std::fs::File,
    mut rx: mpsc::Receiver<(i64, Vec<u8>)>,
    tx: mpsc::UnboundedSender<Vec<Vec<u8>>>,
    journaled: &AtomicU64,
) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first.1];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok((_, body)) => batch.push(body),
                Err(_) => break,
            }
        }
        for body in &batch {
            if out
                .write_all(body)
                .and_then(|()| out.write_all(b"\n"))
                .is_err()
            {
                return;
            }
        }
        if out.flush().is_err() || out.get_ref().sync_data().is_err() {
            return;
        }
        journaled.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if tx.send(batch).is_err() {
            return;
        }
    }
}

/// POSTs durable bodies, [`IN_FLIGHT`] at a time.
async fn dispatch(url: String, mut rx: mpsc::UnboundedReceiver<Vec<Vec<u8>>>) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let post = |body: Vec<u8>| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            let ok = request.send().await.is_ok_and(|r| r.status().is_success());
            (body, ok)
        }
    };
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut paused_until: Option<Instant> = None;
    let mut open = true;
    loop {
        while let Ok(batch) = rx.try_recv() {
            queue.extend(batch);
        }
        if paused_until.is_some_and(|t| t <= Instant::now()) {
            paused_until = None;
        }
        while paused_until.is_none() && in_flight.len() < IN_FLIGHT {
            match queue.pop_front() {
                Some(body) => in_flight.push(post(body)),
                None => break,
            }
        }
        if !open && in_flight.is_empty() && queue.is_empty() {
            return;
        }
        let pause = async {
            match paused_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some((body, ok)) = in_flight.next(), if !in_flight.is_empty() => {
                if !ok {
                    queue.push_front(body);
                    paused_until = Some(Instant::now() + FAILURE_PAUSE);
                }
            }
            batch = rx.recv(), if open => match batch {
                Some(batch) => queue.extend(batch),
                None => open = false,
            },
            () = pause => {}
        }
    }
}
