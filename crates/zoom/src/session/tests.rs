//! Session state machine over an in-memory transport, with paused time.

use serde_json::json;
use tokio::{
    io::DuplexStream,
    sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
    task::JoinHandle,
};
use tokio_tungstenite::tungstenite::protocol::Role;
use zoom_wire::TokenResponse;

use super::*;

type ServerWs = WebSocketStream<DuplexStream>;

/// The server end of one connection the session opened.
struct Accepted {
    url: String,
    ws: ServerWs,
}

/// Hands each connection's server end to the test.
struct DuplexConnector {
    accepted: UnboundedSender<Accepted>,
}

impl Connector for DuplexConnector {
    type Conn = ServerWs;

    async fn connect(&self, url: &str) -> Result<(ServerWs, Option<String>), tungstenite::Error> {
        let (client, server) = tokio::io::duplex(1 << 16);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        self.accepted
            .send(Accepted {
                url: url.to_owned(),
                ws: server,
            })
            .map_err(|_| tungstenite::Error::ConnectionClosed)?;
        Ok((client, Some("track-test".into())))
    }
}

struct Harness {
    accepted: UnboundedReceiver<Accepted>,
    events: mpsc::Receiver<ReceivedEvent>,
    status: watch::Receiver<SessionStatus>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), ZoomError>>,
    tokens: TokenProvider,
}

fn tokens(expires_in: u64) -> TokenProvider {
    TokenProvider::from_fn(move |n| {
        Ok(TokenResponse {
            access_token: format!("tok-{n}"),
            token_type: "bearer".into(),
            expires_in,
            scope: String::new(),
            api_url: None,
        })
    })
    .with_refresh_margin(Duration::from_secs(1))
}

fn config() -> SessionConfig {
    SessionConfig::new("ws://zoom.test/ws", "sub-1")
}

fn start(config: SessionConfig, tokens: TokenProvider) -> Harness {
    let (tx, accepted) = unbounded_channel();
    let (events_tx, events) = mpsc::channel(config.queue_capacity);
    let cancel = CancellationToken::new();
    let session = Session::new(config, tokens.clone());
    let status = session.status();
    let task = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            session
                .run_with(&DuplexConnector { accepted: tx }, events_tx, cancel)
                .await
        }
    });
    Harness {
        accepted,
        events,
        status,
        cancel,
        task,
        tokens,
    }
}

impl Harness {
    async fn next_connection(&mut self) -> Accepted {
        timeout(Duration::from_secs(600), self.accepted.recv())
            .await
            .expect("no connection within 600 s")
            .expect("session ended")
    }

    async fn next_event(&mut self) -> ReceivedEvent {
        timeout(Duration::from_secs(30), self.events.recv())
            .await
            .expect("no event within 30 s")
            .expect("session ended")
    }

    async fn stop(self) -> Result<(), ZoomError> {
        self.cancel.cancel();
        self.task.await.unwrap()
    }
}

