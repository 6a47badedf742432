use serde::{Deserialize, Serialize};

/// State of the platform connection, observable by status endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ConnectionState {
    /// Not started.
    #[default]
    Idle,
    /// Opening a connection.
    Connecting,
    /// Connected and receiving.
    Connected,
    /// Waiting before reconnect attempt `attempt`.
    Reconnecting {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// Stopped on request.
    Stopped,
    /// Stopped by an error retrying cannot fix.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Monotonic counters of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Platform events received.
    pub events_received: u64,
    /// Inbound messages produced.
    pub messages_emitted: u64,
    /// Events dropped as duplicates.
    pub duplicates_dropped: u64,
    /// Events dropped by filters (include/exclude, self-echo).
    pub filtered: u64,
    /// Frames or events that could not be decoded.
    pub malformed: u64,
    /// Connections opened.
    pub connects: u64,
    /// Outbound messages sent.
    pub sent: u64,
    /// Outbound sends that failed.
    pub send_failures: u64,
    /// Events whose handling failed (a panic or an error at the event
    /// boundary); each is logged at ERROR and the pipeline goes on.
    #[serde(default)]
    pub events_failed: u64,
    /// Connection gaps noticed (each reported in the feed).
    #[serde(default)]
    pub gaps: u64,
    /// Messages recovered after gaps.
    #[serde(default)]
    pub messages_recovered: u64,
}

/// The bounded in-memory queue between the platform connection and the
/// channel's consumer (rendering, storage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueStatus {
    /// Events waiting now.
    pub depth: u64,
    /// The bound; 0 when the transport has no such queue (webhooks).
    pub capacity: u64,
    /// The highest depth seen since start.
    pub high_water: u64,
    /// True while the queue is full and the connection is not read
    /// (backpressure onto the platform's socket).
    pub reading_paused: bool,
    /// How many times reading paused on a full queue.
    pub pauses: u64,
}

/// A snapshot of an account (Moltbot's `ChannelAccountSnapshot`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// Account id.
    pub account_id: String,
    /// Connection state.
    pub connection: ConnectionState,
    /// When the last event arrived (ms since the epoch).
    pub last_event_at_ms: Option<i64>,
    /// Delay of the last event: arrival minus its `event_ts`, in ms.
    pub last_event_lag_ms: Option<i64>,
    /// When the current connection was established.
    pub connected_since_ms: Option<i64>,
    /// Last error text (never contains secrets).
    pub last_error: Option<String>,
    /// When the next connection attempt is due after a failure (ms since the epoch).
    #[serde(default)]
    pub next_retry_at_ms: Option<i64>,
    /// Counters.
    pub counters: Counters,
    /// The inbound event queue.
    #[serde(default)]
    pub queue: QueueStatus,
}

/// One Prometheus sample: name (without the `moltbot_zoom_` prefix), kind
/// (`gauge` / `counter`), help text and value.
pub type Metric = (&'static str, &'static str, &'static str, u64);

impl AccountStatus {
    /// True when connected.
    pub fn connected(&self) -> bool {
        self.connection == ConnectionState::Connected
    }

    /// The inbound pipeline's samples for `/metrics`: the event queue, failed
    /// events and connection gaps.
    pub fn pipeline_metrics(&self) -> [Metric; 8] {
        let q = &self.queue;
        [
            (
                "event_queue_depth",
                "gauge",
                "Zoom events waiting in the in-memory queue.",
                q.depth,
            ),
            (
                "event_queue_capacity",
                "gauge",
                "Bound of the in-memory event queue.",
                q.capacity,
            ),
            (
                "event_queue_high_water",
                "gauge",
                "Highest event queue depth since start.",
                q.high_water,
            ),
            (
                "event_queue_reading_paused",
                "gauge",
                "1 while the queue is full and Zoom's socket is not read.",
                u64::from(q.reading_paused),
            ),
            (
                "event_queue_pauses_total",
                "counter",
                "Times reading paused on a full event queue.",
                q.pauses,
            ),
            (
                "events_failed_total",
                "counter",
                "Zoom events whose handling failed (dropped, logged at ERROR).",
                self.counters.events_failed,
            ),
            (
                "gaps_total",
                "counter",
                "Gaps in the Zoom connection after which events may be missing.",
                self.counters.gaps,
            ),
            (
                "messages_recovered_total",
                "counter",
                "Team Chat messages recovered after gaps.",
                self.counters.messages_recovered,
            ),
        ]
    }
}

/// One check of a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeCheck {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Details or the error.
    pub detail: String,
}

/// Result of [`crate::Channel::probe`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// All checks passed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<ProbeCheck>,
}

impl ProbeReport {
    /// Builds a report; `ok` is true when every check passed.
    pub fn new(checks: Vec<ProbeCheck>) -> Self {
        Self {
            ok: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}
