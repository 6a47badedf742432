//! A minimal Zoom WebSocket endpoint for the benchmark: it accepts any
//! subscription and token, sends `build_connection`, acks heartbeats and
//! records when each arrives, and pushes pre-encoded frames either as fast as
//! the socket takes them (blast) or on a fixed schedule (rate).
//!
//! It is lighter than `fake-zoom`'s `/ws` (no per-frame JSON work, batched
//! flushes), so at the rates measured here it is not the bottleneck.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::stream::Frames;

/// How to push a run of frames.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// As fast as the socket accepts them.
    Blast,
    /// `n` frames per second, frame `i` due at `start + i / n`.
    Rate(f64),
}

/// What a finished push reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pushed {
    /// When the first frame was due (and, for a blast, written).
    pub(crate) start: Instant,
    /// When the last frame was flushed.
    pub(crate) end: Instant,
    /// Frames written.
    pub(crate) frames: usize,
    /// Worst delay of a flush behind its schedule (rate pushes; the client
    /// not reading pushes this up through TCP backpressure).
    pub(crate) max_behind: Duration,
    /// The push stopped early: the connection closed or the deadline passed.
    pub(crate) cut_short: bool,
}

/// A command for one connection.
struct Push {
    frames: Frames,
    pace: Pace,
    deadline: Instant,
    done: oneshot::Sender<Pushed>,
}

/// One accepted connection's record.
#[derive(Debug, Clone)]
pub(crate) struct ConnRecord {
    /// Who the connection belongs to (set by the bench before the client connects).
    pub(crate) label: String,
    pub(crate) opened: Instant,
    pub(crate) closed: Option<Instant>,
    pub(crate) heartbeats: Vec<Instant>,
}

impl ConnRecord {
    /// The longest time without a heartbeat: from the open to the first, between
    /// heartbeats, and from the last to the close (or `now`).
    pub(crate) fn max_gap(&self, now: Instant) -> Duration {
        let mut points = vec![self.opened];
        points.extend(&self.heartbeats);
        points.push(self.closed.unwrap_or(now));
        points
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .max()
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    label: String,
    conns: Vec<ConnRecord>,
    pushers: Vec<mpsc::UnboundedSender<Push>>,
}

/// The running endpoint.
#[derive(Clone)]
pub(crate) struct WsServer {
    url: String,
    state: Arc<Mutex<State>>,
    connects: watch::Sender<usize>,
}

impl WsServer {
    /// Listens on `127.0.0.1:0`.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = Self {
            url: format!("ws://{}/ws", listener.local_addr()?),
            state: Arc::default(),
            connects: watch::Sender::new(0),
        };
        let accept = server.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(accept.clone().serve(tcp));
            }
        });
        Ok(server)
    }

    /// `ws://127.0.0.1:P/ws`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Labels the connections accepted from now on.
    pub(crate) fn set_label(&self, label: &str) {
        label.clone_into(&mut self.lock().label);
    }

    /// Connections accepted so far.
    pub(crate) fn connects(&self) -> usize {
        *self.connects.borrow()
    }

    /// Every connection's record.
    pub(crate) fn records(&self) -> Vec<ConnRecord> {
        self.lock().conns.clone()
    }

    /// Waits until more than `after` connections were accepted; false on timeout.
    pub(crate) async fn wait_connect(&self, after: usize, timeout: Duration) -> bool {
        let mut rx = self.connects.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n > after))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Pushes `frames` to the newest connection; resolves when the last one is
    /// flushed, the connection closes, or `deadline` passes.
    pub(crate) async fn push(
        &self,
        frames: Frames,
        pace: Pace,
        deadline: Instant,
    ) -> anyhow::Result<Pushed> {
        let (done, rx) = oneshot::channel();
        let pusher = self
            .lock()
            .pushers
            .last()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no WebSocket connection to push to"))?;
        pusher
            .send(Push {
                frames,
                pace,
                deadline,
                done,
            })
            .map_err(|_| anyhow::anyhow!("the WebSocket connection is gone"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the WebSocket connection closed before the push"))
    }

    async fn serve(self, tcp: tokio::net::TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
            return;
        };
        let (mut sink, mut source) = ws.split();
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Push>();
        let index = {
            let mut st = self.lock();
            let label = st.label.clone();
            st.conns.push(ConnRecord {
                label,
                opened: Instant::now(),
                closed: None,
                heartbeats: Vec::new(),
            });
            st.pushers.push(push_tx);
            st.conns.len() - 1
        };
        let ok =
            json!({"module":"build_connection","success":true,"content":"success","header":{}});
        if sink.send(Message::text(ok.to_string())).await.is_err() {
            return;
        }
        self.connects.send_modify(|n| *n += 1);
        // Heartbeats are read (and timed) by their own task, so a push that
        // waits on a slow reader never delays recording them.
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<()>();
        let reader_state = self.state.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = source.next().await {
                let heartbeat = match &msg {
                    Message::Text(t) => t.as_str().contains("\"heartbeat\""),
                    Message::Binary(b) => b.windows(11).any(|w| w == b"\"heartbeat\""),
                    Message::Close(_) => break,
                    _ => false,
                };
                if heartbeat {
                    let now = Instant::now();
                    if let Some(c) = reader_state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .conns
                        .get_mut(index)
                    {
                        c.heartbeats.push(now);
                    }
                    let _ = ack_tx.send(());
                }
            }
        });
        let ack = Message::text(
            json!({"module":"heartbeat","success":true,"content":"live","header":{}}).to_string(),
        );
        let mut reader = reader;
        loop {
            tokio::select! {
                _ = &mut reader => break,
                Some(()) = ack_rx.recv() => {
                    if sink.send(ack.clone()).await.is_err() {
                        break;
                    }
                }
                Some(push) = push_rx.recv() => {
                    let alive = run_push(&mut sink, &mut ack_rx, &ack, push).await;
                    if !alive {
                        break;
                    }
                }
            }
        }
        reader.abort();
        if let Some(c) = self.lock().conns.get_mut(index) {
            c.closed = Some(Instant::now());
        }
    }
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    Message,
>;