async fn send(ws: &mut ServerWs, frame: serde_json::Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

async fn accept(ws: &mut ServerWs) {
    send(
        ws,
        json!({"module":"build_connection","success":true,"content":"ok","header":{}}),
    )
    .await;
}

fn event(n: u64) -> serde_json::Value {
    json!({"event":"meeting.started","event_ts":1_700_000_000_000u64 + n,"payload":{"account_id":"acc","object":{"id":n.to_string(),"uuid":format!("u{n}")}}})
}

fn message(n: u64) -> serde_json::Value {
    json!({"module":"message","success":true,"content":event(n).to_string(),"header":{}})
}

/// Reads until the next heartbeat request; answers it when `ack`.
async fn next_heartbeat(ws: &mut ServerWs, ack: bool) -> Instant {
    loop {
        let msg = timeout(Duration::from_secs(120), ws.next())
            .await
            .expect("no frame within 120 s")
            .expect("closed")
            .unwrap();
        if let Message::Text(t) = msg {
            assert_eq!(t.as_str(), r#"{"module":"heartbeat"}"#);
            if ack {
                send(
                    ws,
                    json!({"module":"heartbeat","success":true,"content":"live","header":{}}),
                )
                .await;
            }
            return Instant::now();
        }
    }
}

/// Reads until the close frame; returns its code.
async fn expect_close(ws: &mut ServerWs) -> Option<CloseCode> {
    loop {
        match timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no close")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => {}
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

async fn wait_status(
    status: &mut watch::Receiver<SessionStatus>,
    what: impl Fn(&SessionStatus) -> bool,
) -> SessionStatus {
    timeout(Duration::from_secs(600), status.wait_for(|s| what(s)))
        .await
        .expect("status never matched")
        .unwrap()
        .clone()
}

#[test]
fn connect_url_encodes_token_and_subscription() {
    assert_eq!(
        connect_url("wss://ws.zoom.us/ws", "Zh PG+", "a.b-c_d~e/f=="),
        "wss://ws.zoom.us/ws?subscriptionId=Zh%20PG%2B&access_token=a.b-c_d~e%2Ff%3D%3D"
    );
    assert_eq!(
        connect_url("ws://h/ws?x=1", "s", "t"),
        "ws://h/ws?x=1&subscriptionId=s&access_token=t"
    );
}

#[test]
fn ws_errors_never_quote_the_token() {
    let err = tungstenite::Error::Url(tungstenite::error::UrlError::UnableToConnect(
        "ws://h/ws?subscriptionId=s&access_token=se%2Fcret".into(),
    ));
    let text = ws_error_text(&err, "se/cret");
    assert!(
        !text.contains("se%2Fcret") && !text.contains("se/cret"),
        "{text}"
    );
}

#[test]
fn recycle_time_respects_the_margin_and_short_tokens() {
    let cfg = config();
    let now = Instant::now();
    let hour = recycle_at(&cfg, now + Duration::from_secs(3599), now);
    assert_eq!(hour - now, Duration::from_secs(2999));
    // A token shorter than the recycle margin is used for half its life.
    let short = recycle_at(&cfg, now + Duration::from_secs(100), now);
    assert_eq!(short - now, Duration::from_secs(50));
    assert_eq!(recycle_at(&cfg, now, now), now);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_cadence_is_25s_with_bounded_jitter() {
    let mut h = start(config(), tokens(3600));
    let mut conn = h.next_connection().await;
    assert!(
        conn.url
            .starts_with("ws://zoom.test/ws?subscriptionId=sub-1&access_token=tok-1")
    );
    accept(&mut conn.ws).await;
    let t0 = Instant::now();
    let mut beats = vec![];
    for _ in 0..6 {
        beats.push(next_heartbeat(&mut conn.ws, true).await);
    }
    let first = beats[0] - t0;
    assert!(
        first >= Duration::from_secs(25) && first <= Duration::from_secs(27),
        "first heartbeat after {first:?}"
    );
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(25) && gap <= Duration::from_secs(27),
            "gap {gap:?}"
        );
    }
    // Acks kept the connection alive the whole time: no second connection.
    assert!(h.accepted.try_recv().is_err());
    assert_eq!(h.status.borrow().connects, 1);
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn liveness_timeout_after_60s_of_silence_reconnects() {
    let mut h = start(config(), tokens(3600));
    let mut first = h.next_connection().await;
    accept(&mut first.ws).await;
    let t0 = Instant::now();
    // The server reads heartbeats but never answers anything (zombie).
    let zombie = tokio::spawn(async move { while let Some(Ok(_)) = first.ws.next().await {} });
    let mut second = h.next_connection().await;
    let after = Instant::now() - t0;
    assert!(
        after >= Duration::from_secs(60) && after < Duration::from_secs(62),
        "reconnected after {after:?}"
    );
    accept(&mut second.ws).await;
    let status = wait_status(&mut h.status, |s| s.reconnects == 1).await;
    assert_eq!(status.connects, 2);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("nothing received"),
        "{status:?}"
    );
    assert_eq!(status.state, ConnectionState::Connected);
    h.stop().await.unwrap();
    zombie.abort();
}

#[tokio::test(start_paused = true)]
async fn frames_binary_object_content_duplicates_malformed_and_unknown() {
    let mut h = start(config(), tokens(3600));
    let mut conn = h.next_connection().await;
    accept(&mut conn.ws).await;
    // Binary frame.
    conn.ws
        .send(Message::binary(message(1).to_string().into_bytes()))
        .await
        .unwrap();
    // Content already an object.
    send(&mut conn.ws, json!({"module":"message","content":event(2)})).await;
    // Garbage, a message whose content is not an event, an unknown module.
    conn.ws.send(Message::text("not json")).await.unwrap();
    send(
        &mut conn.ws,
        json!({"module":"message","content":"{\"nope\":1}"}),
    )
    .await;
    conn.ws
        .send(Message::binary(vec![0xff, 0xfe]))
        .await
        .unwrap();
    send(&mut conn.ws, json!({"module":"brand_new","x":1})).await;
    // The same event twice.
    send(&mut conn.ws, message(3)).await;
    send(&mut conn.ws, message(3)).await;
    send(&mut conn.ws, message(4)).await;
    let got: Vec<_> = [
        h.next_event().await,
        h.next_event().await,
        h.next_event().await,
        h.next_event().await,
    ]
    .iter()
    .map(|e| e.event.payload["object"]["id"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(got, ["1", "2", "3", "4"]);
    let status = h.status.borrow().clone();
    assert_eq!(status.duplicates_dropped, 1);
    assert_eq!(status.malformed_frames, 3);
    assert_eq!(
        status.connects, 1,
        "bad frames must not drop the connection"
    );
    assert_eq!(status.tracking_id.as_deref(), Some("track-test"));
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn token_error_frames_refresh_the_token_and_reconnect() {
    let mut h = start(config(), tokens(3600));
    for (generation, text) in [(1, "Invalid Token"), (2, "Token is invalid")] {
        let mut conn = h.next_connection().await;
        assert!(
            conn.url
                .ends_with(&format!("access_token=tok-{generation}")),
            "{}",
            conn.url
        );
        accept(&mut conn.ws).await;
        send(
            &mut conn.ws,
            json!({"module":"message","success":false,"content":text}),
        )
        .await;
    }
    let mut conn = h.next_connection().await;
    assert!(conn.url.ends_with("access_token=tok-3"), "{}", conn.url);
    accept(&mut conn.ws).await;
    send(&mut conn.ws, message(7)).await;
    assert_eq!(h.next_event().await.connection_id, 3);
    assert_eq!(h.tokens.request_count(), 3);
    let status = h.status.borrow().clone();
    assert_eq!(status.reconnects, 2);
    assert!(status.last_error.unwrap().contains("Token is invalid"));
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn build_connection_failure_backs_off_and_refreshes() {
    let mut cfg = config();
    cfg.backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(8),
    };
    let mut h = start(cfg, tokens(3600));
    let mut times = vec![];
    for _ in 0..6 {
        let mut conn = h.next_connection().await;
        times.push(Instant::now());
        send(
            &mut conn.ws,
            json!({"module":"build_connection","success":false,"content":"token is empty","header":{}}),
        )
        .await;
    }
    // Each failure forced a new token.
    assert_eq!(h.tokens.request_count(), 6);
    let status = wait_status(&mut h.status, |s| {
        matches!(s.state, ConnectionState::Reconnecting { attempt: 6 })
    })
    .await;
    assert!(status.last_error.unwrap().contains("token is empty"));
    assert_eq!(status.connects, 0);
    // Growing, capped delays: [d/2, d) for d = 1, 2, 4, 8, 8 s.
    let gaps: Vec<_> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, full) in gaps.iter().zip([1u64, 2, 4, 8, 8]) {
        let full = Duration::from_secs(full);
        assert!(
            *gap >= full / 2 && *gap < full + Duration::from_millis(10),
            "{gaps:?}"
        );
    }
    // And it recovers.
    let mut conn = h.next_connection().await;
    accept(&mut conn.ws).await;
    wait_status(&mut h.status, |s| s.state == ConnectionState::Connected).await;
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn recycle_is_make_before_break_without_loss_or_duplicates() {
    let mut cfg = config();
    cfg.recycle_before_expiry = Duration::from_secs(60);
    // 100 s tokens: recycle at max(100 - 60, 100 / 2) = 50 s.
    let mut h = start(cfg, tokens(100));
    let mut old = h.next_connection().await;
    accept(&mut old.ws).await;
    let t0 = Instant::now();
    send(&mut old.ws, message(1)).await;
    let mut new = h.next_connection().await;
    assert_eq!(Instant::now() - t0, Duration::from_secs(50));
    assert!(new.url.ends_with("access_token=tok-2"), "{}", new.url);
    // Overlap: both connections carry events 2 and 3.
    send(&mut old.ws, message(2)).await;
    accept(&mut new.ws).await;
    send(&mut new.ws, message(2)).await;
    send(&mut old.ws, message(3)).await;
    send(&mut new.ws, message(3)).await;
    // The client closes the old one normally...
    assert_eq!(expect_close(&mut old.ws).await, Some(CloseCode::Normal));
    send(&mut new.ws, message(4)).await;
    let ids: Vec<u64> = [
        h.next_event().await,
        h.next_event().await,
        h.next_event().await,
        h.next_event().await,
    ]
    .iter()
    .map(|e| {
        e.event.payload["object"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    })
    .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let status = h.status.borrow().clone();
    assert_eq!((status.connects, status.reconnects), (2, 0));
    assert_eq!(status.duplicates_dropped, 2);
    // ...and the next recycle of the 100 s token comes 50 s later.
    let mut third = h.next_connection().await;
    accept(&mut third.ws).await;
    assert_eq!(expect_close(&mut new.ws).await, Some(CloseCode::Normal));
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn recycle_tolerates_the_server_closing_the_old_connection_first() {
    let mut cfg = config();
    cfg.recycle_before_expiry = Duration::from_secs(60);
    let mut h = start(cfg, tokens(100));
    let mut old = h.next_connection().await;
    accept(&mut old.ws).await;
    let mut new = h.next_connection().await;
    // The server kicks the old one before the new one's build_connection is read.
    send(&mut old.ws, message(1)).await;
    old.ws.close(None).await.unwrap();
    drop(old);
    accept(&mut new.ws).await;
    send(&mut new.ws, message(2)).await;
    assert_eq!(h.next_event().await.connection_id, 1);
    assert_eq!(h.next_event().await.connection_id, 2);
    let status = h.status.borrow().clone();
    assert_eq!((status.connects, status.reconnects), (2, 0));
    assert_eq!(status.state, ConnectionState::Connected);
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_sends_a_normal_close_frame() {
    let mut h = start(config(), tokens(3600));
    let mut conn = h.next_connection().await;
    accept(&mut conn.ws).await;
    wait_status(&mut h.status, |s| s.state == ConnectionState::Connected).await;
    let server = tokio::spawn(async move { expect_close(&mut conn.ws).await });
    let mut status = h.status.clone();
    h.stop().await.unwrap();
    assert_eq!(server.await.unwrap(), Some(CloseCode::Normal));
    assert_eq!(status.borrow_and_update().state, ConnectionState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn rejected_credentials_are_retried_on_the_slow_backoff() {
    const REFUSALS: u64 = 10;
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tokens = {
        let asked = asked.clone();
        TokenProvider::from_fn(move |n| {
            asked.lock().unwrap().push(Instant::now());
            if n <= REFUSALS {
                return Err(ZoomError::OAuth {
                    status: 401,
                    reason: "Invalid client_id or client_secret".into(),
                    error: "invalid_client".into(),
                });
            }
            Ok(TokenResponse {
                access_token: format!("tok-{n}"),
                token_type: "bearer".into(),
                expires_in: 3600,
                scope: String::new(),
                api_url: None,
            })
        })
    };
    let mut h = start(config(), tokens);
    let status = wait_status(&mut h.status, |s| {
        matches!(s.state, ConnectionState::Reconnecting { attempt: 1 })
            && s.next_retry_at_ms.is_some()
    })
    .await;
    let error = status.last_error.unwrap();
    assert!(
        error.starts_with(
            "Zoom rejected the client credentials (HTTP 401 invalid_client: \
             Invalid client_id or client_secret); retrying in "
        ),
        "{error}"
    );
    // It keeps trying and recovers once the credentials work again.
    let mut conn = timeout(Duration::from_secs(3600), h.accepted.recv())
        .await
        .expect("no connection within an hour")
        .unwrap();
    assert!(
        conn.url
            .ends_with(&format!("access_token=tok-{}", REFUSALS + 1))
    );
    accept(&mut conn.ws).await;
    let status = wait_status(&mut h.status, |s| s.state == ConnectionState::Connected).await;
    assert_eq!(status.next_retry_at_ms, None);
    // Delays of the auth backoff: [d/2, d] for d = 5 s doubling, capped at 5 min.
    let times = asked.lock().unwrap().clone();
    assert_eq!(times.len() as u64, REFUSALS + 1);
    let gaps: Vec<_> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let backoff = config().auth_backoff;
    for (i, gap) in gaps.iter().enumerate() {
        let attempt = u32::try_from(i + 1).unwrap();
        let (low, high) = (backoff.delay(attempt, 0.0), backoff.delay(attempt, 1.0));
        assert!(
            *gap >= low && *gap <= high + Duration::from_millis(10),
            "gap {i}: {gap:?} not in [{low:?}, {high:?}]; all: {gaps:?}"
        );
    }
    assert!(
        gaps.last().unwrap() >= &Duration::from_secs(150),
        "the cap is reached: {gaps:?}"
    );
    h.stop().await.unwrap();
}

/// Splits a server socket: a task floods `frames` events (ids from `first`)
/// into it while the returned stream half reads what the client sends.
fn flood(
    ws: ServerWs,
    first: u64,
    frames: u64,
) -> (
    futures_util::stream::SplitStream<ServerWs>,
    JoinHandle<futures_util::stream::SplitSink<ServerWs, Message>>,
) {
    let (mut sink, stream) = ws.split();
    let task = tokio::spawn(async move {
        for n in first..first + frames {
            sink.send(Message::text(message(n).to_string()))
                .await
                .unwrap();
        }
        sink
    });
    (stream, task)
}

/// Reads the client's frames until `count` heartbeats arrived; their times.
async fn heartbeats(
    stream: &mut futures_util::stream::SplitStream<ServerWs>,
    count: usize,
) -> Vec<Instant> {
    let mut beats = Vec::new();
    while beats.len() < count {
        let msg = timeout(Duration::from_secs(120), stream.next())
            .await
            .expect("no frame within 120 s")
            .expect("closed")
            .unwrap();
        if msg.to_text().unwrap_or_default() == r#"{"module":"heartbeat"}"# {
            beats.push(Instant::now());
        }
    }
    beats
}

fn ids(events: &[ReceivedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| {
            e.event.payload["object"]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// Log output of this test binary. Installed as the global subscriber:
/// tracing caches callsite interest process-wide, so a thread-local one can
/// miss events hit first on another test's thread. Tests find their own
/// lines by a field value no other test uses.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn global() -> &'static Captured {
        static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Captured::default();
            let writer = logs.clone();
            tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_max_level(tracing::Level::INFO)
                    .finish(),
            )
            .expect("no other global subscriber in this test binary");
            logs
        })
    }

    /// WARN lines containing every one of `parts`.
    fn warnings(&self, parts: &[&str]) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(" WARN ") && parts.iter().all(|p| l.contains(p)))
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_pauses_reading_while_heartbeats_keep_their_cadence() {
    const FLOOD: u64 = 2_000;
    // A capacity no other test uses: it marks this test's log lines.
    const CAPACITY: u64 = 17;
    let logs = Captured::global();
    let mut cfg = config();
    cfg.queue_capacity = CAPACITY as usize;
    let mut h = start(cfg, tokens(3600));
    let mut conn = h.next_connection().await;
    accept(&mut conn.ws).await;
    let t0 = Instant::now();
    // Nobody reads the events; the server floods far more than the queue holds.
    let (mut stream, flooding) = flood(conn.ws, 0, FLOOD);
    let status = wait_status(&mut h.status, |s| s.reading_paused).await;
    assert_eq!(status.queue_high_water, CAPACITY);
    // Ten minutes stuck: heartbeats on their 25 s cadence, no reconnect (an
    // unread socket is not a dead one), no event dropped.
    let beats = heartbeats(&mut stream, 24).await;
    let first = beats[0] - t0;
    assert!(
        first >= Duration::from_secs(25) && first <= Duration::from_secs(27),
        "first heartbeat after {first:?}"
    );
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(25) && gap <= Duration::from_secs(27),
            "gap {gap:?}"
        );
    }
    assert!(h.accepted.try_recv().is_err(), "reconnected while paused");
    let status = h.status.borrow().clone();
    assert!(status.reading_paused);
    assert_eq!(
        (status.connects, status.state),
        (1, ConnectionState::Connected)
    );
    assert!(!flooding.is_finished(), "the socket was read while paused");
    // The consumer catches up: every event, in order, exactly once.
    let mut got = Vec::new();
    for _ in 0..FLOOD {
        got.push(h.next_event().await);
    }
    assert_eq!(ids(&got), (0..FLOOD).collect::<Vec<_>>());
    let _sink = flooding.await.unwrap();
    let status = wait_status(&mut h.status, |s| !s.reading_paused).await;
    assert!(status.pauses >= 100, "{status:?}");
    assert_eq!(status.queue_high_water, CAPACITY);
    // Warned before it filled up and when it did, but rate-limited: once at
    // the start and once more ten minutes later, not once per pause.
    let mark = format!("capacity={CAPACITY}");
    for what in ["% full", "queue full"] {
        let n = logs.warnings(&[what, &mark]);
        assert!((1..=2).contains(&n), "{n} WARN lines with `{what}`");
    }
    assert!(h.events.try_recv().is_err());
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn liveness_is_enforced_while_the_consumer_is_behind() {
    let mut cfg = config();
    cfg.queue_capacity = 100;
    let mut h = start(cfg, tokens(3600));
    let mut first = h.next_connection().await;
    accept(&mut first.ws).await;
    // Fill the queue exactly; nobody reads it. Then the server goes silent.
    for n in 0..100 {
        send(&mut first.ws, message(n)).await;
    }
    wait_status(&mut h.status, |s| s.queue_high_water == 100).await;
    let silent_from = Instant::now();
    let zombie = tokio::spawn(async move {
        let mut beats = 0;
        while let Some(Ok(msg)) = first.ws.next().await {
            beats += u32::from(msg.to_text().unwrap_or_default().contains("heartbeat"));
        }
        beats
    });
    let mut second = h.next_connection().await;
    let after = Instant::now() - silent_from;
    assert!(
        after >= Duration::from_secs(60) && after < Duration::from_secs(62),
        "reconnected after {after:?}"
    );
    assert_eq!(zombie.await.unwrap(), 2, "heartbeats at 25 and 50 s");
    accept(&mut second.ws).await;
    // One more event while the queue is still full: reading pauses, nothing is lost.
    send(&mut second.ws, message(100)).await;
    let status = wait_status(&mut h.status, |s| s.reading_paused).await;
    assert!(status.last_error.unwrap().contains("nothing received"));
    let mut got = Vec::new();
    for _ in 0..=100 {
        got.push(h.next_event().await);
    }
    assert_eq!(ids(&got), (0..=100).collect::<Vec<_>>());
    assert_eq!(got[100].connection_id, 2);
    wait_status(&mut h.status, |s| !s.reading_paused).await;
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_recycle_during_a_pause_loses_none_of_the_old_connections_events() {
    const SENT: u64 = 40;
    let mut cfg = config();
    cfg.queue_capacity = 5;
    cfg.recycle_before_expiry = Duration::from_secs(60);
    // 100 s tokens: the recycle comes at 50 s, while reading is paused.
    let mut h = start(cfg, tokens(100));
    let mut old = h.next_connection().await;
    accept(&mut old.ws).await;
    for n in 0..SENT {
        send(&mut old.ws, message(n)).await;
    }
    wait_status(&mut h.status, |s| s.reading_paused).await;
    // The old server end answers the client's close (after the events it sent).
    let old_server = tokio::spawn(async move { while let Some(Ok(_)) = old.ws.next().await {} });
    let mut new = h.next_connection().await;
    accept(&mut new.ws).await;
    send(&mut new.ws, message(SENT)).await;
    // A paused minute later, the consumer catches up: nothing was lost.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut got = Vec::new();
    for _ in 0..=SENT {
        got.push(h.next_event().await);
    }
    assert_eq!(ids(&got), (0..=SENT).collect::<Vec<_>>());
    assert_eq!(got[SENT as usize].connection_id, 2);
    timeout(Duration::from_secs(30), old_server)
        .await
        .unwrap()
        .unwrap();
    h.stop().await.unwrap();
}
