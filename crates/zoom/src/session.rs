use std::{
    future::Future,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use moltbot_channel::ConnectionState;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tokio::{
    net::TcpStream,
    sync::{mpsc, watch},
    time::{Instant, Interval, MissedTickBehavior, interval_at, sleep, sleep_until, timeout},
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        self, Message,
        protocol::{CloseFrame, frame::coding::CloseCode},
    },
};
use tokio_util::sync::CancellationToken;
use zoom_wire::{Frame, heartbeat_request};

use crate::{Backoff, TokenProvider, ZoomError, backoff::next_attempt, dedup::Dedup};

/// How many raw contents the overlap dedup remembers at most.
const DEDUP_CAPACITY: usize = 10_000;
/// Bound on sending our close frame and waiting for the server's.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound of the event queue between the session and its consumer.
pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Queue fill (percent of its capacity) from which a WARN is logged.
const QUEUE_WARN_PERCENT: usize = 80;
/// At most one queue-fill WARN per this period.
const QUEUE_WARN_EVERY: Duration = Duration::from_secs(60);

/// Query-string escaping: everything but RFC 3986 unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Settings of a [`Session`]; [`SessionConfig::new`] fills in the defaults.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// WebSocket endpoint, e.g. `wss://ws.zoom.us/ws`.
    pub ws_url: String,
    /// The event subscription to connect to.
    pub subscription_id: String,
    /// Heartbeat period (default 25 s).
    pub heartbeat_interval: Duration,
    /// Random extra delay, up to this much, before the first heartbeat (default 2 s).
    pub heartbeat_jitter: Duration,
    /// Reconnect when nothing at all is received for this long (default 60 s).
    pub liveness_timeout: Duration,
    /// Bound on TCP + WebSocket handshake + `build_connection` (default 10 s).
    pub connect_timeout: Duration,
    /// Reconnect backoff (default 1 s doubling to 60 s).
    pub backoff: Backoff,
    /// A connection up this long resets the backoff attempt counter (default 60 s).
    pub stable_after: Duration,
    /// Open a new connection with a new token this long before the current
    /// token expires, then close the old one (default 10 min).
    pub recycle_before_expiry: Duration,
    /// How long a received event's content is remembered for dedup (default 5 min).
    pub dedup_window: Duration,
    /// Backoff after the OAuth endpoint refuses the credentials (a 4xx such as
    /// 401 `invalid_client`): slower than `backoff`, since a fix takes a human
    /// (default 5 s doubling to 5 min).
    pub auth_backoff: Backoff,
    /// Capacity of the event queue a consumer should create for [`Session::run`]
    /// (default 10,000). The session itself reads the bound from the sender it is
    /// given: when that queue is full it stops reading the socket (TCP
    /// backpressure) while heartbeats go on; no event is dropped.
    pub queue_capacity: usize,
}