/// Frames written between flushes in a blast.
const BLAST_BATCH: usize = 64;

/// Writes one push; false when the connection failed.
async fn run_push(
    sink: &mut Sink,
    acks: &mut mpsc::UnboundedReceiver<()>,
    ack: &Message,
    push: Push,
) -> bool {
    let start = Instant::now();
    let total = push.frames.len();
    let mut sent = 0;
    let mut max_behind = Duration::ZERO;
    let mut alive = true;
    while sent < total && alive {
        if Instant::now() >= push.deadline {
            break;
        }
        let upto = match push.pace {
            Pace::Blast => (sent + BLAST_BATCH).min(total),
            Pace::Rate(rate) => {
                // Everything due by now (at least the next frame, waiting for it).
                let due_at = |i: usize| start + Duration::from_secs_f64(i as f64 / rate);
                let next_due = due_at(sent);
                if next_due > Instant::now() {
                    tokio::time::sleep_until(next_due.min(push.deadline)).await;
                }
                let elapsed = Instant::now()
                    .saturating_duration_since(start)
                    .as_secs_f64();
                ((elapsed * rate) as usize + 1).clamp(sent + 1, total)
            }
        };
        // A reader that stops reading blocks these writes; the deadline still holds.
        let write = async {
            while acks.try_recv().is_ok() {
                sink.feed(ack.clone()).await?;
            }
            for frame in &push.frames[sent..upto] {
                sink.feed(Message::text(frame.as_ref())).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout_at(push.deadline, write).await {
            Ok(Ok(())) => {
                if let Pace::Rate(rate) = push.pace {
                    let due = start + Duration::from_secs_f64((upto - 1) as f64 / rate);
                    max_behind = max_behind.max(Instant::now().saturating_duration_since(due));
                }
                sent = upto;
            }
            Ok(Err(_)) => alive = false,
            Err(_) => break,
        }
    }
    let _ = push.done.send(Pushed {
        start,
        end: Instant::now(),
        frames: sent,
        max_behind,
        cut_short: sent < total,
    });
    alive
}
