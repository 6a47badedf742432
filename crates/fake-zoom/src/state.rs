//! Shared state behind every handler and the [`crate::FakeZoom`] handle.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{FakeConfig, Knobs, RecordedRequest, SentChatMessage, SentChatbotMessage};

/// A command for one connection's task.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    /// Send this frame (text), after an optional delay; dropped while zombie.
    Frame {
        text: String,
        delay: Option<Duration>,
    },
    /// Close with this code, or drop the TCP connection without a close frame.
    Close(Option<u16>),
    /// Send the token-error frame, then close.
    TokenError,
}

pub(crate) struct Conn {
    pub(crate) subscription: String,
    pub(crate) tx: mpsc::UnboundedSender<ConnCmd>,
}

pub(crate) struct Token {
    pub(crate) expires_at: Instant,
    pub(crate) revoked: bool,
}

/// Mutable state, under one lock (never held across an await).
#[derive(Default)]
pub(crate) struct State {
    pub(crate) next_token: u64,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) token_requests: u64,
    pub(crate) ws_connects: u64,
    pub(crate) heartbeats: u64,
    pub(crate) next_conn: u64,
    pub(crate) conns: HashMap<u64, Conn>,
    pub(crate) team_chat: Vec<SentChatMessage>,
    pub(crate) chatbot: Vec<SentChatbotMessage>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Per-channel accepted send times and the end of a current block.
    pub(crate) windows: HashMap<String, (VecDeque<Instant>, Option<Instant>)>,
    /// Meeting summaries, recording files and chat history served to clients.
    pub(crate) content: crate::content::Content,
    /// Files, reactions, edits and deletes.
    pub(crate) chat_ops: crate::chat_ops::ChatOps,
}

pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) state: Mutex<State>,
    pub(crate) knobs: watch::Sender<Knobs>,
    /// Bumped on every recorded change, for the `wait_for_*` helpers.
    pub(crate) changes: watch::Sender<()>,
    pub(crate) cancel: CancellationToken,
}

/// Per-channel send windows: (messages, window, block).
const WINDOWS: [(usize, u64, u64); 4] =
    [(10, 1, 10), (30, 10, 30), (60, 100, 60), (450, 1000, 300)];

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn knobs(&self) -> Knobs {
        self.knobs.borrow().clone()
    }

    pub(crate) fn changed(&self) {
        self.changes.send_modify(|()| {});
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Issues a new token.
    pub(crate) fn issue_token(&self) -> String {
        let mut st = self.lock();
        st.next_token += 1;
        let token = format!("tok-{}", st.next_token);
        let expires_at = Instant::now() + Duration::from_secs(self.config.expires_in);
        st.tokens.insert(
            token.clone(),
            Token {
                expires_at,
                revoked: false,
            },
        );
        token
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        let st = self.lock();
        st.tokens
            .get(token)
            .is_some_and(|t| !t.revoked && t.expires_at > Instant::now())
    }

    /// Queues commands to every accepted connection; returns how many got them.
    pub(crate) fn broadcast(&self, cmds: impl Fn() -> Vec<ConnCmd>) -> usize {
        let st = self.lock();
        st.conns
            .values()
            .filter(|c| cmds().into_iter().all(|cmd| c.tx.send(cmd).is_ok()))
            .count()
    }

    /// Pushes an event as a `message` frame (honouring the event knobs).
    pub(crate) fn push_event(&self, event: &Value) -> usize {
        let knobs = self.knobs();
        if knobs.zombie {
            return 0;
        }
        self.lock().chat_ops.note_event(event);
        let content = if knobs.content_as_object {
            event.clone()
        } else {
            Value::String(event.to_string())
        };
        let text =
            json!({"module":"message","success":true,"content":content,"header":{}}).to_string();
        let delay = knobs.event_delay_ms.map(Duration::from_millis);
        let copies = if knobs.duplicate_events { 2 } else { 1 };
        self.broadcast(|| {
            (0..copies)
                .map(|_| ConnCmd::Frame {
                    text: text.clone(),
                    delay,
                })
                .collect()
        })
    }

    pub(crate) fn push_raw(&self, text: String) -> usize {
        if self.knobs().zombie {
            return 0;
        }
        self.broadcast(|| {
            vec![ConnCmd::Frame {
                text: text.clone(),
                delay: None,
            }]
        })
    }

    pub(crate) fn drop_connections(&self, code: Option<u16>) -> usize {
        self.broadcast(|| vec![ConnCmd::Close(code)])
    }

    pub(crate) fn expire_tokens(&self) -> usize {
        {
            let mut st = self.lock();
            for t in st.tokens.values_mut() {
                t.revoked = true;
            }
        }
        self.broadcast(|| vec![ConnCmd::TokenError])
    }

    /// Applies the per-channel windows to a send to `channel`. `Err(retry_after)`
    /// when the send is over a limit; otherwise the send is counted.
    pub(crate) fn check_channel_rate(&self, channel: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut st = self.lock();
        let (sent, blocked) = st.windows.entry(channel.to_owned()).or_default();
        if let Some(until) = *blocked {
            if until > now {
                return Err(ceil_secs(until - now));
            }
            *blocked = None;
        }
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1000))
        {
            sent.pop_front();
        }
        for (limit, window, block) in WINDOWS {
            let in_window = sent
                .iter()
                .filter(|t| now.duration_since(**t) < Duration::from_secs(window))
                .count();
            if in_window >= limit {
                *blocked = Some(now + Duration::from_secs(block));
                return Err(block);
            }
        }
        sent.push_back(now);
        Ok(())
    }

    /// Takes one forced 429 if any are pending.
    pub(crate) fn take_forced_429(&self) -> Option<u64> {
        let mut hit = None;
        self.knobs.send_if_modified(|k| {
            if k.force_429_count > 0 {
                k.force_429_count -= 1;
                hit = Some(k.retry_after_secs);
                true
            } else {
                false
            }
        });
        hit
    }

    /// Waits until `cond` holds on the state, or the timeout passes.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&State) -> bool,
    ) -> bool {
        let mut rx = self.changes.subscribe();
        let wait = async {
            loop {
                if cond(&self.lock()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s.max(1)
    }
}

impl Shared {
    pub(crate) fn stats(&self) -> crate::Stats {
        let st = self.lock();
        crate::Stats {
            token_requests: st.token_requests,
            ws_connects: st.ws_connects,
            open_connections: st.conns.len(),
            heartbeats_received: st.heartbeats,
        }
    }

    /// Clears records and counters; tokens and connections stay.
    pub(crate) fn reset(&self) {
        {
            let mut st = self.lock();
            st.team_chat.clear();
            st.chatbot.clear();
            st.requests.clear();
            st.windows.clear();
            st.chat_ops.clear();
            st.token_requests = 0;
            st.ws_connects = 0;
            st.heartbeats = 0;
        }
        self.changed();
    }
}