impl SessionConfig {
    /// A config with the defaults documented on each field.
    pub fn new(ws_url: impl Into<String>, subscription_id: impl Into<String>) -> Self {
        Self {
            ws_url: ws_url.into(),
            subscription_id: subscription_id.into(),
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_jitter: Duration::from_secs(2),
            liveness_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(60),
            recycle_before_expiry: Duration::from_secs(600),
            dedup_window: Duration::from_secs(300),
            auth_backoff: Backoff {
                base: Duration::from_secs(5),
                max: Duration::from_secs(300),
            },
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// One event as received.
#[derive(Clone, Debug)]
pub struct ReceivedEvent {
    /// The decoded event.
    pub event: zoom_wire::Event,
    /// The event JSON text as received (the `content` string).
    pub raw_content: String,
    /// Arrival time, ms since the epoch.
    pub received_at_ms: i64,
    /// Which connection delivered it (increments per connection opened).
    pub connection_id: u64,
}

/// Observable state of a [`Session`], published on a watch channel.
#[derive(Clone, Debug, Default)]
pub struct SessionStatus {
    /// Connection state.
    pub state: ConnectionState,
    /// Connections established (including recycles).
    pub connects: u64,
    /// Connections re-established after one was lost.
    pub reconnects: u64,
    /// When the last frame of any kind arrived (ms since the epoch).
    pub last_frame_at_ms: Option<i64>,
    /// Since when the session has been continuously connected.
    pub connected_since_ms: Option<i64>,
    /// The last error (no secrets).
    pub last_error: Option<String>,
    /// `x-zm-trackingid` of the current connection's upgrade response.
    pub tracking_id: Option<String>,
    /// Events dropped as duplicates.
    pub duplicates_dropped: u64,
    /// Frames that could not be decoded.
    pub malformed_frames: u64,
    /// When the next connection attempt is due while waiting after a failure
    /// (ms since the epoch); `None` otherwise.
    pub next_retry_at_ms: Option<i64>,
    /// The highest number of events seen waiting in the event queue.
    pub queue_high_water: u64,
    /// True while the event queue is full and the socket is not read.
    pub reading_paused: bool,
    /// How many times reading paused on a full event queue.
    pub pauses: u64,
}

/// A WebSocket event-subscription session: connects with a fresh token, sends
/// heartbeats, detects dead sockets, reconnects with backoff, recycles the
/// connection before the token expires (make-before-break) and dedups the
/// overlap.
pub struct Session {
    config: SessionConfig,
    tokens: TokenProvider,
    status: watch::Sender<SessionStatus>,
}

impl Session {
    /// A session that gets its tokens from `tokens`.
    pub fn new(config: SessionConfig, tokens: TokenProvider) -> Self {
        Self {
            config,
            tokens,
            status: watch::Sender::new(SessionStatus::default()),
        }
    }

    /// A receiver of status updates.
    pub fn status(&self) -> watch::Receiver<SessionStatus> {
        self.status.subscribe()
    }

    /// Runs until `cancel` fires or `events`' receiver is dropped (then closes
    /// with a close frame and returns `Ok`). Every failure, OAuth refusals
    /// included, is retried with backoff and shown in the status.
    ///
    /// Backpressure: events go into `events` (bounded; see
    /// [`SessionConfig::queue_capacity`]) without waiting. When it is full the
    /// session holds the one event it has read, stops reading the socket and
    /// suspends the liveness timer (unread frames would only prove the socket
    /// alive), while heartbeats keep going; it reads again once there is room.
    ///
    /// # Errors
    /// None today: kept so a future fatal condition can be reported.
    pub async fn run(
        self,
        events: mpsc::Sender<ReceivedEvent>,
        cancel: CancellationToken,
    ) -> Result<(), ZoomError> {
        self.run_with(&WsConnector, events, cancel).await
    }

    pub(crate) async fn run_with<K: Connector>(
        self,
        connector: &K,
        events: mpsc::Sender<ReceivedEvent>,
        cancel: CancellationToken,
    ) -> Result<(), ZoomError> {
        let config = &self.config;
        let ctx = Ctx {
            config,
            tokens: &self.tokens,
            connector,
        };
        let mut live = Live {
            config,
            status: &self.status,
            events: &events,
            cancel: &cancel,
            dedup: Dedup::new(config.dedup_window, DEDUP_CAPACITY),
            next_id: 0,
            blocked: None,
            warned_at: None,
            paused_warned_at: None,
        };
        let mut attempt = 0;
        let mut stale = None;
        let mut connected_before = false;
        let mut auth_refused = None;
        loop {
            if attempt == 0 {
                live.set_state(ConnectionState::Connecting);
            }
            let opened = tokio::select! {
                biased;
                () = cancel.cancelled() => return live.stopped(),
                opened = open(ctx, stale.take()) => opened,
            };
            let connected_for = match opened {
                Ok(link) => {
                    let link = live.accept(link, Some(connected_before));
                    connected_before = true;
                    let (end, up) = live.drive(ctx, link).await;
                    match end {
                        End::Stopped => return live.stopped(),
                        End::Lost(failure) => {
                            live.record_error(&failure.error);
                            stale = failure.stale;
                            Some(up)
                        }
                    }
                }
                Err(failure) => {
                    stale = failure.stale;
                    if is_auth_refusal(&failure.error) {
                        auth_refused = Some(failure.error);
                    } else {
                        live.record_error(&failure.error);
                    }
                    None
                }
            };
            attempt = next_attempt(attempt, connected_for, config.stable_after);
            let backoff = if auth_refused.is_some() {
                config.auth_backoff
            } else {
                config.backoff
            };
            let delay = backoff.delay(attempt, rand::random());
            if let Some(error) = auth_refused.take() {
                let reason = auth_refusal_text(&error, delay);
                tracing::error!(error = %reason, "Zoom OAuth refused");
                live.status.send_modify(|s| s.last_error = Some(reason));
            }
            live.set_state(ConnectionState::Reconnecting { attempt });
            let retry_at =
                now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            live.status
                .send_modify(|s| s.next_retry_at_ms = Some(retry_at));
            tracing::info!(
                attempt,
                delay_ms = delay.as_millis() as u64,
                "reconnecting to Zoom"
            );
            tokio::select! {
                biased;
                () = cancel.cancelled() => return live.stopped(),
                () = sleep(delay) => {}
            }
            live.status.send_modify(|s| s.next_retry_at_ms = None);
        }
    }
}

/// A bidirectional WebSocket message transport (a real socket, or an
/// in-memory one in tests).
pub(crate) trait Transport:
    Stream<Item = Result<Message, tungstenite::Error>>
    + Sink<Message, Error = tungstenite::Error>
    + Unpin
    + Send
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin
        + Send
{
}

/// Opens transports: returns the stream and the `x-zm-trackingid` header.
pub(crate) trait Connector: Sync {
    /// The transport type.
    type Conn: Transport;
    /// Opens a WebSocket to `url`.
    fn connect(
        &self,
        url: &str,
    ) -> impl Future<Output = Result<(Self::Conn, Option<String>), tungstenite::Error>> + Send;
}

/// The real connector: TCP (+ TLS for `wss`) + WebSocket upgrade.
pub(crate) struct WsConnector;

impl Connector for WsConnector {
    type Conn = WebSocketStream<MaybeTlsStream<TcpStream>>;

    async fn connect(&self, url: &str) -> Result<(Self::Conn, Option<String>), tungstenite::Error> {
        let (ws, response) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        let tracking_id = response
            .headers()
            .get("x-zm-trackingid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((ws, tracking_id))
    }
}

/// The WebSocket URL: `{ws_url}?subscriptionId=…&access_token=…`, both
/// percent-encoded. Never log it: it carries the token.
pub(crate) fn connect_url(ws_url: &str, subscription_id: &str, token: &str) -> String {
    let sep = if ws_url.contains('?') { '&' } else { '?' };
    format!(
        "{ws_url}{sep}subscriptionId={}&access_token={}",
        utf8_percent_encode(subscription_id, QUERY),
        utf8_percent_encode(token, QUERY)
    )
}

/// A WebSocket error as text, with the token (raw or encoded) removed in case
/// the error quotes the URL.
fn ws_error_text(err: &tungstenite::Error, token: &str) -> String {
    let text = match err {
        tungstenite::Error::Http(response) => {
            format!("WebSocket upgrade refused: HTTP {}", response.status())
        }
        other => other.to_string(),
    };
    if token.is_empty() {
        return text;
    }
    let encoded = utf8_percent_encode(token, QUERY).to_string();
    text.replace(&encoded, "<redacted>")
        .replace(token, "<redacted>")
}

/// The OAuth endpoint refused the request itself (4xx: bad or deactivated
/// credentials, bad account id): retried on the slower
/// [`SessionConfig::auth_backoff`].
fn is_auth_refusal(error: &ZoomError) -> bool {
    matches!(error, ZoomError::OAuth { .. }) && error.retry_kind() == crate::RetryKind::Permanent
}

/// True (and records now) when the rate-limited log guarded by `last` may
/// be written: never written yet, or [`QUEUE_WARN_EVERY`] ago.
fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < QUEUE_WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// The status text of an OAuth refusal, with when the next attempt comes,
/// e.g. "Zoom rejected the client credentials (HTTP 401 invalid_client:
/// Invalid client_id or client_secret); retrying in 300 s".
fn auth_refusal_text(error: &ZoomError, delay: Duration) -> String {
    let what = match error {
        ZoomError::OAuth {
            status,
            reason,
            error: code,
        } => {
            let verb = if *status == 401 {
                "rejected the client credentials"
            } else {
                "refused the token request"
            };
            format!("Zoom {verb} (HTTP {status} {code}: {reason})")
        }
        other => other.to_string(),
    };
    format!("{what}; retrying in {} s", delay.as_secs_f64().ceil())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "(no content)".into(),
        Some(other) => other.to_string(),
    }
}

fn close_text(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!(
            "closed by Zoom (code {}, {:?})",
            u16::from(f.code),
            f.reason.as_str()
        ),
        None => "closed by Zoom (no close code)".into(),
    }
}

/// A connection attempt or connection that failed; `stale` names the token
/// generation to replace before the next attempt.
struct Failure {
    error: ZoomError,
    stale: Option<u64>,
}

impl Failure {
    fn new(error: ZoomError) -> Self {
        Self { error, stale: None }
    }
}

/// An accepted connection (its `build_connection` succeeded).
struct Link<C> {
    id: u64,
    ws: C,
    generation: u64,
    expires_at: Instant,
    tracking_id: Option<String>,
    close_note: Option<String>,
}

/// What a connection attempt needs; all shared references.
struct Ctx<'a, K> {
    config: &'a SessionConfig,
    tokens: &'a TokenProvider,
    connector: &'a K,
}

impl<K> Clone for Ctx<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Ctx<'_, K> {}

/// Opens the socket at `url` and waits for a successful `build_connection`;
/// returns the socket and the `x-zm-trackingid`. `secret` is redacted from errors.
pub(crate) async fn handshake<K: Connector>(
    connector: &K,
    url: &str,
    secret: &str,
) -> Result<(K::Conn, Option<String>), ZoomError> {
    let (mut ws, tracking_id) = connector
        .connect(url)
        .await
        .map_err(|e| ZoomError::Network(ws_error_text(&e, secret)))?;
    tracing::debug!(
        ?tracking_id,
        "WebSocket upgraded; waiting for build_connection"
    );
    loop {
        let frame = match ws.next().await {
            None => {
                return Err(ZoomError::Network(
                    "connection closed before build_connection".into(),
                ));
            }
            Some(Err(e)) => return Err(ZoomError::Network(ws_error_text(&e, secret))),
            Some(Ok(Message::Text(text))) => Frame::parse(text.as_str()),
            Some(Ok(Message::Binary(bytes))) => Frame::parse_binary(&bytes),
            Some(Ok(Message::Close(frame))) => {
                return Err(ZoomError::Network(format!(
                    "{} before build_connection",
                    close_text(frame.as_ref())
                )));
            }
            Some(Ok(_)) => continue,
        }
        .map_err(|e| ZoomError::Protocol(format!("malformed first frame: {e}")))?;
        if frame.is_token_error() {
            return Err(ZoomError::TokenRejected(
                frame.content_text().unwrap_or_default().to_owned(),
            ));
        }
        return match frame {
            Frame::BuildConnection { success: true, .. } => Ok((ws, tracking_id)),
            Frame::BuildConnection { content, .. } => {
                Err(ZoomError::BuildConnection(content_text(content.as_ref())))
            }
            other => Err(ZoomError::Protocol(format!(
                "expected build_connection first, got module {:?}",
                other.module()
            ))),
        };
    }
}

/// Gets a token (a new one when `stale` names the current generation), opens
/// the socket and waits for a successful `build_connection`.
async fn open<K: Connector>(ctx: Ctx<'_, K>, stale: Option<u64>) -> Result<Link<K::Conn>, Failure> {
    let token = match stale {
        Some(generation) => ctx.tokens.refresh(generation).await,
        None => ctx.tokens.token().await,
    }
    .map_err(Failure::new)?;
    let secret = token.value.expose();
    let url = connect_url(&ctx.config.ws_url, &ctx.config.subscription_id, secret);
    let handshake = handshake(ctx.connector, &url, secret);
    match timeout(ctx.config.connect_timeout, handshake).await {
        Ok(Ok((ws, tracking_id))) => Ok(Link {
            id: 0,
            ws,
            generation: token.generation,
            expires_at: token.expires_at,
            tracking_id,
            close_note: None,
        }),
        Ok(Err(error)) => {
            let stale = matches!(
                error,
                ZoomError::BuildConnection(_) | ZoomError::TokenRejected(_)
            )
            .then_some(token.generation);
            Err(Failure { error, stale })
        }
        Err(_) => Err(Failure::new(ZoomError::Timeout(format!(
            "no build_connection within {:?}",
            ctx.config.connect_timeout
        )))),
    }
}

/// When to start replacing a link: `recycle_before_expiry` before its token
/// expires, but never sooner than half of the token's remaining life (so a
/// short-lived token cannot cause a recycle storm).
fn recycle_at(config: &SessionConfig, expires_at: Instant, now: Instant) -> Instant {
    let remaining = expires_at.saturating_duration_since(now);
    let planned = expires_at
        .checked_sub(config.recycle_before_expiry)
        .unwrap_or(now);
    planned.max(now + remaining / 2)
}

/// The heartbeat timer: first tick one period plus a random jitter from now,
/// then every period; late ticks are delayed, not bunched.
fn heartbeat_timer(config: &SessionConfig) -> Interval {
    let period = config.heartbeat_interval.max(Duration::from_millis(1));
    let jitter = config.heartbeat_jitter.mul_f64(rand::random::<f64>());
    let mut timer = interval_at(Instant::now() + period + jitter, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

async fn next_message<C: Transport>(
    link: &mut Option<Link<C>>,
) -> Option<Result<Message, tungstenite::Error>> {
    match link {
        Some(link) => link.ws.next().await,
        None => std::future::pending().await,
    }
}

async fn poll_pending<F: Future + Unpin>(fut: &mut Option<F>) -> F::Output {
    match fut {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

/// Sends a normal close frame on `link`'s socket and waits (bounded) for the server's close.
async fn close_link<C: Transport>(link: Option<Link<C>>) {
    let Some(mut link) = link else { return };
    close_socket(&mut link.ws, link.id).await;
}

/// Sends a normal close frame and waits (bounded) for the server's close.
pub(crate) async fn close_socket<C: Transport>(ws: &mut C, connection: u64) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let closing = async {
        ws.send(Message::Close(Some(frame))).await?;
        while let Some(msg) = ws.next().await {
            msg?;
        }
        Ok::<_, tungstenite::Error>(())
    };
    match timeout(CLOSE_TIMEOUT, closing).await {
        Ok(Ok(())) => tracing::debug!(connection, "Zoom connection closed"),
        Ok(Err(e)) => tracing::debug!(connection, error = %e, "error while closing"),
        Err(_) => tracing::debug!(connection, "close handshake timed out"),
    }
}

/// How a connected period ended.
enum End {
    Stopped,
    Lost(Failure),
}

/// What one inbound message means for its connection.
enum Flow {
    Continue,
    Closing(String),
    Stop,
    Lost(ZoomError),
}

/// The mutable side of a running session.
struct Live<'a> {
    config: &'a SessionConfig,
    status: &'a watch::Sender<SessionStatus>,
    events: &'a mpsc::Sender<ReceivedEvent>,
    cancel: &'a CancellationToken,
    dedup: Dedup,
    next_id: u64,
    /// An event read while the queue was full: reading waits until it is queued.
    blocked: Option<ReceivedEvent>,
    /// When the last queue-fill WARN was logged.
    warned_at: Option<Instant>,
    /// When the last queue-full (reading paused) WARN was logged.
    paused_warned_at: Option<Instant>,
}

impl Live<'_> {
    fn set_state(&self, state: ConnectionState) {
        self.status.send_if_modified(|s| {
            if s.state == state {
                return false;
            }
            tracing::info!(from = ?s.state, to = ?state, "Zoom session state");
            s.state = state;
            true
        });
    }

    fn record_error(&self, error: &ZoomError) {
        tracing::warn!(error = %error, "Zoom connection problem");
        let text = error.to_string();
        self.status.send_modify(|s| s.last_error = Some(text));
    }

    /// Publishes `Stopped`; the session's result.
    fn stopped(&self) -> Result<(), ZoomError> {
        self.set_state(ConnectionState::Stopped);
        self.status.send_modify(|s| s.connected_since_ms = None);
        Ok(())
    }

    /// Numbers a new link and publishes it. `reconnect` is `None` for a
    /// recycle, else whether an earlier connection was lost.
    fn accept<C>(&mut self, mut link: Link<C>, reconnect: Option<bool>) -> Link<C> {
        self.next_id += 1;
        link.id = self.next_id;
        tracing::info!(
            connection = link.id,
            tracking_id = link.tracking_id.as_deref().unwrap_or("-"),
            recycle = reconnect.is_none(),
            "Zoom WebSocket connected"
        );
        self.status.send_modify(|s| {
            s.connects += 1;
            if reconnect == Some(true) {
                s.reconnects += 1;
            }
            if reconnect.is_some() {
                s.connected_since_ms = Some(now_ms());
            }
            s.tracking_id.clone_from(&link.tracking_id);
        });
        self.set_state(ConnectionState::Connected);
        link
    }

    /// Bookkeeping after an event entered the queue: the high-water mark and
    /// a rate-limited WARN from [`QUEUE_WARN_PERCENT`] full.
    fn queued(&mut self) {
        let capacity = self.events.max_capacity();
        let depth = capacity.saturating_sub(self.events.capacity());
        let depth64 = depth as u64;
        self.status.send_if_modified(|s| {
            let higher = depth64 > s.queue_high_water;
            if higher {
                s.queue_high_water = depth64;
            }
            higher
        });
        let filling = depth.saturating_mul(100) >= capacity.saturating_mul(QUEUE_WARN_PERCENT);
        if filling && due(&mut self.warned_at) {
            tracing::warn!(
                depth,
                capacity,
                "Zoom event queue is {}% full: the consumer (rendering, storage) is behind; \
                 reading from Zoom pauses when it is full",
                depth.saturating_mul(100) / capacity.max(1)
            );
        }
    }

    /// Publishes whether reading is paused on a full queue, and logs the
    /// change (the WARN at most once per [`QUEUE_WARN_EVERY`]: under sustained
    /// load reading pauses and resumes with every event).
    fn set_paused(&mut self, paused: bool) {
        let mut pauses = 0;
        let changed = self.status.send_if_modified(|s| {
            if s.reading_paused == paused {
                return false;
            }
            s.reading_paused = paused;
            if paused {
                s.pauses += 1;
            }
            pauses = s.pauses;
            true
        });
        if !changed {
            return;
        }
        if !paused {
            tracing::debug!("Zoom event queue has room again: reading resumed");
        } else if due(&mut self.paused_warned_at) {
            tracing::warn!(
                capacity = self.events.max_capacity(),
                pauses,
                "Zoom event queue full: not reading from Zoom until the consumer catches up \
                 (heartbeats go on)"
            );
        } else {
            tracing::debug!(pauses, "Zoom event queue full again: reading paused");
        }
    }

    /// Handles one inbound message of connection `conn`.
    async fn on_message(&mut self, msg: Message, conn: u64) -> Flow {
        self.status
            .send_modify(|s| s.last_frame_at_ms = Some(now_ms()));
        let parsed = match &msg {
            Message::Text(text) => Frame::parse(text.as_str()),
            Message::Binary(bytes) => Frame::parse_binary(bytes),
            Message::Close(frame) => return Flow::Closing(close_text(frame.as_ref())),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Flow::Continue,
        };
        let frame = match parsed {
            Ok(frame) => frame,
            Err(error) => {
                self.status.send_modify(|s| s.malformed_frames += 1);
                tracing::warn!(connection = conn, %error, len = msg.len(), "malformed Zoom frame ignored");
                return Flow::Continue;
            }
        };
        if frame.is_token_error() {
            return Flow::Lost(ZoomError::TokenRejected(
                frame.content_text().unwrap_or_default().to_owned(),
            ));
        }
        match frame {
            Frame::Message {
                event, raw_content, ..
            } => {
                if !self.dedup.first_sighting(&raw_content, Instant::now()) {
                    self.status.send_modify(|s| s.duplicates_dropped += 1);
                    tracing::debug!(connection = conn, event = %event.event, "duplicate event dropped");
                    return Flow::Continue;
                }
                tracing::debug!(connection = conn, event = %event.event, "event received");
                let received = ReceivedEvent {
                    event: *event,
                    raw_content,
                    received_at_ms: now_ms(),
                    connection_id: conn,
                };
                match self.events.try_reserve() {
                    Ok(permit) => {
                        permit.send(received);
                        self.queued();
                        Flow::Continue
                    }
                    Err(mpsc::error::TrySendError::Full(())) => {
                        self.blocked = Some(received);
                        self.set_paused(true);
                        Flow::Continue
                    }
                    Err(mpsc::error::TrySendError::Closed(())) => {
                        tracing::info!("event receiver dropped; stopping the Zoom session");
                        Flow::Stop
                    }
                }
            }
            failed if failed.is_failure() => Flow::Lost(ZoomError::Protocol(format!(
                "{} frame with success:false: {}",
                failed.module(),
                failed.content_text().unwrap_or("(no content)")
            ))),
            Frame::Heartbeat { .. } => {
                tracing::trace!(connection = conn, "heartbeat ack");
                Flow::Continue
            }
            Frame::BuildConnection { .. } => {
                tracing::debug!(connection = conn, "extra build_connection ignored");
                Flow::Continue
            }
            other => {
                tracing::warn!(
                    connection = conn,
                    module = other.module(),
                    "unknown Zoom frame module ignored"
                );
                Flow::Continue
            }
        }
    }

    /// Runs an accepted link (and its successors, when recycled) until it is
    /// lost or the session stops. Returns how long it stayed connected.
    async fn drive<K: Connector>(
        &mut self,
        ctx: Ctx<'_, K>,
        first: Link<K::Conn>,
    ) -> (End, Duration) {
        let config = self.config;
        let events = self.events;
        let started = Instant::now();
        let mut recycle_stale = first.generation;
        let mut recycle_failures = 0;
        let recycle = sleep_until(recycle_at(config, first.expires_at, started));
        let liveness = sleep(config.liveness_timeout);
        let drain_deadline = sleep(Duration::ZERO);
        tokio::pin!(recycle, liveness, drain_deadline);
        let mut heartbeat = heartbeat_timer(config);
        let mut primary = Some(first);
        let mut draining: Option<Link<K::Conn>> = None;
        let mut recycling = None;
        let end = loop {
            let primary_lost: Option<Failure> = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    close_link(primary.take()).await;
                    close_link(draining.take()).await;
                    break End::Stopped;
                }
                permit = events.reserve(), if self.blocked.is_some() => {
                    match permit {
                        Ok(permit) => {
                            permit.send(self.blocked.take().expect("guarded"));
                            self.queued();
                            self.set_paused(false);
                            // Frames waited unread meanwhile: the liveness clock (and a
                            // recycled connection's drain deadline) restart.
                            let now = Instant::now();
                            liveness.as_mut().reset(now + config.liveness_timeout);
                            if draining.is_some() {
                                drain_deadline.as_mut().reset(now + config.connect_timeout);
                            }
                            None
                        }
                        Err(_) => {
                            tracing::info!("event receiver dropped; stopping the Zoom session");
                            close_link(primary.take()).await;
                            close_link(draining.take()).await;
                            break End::Stopped;
                        }
                    }
                }
                // The recycled connection first: its events are older.
                msg = next_message(&mut draining), if draining.is_some() && self.blocked.is_none() => {
                    let id = draining.as_ref().expect("guarded").id;
                    match msg {
                        Some(Ok(msg)) => match self.on_message(msg, id).await {
                            Flow::Stop => {
                                close_link(primary.take()).await;
                                close_link(draining.take()).await;
                                break End::Stopped;
                            }
                            Flow::Lost(_) => draining = None,
                            Flow::Continue | Flow::Closing(_) => {}
                        },
                        Some(Err(_)) | None => {
                            tracing::debug!(connection = id, "old connection closed after recycle");
                            draining = None;
                        }
                    }
                    None
                }
                msg = next_message(&mut primary), if primary.is_some() && self.blocked.is_none() => {
                    let link = primary.as_mut().expect("guarded");
                    match msg {
                        Some(Ok(msg)) => {
                            liveness.as_mut().reset(Instant::now() + config.liveness_timeout);
                            match self.on_message(msg, link.id).await {
                                Flow::Continue => None,
                                Flow::Closing(note) => {
                                    link.close_note = Some(note);
                                    None
                                }
                                Flow::Stop => {
                                    close_link(primary.take()).await;
                                    close_link(draining.take()).await;
                                    break End::Stopped;
                                }
                                Flow::Lost(error) => {
                                    let token_related = matches!(error, ZoomError::TokenRejected(_) | ZoomError::Protocol(_));
                                    Some(Failure { error, stale: token_related.then_some(link.generation) })
                                }
                            }
                        }
                        Some(Err(e)) => Some(Failure::new(ZoomError::Network(e.to_string()))),
                        None => Some(Failure::new(ZoomError::Network(
                            link.close_note.take().unwrap_or_else(|| "connection closed".into()),
                        ))),
                    }
                }
                done = poll_pending(&mut recycling), if recycling.is_some() => {
                    recycling = None;
                    match done {
                        Ok(link) => {
                            recycle_failures = 0;
                            let link = self.accept(link, None);
                            let now = Instant::now();
                            recycle_stale = link.generation;
                            recycle.as_mut().reset(recycle_at(config, link.expires_at, now));
                            liveness.as_mut().reset(now + config.liveness_timeout);
                            heartbeat = heartbeat_timer(config);
                            if let Some(mut old) = primary.replace(link) {
                                tracing::info!(connection = old.id, "closing the recycled connection");
                                let frame = CloseFrame { code: CloseCode::Normal, reason: "recycled".into() };
                                match timeout(CLOSE_TIMEOUT, old.ws.send(Message::Close(Some(frame)))).await {
                                    Ok(Ok(())) => {
                                        draining = Some(old);
                                        drain_deadline.as_mut().reset(now + config.connect_timeout);
                                    }
                                    _ => tracing::debug!(connection = old.id, "old connection already gone"),
                                }
                            }
                            None
                        }
                        Err(failure) => {
                            if primary.is_none() {
                                break End::Lost(failure);
                            }
                            self.record_error(&failure.error);
                            recycle_stale = recycle_stale.max(failure.stale.unwrap_or(0));
                            recycle_failures += 1;
                            let delay = config.backoff.delay(recycle_failures, rand::random());
                            recycle.as_mut().reset(Instant::now() + delay);
                            None
                        }
                    }
                }
                _ = heartbeat.tick(), if primary.is_some() => {
                    let link = primary.as_mut().expect("guarded");
                    tracing::trace!(connection = link.id, "sending heartbeat");
                    match link.ws.send(Message::text(heartbeat_request())).await {
                        Ok(()) => None,
                        Err(e) => Some(Failure::new(ZoomError::Network(format!("heartbeat send failed: {e}")))),
                    }
                }
                () = &mut liveness, if primary.is_some() && self.blocked.is_none() => Some(Failure::new(ZoomError::Timeout(format!(
                    "nothing received from Zoom for {:?}", config.liveness_timeout
                )))),
                () = &mut recycle, if primary.is_some() && recycling.is_none() => {
                    let link = primary.as_ref().expect("guarded");
                    tracing::info!(connection = link.id, "recycling the connection before its token expires");
                    recycle_stale = recycle_stale.max(link.generation);
                    recycling = Some(Box::pin(open(ctx, Some(recycle_stale))));
                    None
                }
                () = &mut drain_deadline, if draining.is_some() && self.blocked.is_none() => {
                    tracing::debug!("old connection did not close in time; dropping it");
                    draining = None;
                    None
                }
            };
            if let Some(failure) = primary_lost {
                if recycling.is_some() {
                    // The server may close the old connection itself once the
                    // new one is accepted: wait for the new one.
                    tracing::info!(error = %failure.error, "connection ended during recycle");
                    primary = None;
                } else {
                    break End::Lost(failure);
                }
            }
        };
        (end, started.elapsed())
    }
}

#[cfg(test)]
mod tests;
