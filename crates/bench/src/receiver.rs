//! The loopback webhook receiver standing in for the Moltbot gateway: it
//! answers every POST with the current status (200, or 503 to build a
//! backlog), and records when each event id first arrives with a 2xx answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::time::Instant;

use crate::stream;

/// Arrivals of one measured run: event id → first accepted arrival.
pub(crate) struct Recorder {
    origin: Instant,
    /// Nanoseconds after `origin` plus one; 0 = not arrived.
    arrivals: Vec<AtomicU64>,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    unknown: AtomicU64,
}

impl Recorder {
    fn new(events: usize) -> Self {
        Self {
            origin: Instant::now(),
            arrivals: (0..events).map(|_| AtomicU64::new(0)).collect(),
            delivered: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        }
    }

    fn record(&self, id: Option<u64>, now: Instant) {
        let slot = id
            .and_then(|id| usize::try_from(id).ok())
            .and_then(|i| self.arrivals.get(i));
        let Some(slot) = slot else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let nanos = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX - 1)
            + 1;
        if slot
            .compare_exchange(0, nanos, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Distinct events delivered.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Second and later copies of delivered events.
    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// POSTs answered with 503.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Accepted POSTs that named no event of this run.
    pub(crate) fn unknown(&self) -> u64 {
        self.unknown.load(Ordering::Relaxed)
    }

    /// When event `id` first arrived.
    pub(crate) fn arrival(&self, id: usize) -> Option<Instant> {
        match self.arrivals.get(id)?.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.origin + Duration::from_nanos(n - 1)),
        }
    }

    /// Every arrival time, in id order (`None` = not arrived).
    pub(crate) fn arrivals(&self) -> Vec<Option<Instant>> {
        (0..self.arrivals.len()).map(|i| self.arrival(i)).collect()
    }

    /// Waits (polling every 20 ms) until `target` events arrived or `deadline`
    /// passes; true when they all arrived.
    pub(crate) async fn wait_delivered(&self, target: u64, deadline: Instant) -> bool {
        loop {
            if self.delivered() >= target {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Inner {
    accept: AtomicBool,
    recorder: RwLock<Arc<Recorder>>,
}

/// The running receiver.
#[derive(Clone)]
pub(crate) struct Receiver {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

async fn receive(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> StatusCode {
    let now = Instant::now();
    let recorder = inner
        .recorder
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if !inner.accept.load(Ordering::Relaxed) {
        recorder.rejected.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    recorder.record(stream::id_of(&body), now);
    StatusCode::OK
}

impl Receiver {
    /// Listens on `127.0.0.1:0`, accepting.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            accept: AtomicBool::new(true),
            recorder: RwLock::new(Arc::new(Recorder::new(0))),
        });
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { inner, addr })
    }

    /// The webhook URL (with a query password, as Moltbot's receiver takes it).
    pub(crate) fn url(&self) -> String {
        format!("http://{}/bluebubbles-webhook?password=bench", self.addr)
    }

    /// Starts a new run of `events` ids; returns its recorder.
    pub(crate) fn begin(&self, events: usize) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder::new(events));
        *self
            .inner
            .recorder
            .write()
            .unwrap_or_else(|e| e.into_inner()) = recorder.clone();
        recorder
    }

    /// Answers 200 (`true`) or 503 (`false`) from now on.
    pub(crate) fn set_accept(&self, accept: bool) {
        self.inner.accept.store(accept, Ordering::Relaxed);
    }
}
