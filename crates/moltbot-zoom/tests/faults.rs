//! The fault suite: counted, numbered events through the real `moltbot-zoom
//! run` binary under faults — a webhook receiver that fails intermittently,
//! is down for a while, or answers after the sidecar's timeout; the sidecar
//! SIGKILLed mid-stream and restarted; the Zoom WebSocket dropped; malformed
//! frames and unknown events interleaved.
//!
//! Every test asserts the same contract (docs/reliability.md, "Fault suite"):
//! every event pushed while the sidecar was connected (and, before a crash,
//! stored) is delivered at least once; nothing is lost; the first deliveries
//! of each conversation come in push order; a second delivery of a message is
//! allowed only where the consumer may have processed it without the sidecar
//! learning so (an answer after the timeout, a crash between delivery and
//! commit), and it carries the same guid so consumers dedupe.
//!
//! Waits are bounded and driven by signals (the receiver's notifications,
//! fake Zoom's connection events, `/status`), never fixed sleeps.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use common::*;
use fake_zoom::FakeZoom;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Upper bound of waits that include redelivery backoff and the sidecar's
/// 10 s delivery timeout.
const DELIVERY_WAIT: Duration = Duration::from_secs(40);

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Process it, answer 200.
    Accept,
    /// Do not process it, answer this status.
    Fail(u16),
    /// Process it, then answer 200 only once a retry of the same message
    /// arrived (so after the sidecar gave up on this request).
    AcceptAnswerAfterRetry,
    /// Process it, answer 200 after this many milliseconds (a slow gateway).
    AcceptSlowly(u64),
}

/// A request as the rule sees it: its index among all requests, and how
/// many earlier requests carried the same message guid.
struct Request {
    index: usize,
    earlier_copies: usize,
}

type Rule = Box<dyn Fn(&Request) -> Action + Send + Sync>;

/// A message the receiver processed.
#[derive(Debug, Clone)]
struct Delivery {
    guid: String,
    chat: String,
    text: String,
}

struct ReceiverState {
    rule: Rule,
    requests: AtomicUsize,
    copies: Mutex<HashMap<String, usize>>,
    accepted: Mutex<Vec<Delivery>>,
    held: Mutex<HashMap<String, Arc<Notify>>>,
    changed: Notify,
}

/// The gateway's webhook route under faults: each request's fate is decided
/// by a rule; only processed requests are recorded.
#[derive(Clone)]
struct FaultyReceiver {
    state: Arc<ReceiverState>,
}

async fn faulty_receive(
    State(st): State<Arc<ReceiverState>>,
    body: axum::body::Bytes,
) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = &body["data"];
    let guid = data["guid"].as_str().unwrap_or_default().to_owned();
    let index = st.requests.fetch_add(1, Ordering::SeqCst);
    let earlier_copies = {
        let mut copies = st.copies.lock().unwrap();
        let n = copies.entry(guid.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    // A retry releases a held earlier copy.
    if let Some(held) = st.held.lock().unwrap().remove(&guid) {
        held.notify_one();
    }
    let action = (st.rule)(&Request {
        index,
        earlier_copies,
    });
    if let Action::Fail(code) = action {
        return StatusCode::from_u16(code).unwrap();
    }
    st.accepted.lock().unwrap().push(Delivery {
        guid: guid.clone(),
        chat: data["chats"][0]["guid"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        text: data["text"].as_str().unwrap_or_default().to_owned(),
    });
    st.changed.notify_waiters();
    match action {
        Action::AcceptAnswerAfterRetry => {
            let release = Arc::new(Notify::new());
            st.held.lock().unwrap().insert(guid, release.clone());
            let _ = tokio::time::timeout(DELIVERY_WAIT, release.notified()).await;
        }
        // The injected fault itself, not a wait of the test.
        Action::AcceptSlowly(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Action::Accept | Action::Fail(_) => {}
    }
    StatusCode::OK
}

impl FaultyReceiver {
    /// Listens on `127.0.0.1:port` (0 = any).
    async fn start(
        port: u16,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> (Self, u16) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ReceiverState {
            rule: Box::new(rule),
            requests: AtomicUsize::new(0),
            copies: Mutex::default(),
            accepted: Mutex::default(),
            held: Mutex::default(),
            changed: Notify::new(),
        });
        let app = axum::Router::new()
            .route("/zoom-webhook", axum::routing::post(faulty_receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Self { state }, port)
    }

    fn accepted(&self) -> Vec<Delivery> {
        self.state.accepted.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `pred` holds for the processed messages.
    async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let now = self.accepted();
            if pred(&now) || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.accepted();
            }
        }
    }

    /// Waits until every counted event of `stream` was processed at least once.
    async fn wait_all(&self, stream: &Counted, timeout: Duration) -> Vec<Delivery> {
        self.wait_for(timeout, |got| stream.missing(got).is_empty())
            .await
    }
}

/// Numbered events over meetings and Team Chat channels; records which
/// pushes reached a connected sidecar.
struct Counted {
    meetings: Vec<u64>,
    channels: Vec<String>,
    next: BTreeMap<String, u32>,
    /// (conversation guid, sequence number) of every event a connection got.
    pushed: Vec<(String, u32)>,
    ts: i64,
}

impl Counted {
    fn new(tag: u64, meetings: u64, channels: u64) -> Self {
        Self {
            meetings: (0..meetings).map(|m| tag * 1_000 + m).collect(),
            channels: (0..channels).map(|c| format!("ch{tag}-{c}")).collect(),
            next: BTreeMap::new(),
            pushed: Vec::new(),
            ts: 1_736_150_400_000,
        }
    }

    fn conversations(&self) -> usize {
        self.meetings.len() + self.channels.len()
    }

    /// Pushes the next event of conversation `k` (meetings first, then
    /// channels); true when a connection received it.
    fn push(&mut self, fake: &FakeZoom, k: usize) -> bool {
        self.ts += 1;
        let (chat, event) = if k < self.meetings.len() {
            let m = self.meetings[k];
            let chat = format!("zoom;+;meeting:{m}");
            let seq = *self.next.get(&chat).unwrap_or(&0);
            (chat, meeting_started(m, seq, self.ts))
        } else {
            let channel = self.channels[k - self.meetings.len()].clone();
            let chat = format!("zoom;+;channel:{channel}");
            let seq = *self.next.get(&chat).unwrap_or(&0);
            (chat, channel_message(&channel, seq, self.ts))
        };
        let seq = *self.next.get(&chat).unwrap_or(&0);
        if fake.push_event(event) == 0 {
            return false;
        }
        self.next.insert(chat.clone(), seq + 1);
        self.pushed.push((chat, seq));
        true
    }

    /// Pushes `rounds` events into every conversation, interleaved; asserts
    /// each reached the connection.
    fn push_rounds(&mut self, fake: &FakeZoom, rounds: u32) {
        for _ in 0..rounds {
            for k in 0..self.conversations() {
                assert!(self.push(fake, k), "no connection took the event");
            }
        }
    }

    /// Counted events not processed yet.
    fn missing(&self, got: &[Delivery]) -> Vec<(String, u32)> {
        let have: std::collections::HashSet<(String, u32)> = got
            .iter()
            .filter_map(|d| Some((d.chat.clone(), seq_of(&d.text)?)))
            .collect();
        self.pushed
            .iter()
            .filter(|p| !have.contains(p))
            .cloned()
            .collect()
    }

    /// Checks the contract over `got`; returns the guids delivered more than
    /// once (each with the same guid every time).
    fn check(&self, got: &[Delivery], context: &str) -> Vec<String> {
        let missing = self.missing(got);
        assert!(
            missing.is_empty(),
            "{} of {} counted events never arrived (first: {:?}); {context}",
            missing.len(),
            self.pushed.len(),
            missing.first()
        );
        let mut guid_of: HashMap<(String, u32), String> = HashMap::new();
        let mut first_order: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut repeated = Vec::new();
        for d in got {
            let Some(seq) = seq_of(&d.text) else {
                continue;
            };
            match guid_of.get(&(d.chat.clone(), seq)) {
                Some(guid) => {
                    assert_eq!(
                        guid, &d.guid,
                        "{} #{seq} came again with a new guid",
                        d.chat
                    );
                    repeated.push(d.guid.clone());
                }
                None => {
                    guid_of.insert((d.chat.clone(), seq), d.guid.clone());
                    first_order.entry(d.chat.clone()).or_default().push(seq);
                }
            }
        }
        let mut expected: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (chat, seq) in &self.pushed {
            expected.entry(chat.clone()).or_default().push(*seq);
        }
        for (chat, seqs) in &expected {
            assert_eq!(
                first_order.get(chat),
                Some(seqs),
                "delivery order of {chat}; {context}"
            );
        }
        let counted: usize = first_order.values().map(Vec::len).sum();
        assert_eq!(
            counted,
            self.pushed.len(),
            "events nobody pushed arrived; {context}"
        );
        repeated
    }
}

/// A Team Chat channel message from Alice whose text carries `#seq`.
fn channel_message(channel: &str, seq: u32, ts: i64) -> Value {
    json!({
        "event": "team_chat.channel_message_posted",
        "event_ts": ts,
        "payload": {
            "account_id": "fake-account",
            "operator": "alice@example.com",
            "operator_id": "uid-alice-example-com",
            "object": {
                "message_id": format!("msg-{channel}-{seq}"),
                "message": format!("{channel} #{seq:04}"),
                "channel_id": channel,
                "channel_name": channel,
                "timestamp": ts
            }
        }
    })
}

/// A sidecar for `fake` delivering to port `hook_port`.
fn start_sidecar(dir: &TempDir, fake: &FakeZoom, hook_port: u16) -> SidecarProcess {
    let config = write_config(
        dir,
        fake,
        "127.0.0.1:0",
        &webhook_url(hook_port),
        "maxAttempts = 1000",
    );
    SidecarProcess::start(&config, "info")
}

async fn connected(fake: &FakeZoom, sidecar: &SidecarProcess) {
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "no WebSocket connection; output:\n{}",
        sidecar.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermittent_500_and_503_lose_nothing_and_duplicate_nothing() {
    let fake = fake_zoom().await;
    // Every third request fails, alternating 500 and 503; failures are not processed.
    let (receiver, port) = FaultyReceiver::start(0, |r| match r.index % 6 {
        1 => Action::Fail(500),
        4 => Action::Fail(503),
        _ => Action::Accept,
    })
    .await;
    let dir = TempDir::new("faults-5xx");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(1, 3, 2);
    stream.push_rounds(&fake, 8);
    let got = receiver.wait_all(&stream, DELIVERY_WAIT).await;
    let repeated = stream.check(&got, &sidecar.output());
    assert!(
        repeated.is_empty(),
        "duplicates without an at-least-once window: {repeated:?}"
    );
    assert!(
        receiver.requests() > got.len(),
        "no request failed: the fault was not injected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_delivers_the_backlog_once_in_order() {
    let fake = fake_zoom().await;
    let port = free_port();
    let dir = TempDir::new("faults-down");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(2, 3, 2);
    stream.push_rounds(&fake, 6);
    let n = stream.pushed.len();
    let status = sidecar
        .wait_status("every event stored", |s| s["outbox"]["depth"] == json!(n))
        .await;
    assert_eq!(status["outbox"]["delivered"], 0, "{status:#}");
    let (receiver, _) = FaultyReceiver::start(port, |_| Action::Accept).await;
    let got = receiver.wait_all(&stream, DELIVERY_WAIT).await;
    let repeated = stream.check(&got, &sidecar.output());
    assert!(repeated.is_empty(), "duplicates: {repeated:?}");
    sidecar
        .wait_status("an empty outbox", |s| s["outbox"]["depth"] == 0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_after_the_timeout_is_redelivered_with_the_same_guid() {
    let fake = fake_zoom().await;
    // The 4th request is processed, but its answer comes only after the
    // sidecar's retry of it (its 10 s delivery timeout expired first).
    let (receiver, port) = FaultyReceiver::start(0, |r| {
        if r.index == 3 && r.earlier_copies == 0 {
            Action::AcceptAnswerAfterRetry
        } else {
            Action::Accept
        }
    })
    .await;
    let dir = TempDir::new("faults-timeout");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(3, 2, 1);
    stream.push_rounds(&fake, 4);
    let got = receiver
        .wait_for(DELIVERY_WAIT, |got| {
            stream.missing(got).is_empty() && got.len() > stream.pushed.len()
        })
        .await;
    let repeated = stream.check(&got, &sidecar.output());
    assert_eq!(
        repeated.len(),
        1,
        "exactly the held message comes twice (same guid); got {repeated:?}\n{}",
        sidecar.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_and_restart_lose_nothing() {
    let fake = fake_zoom().await;
    // A slow gateway (25 ms per answer), so deliveries are still going on
    // when the kill lands.
    let (receiver, port) = FaultyReceiver::start(0, |_| Action::AcceptSlowly(25)).await;
    let dir = TempDir::new("faults-kill");
    let first = start_sidecar(&dir, &fake, port);
    connected(&fake, &first).await;
    let mut stream = Counted::new(4, 4, 2);
    stream.push_rounds(&fake, 10);
    let n = stream.pushed.len();
    // Kill once every event is stored (so none may be lost) while deliveries
    // are still going on.
    first
        .wait_status("every event stored", |s| {
            let depth = s["outbox"]["depth"].as_u64().unwrap_or(0);
            let delivered = s["outbox"]["delivered"].as_u64().unwrap_or(0);
            depth + delivered >= n as u64
        })
        .await;
    let before_kill = receiver.accepted().len();
    first.kill();
    assert!(
        before_kill < n,
        "every event was delivered before the kill: the fault was not injected"
    );
    assert!(fake.wait_for_at_most_connections(0, WAIT).await);

    let second = start_sidecar(&dir, &fake, port);
    connected(&fake, &second).await;
    stream.push_rounds(&fake, 3);
    let got = receiver.wait_all(&stream, DELIVERY_WAIT).await;
    let repeated = stream.check(&got, &second.output());
    // Only deliveries whose result was not yet committed when the kill landed
    // can come again. Results commit in order per conversation, so those are
    // the latest of each conversation: every conversation shows at most one
    // rewind, to a tail of what it had received.
    if let Err(e) = one_rewind_per_conversation(&got) {
        panic!(
            "{e}; {} repeats (delivered before the kill: {before_kill}): {repeated:?}",
            repeated.len()
        );
    }
    second
        .wait_status("an empty outbox", |s| s["outbox"]["depth"] == 0)
        .await;
}

/// Checks that each conversation's sequence numbers, in arrival order, are
/// `0..m` followed by `j..n` with `j <= m <= n`: what a crash may repeat is
/// the end of what came before it, once, in order.
fn one_rewind_per_conversation(got: &[Delivery]) -> Result<(), String> {
    let mut by_chat: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for d in got {
        if let Some(seq) = seq_of(&d.text) {
            by_chat.entry(&d.chat).or_default().push(seq as usize);
        }
    }
    for (chat, seqs) in by_chat {
        let m = seqs.iter().zip(0..).take_while(|(s, i)| **s == *i).count();
        let rest = &seqs[m..];
        let Some(&j) = rest.first() else { continue };
        let consecutive = rest.iter().zip(j..).all(|(s, want)| *s == want);
        if j > m || !consecutive || j + rest.len() < m {
            return Err(format!("{chat} arrived as {seqs:?}"));
        }
    }
    Ok(())
}

#[test]
fn a_rewind_must_be_a_tail_and_happen_once() {
    let got = |chat: &str, seqs: &[u32]| -> Vec<Delivery> {
        seqs.iter()
            .map(|s| Delivery {
                guid: format!("g{s}"),
                chat: chat.into(),
                text: format!("{chat} #{s:04}"),
            })
            .collect()
    };
    assert!(one_rewind_per_conversation(&got("a", &[0, 1, 2, 3])).is_ok());
    assert!(one_rewind_per_conversation(&got("a", &[0, 1, 2, 1, 2, 3])).is_ok());
    assert!(one_rewind_per_conversation(&got("a", &[0, 1, 2, 0, 1, 2])).is_ok());
    // Twice, or not to the end, or out of order.
    assert!(one_rewind_per_conversation(&got("a", &[0, 1, 2, 1, 2, 1, 2])).is_err());
    assert!(one_rewind_per_conversation(&got("a", &[0, 1, 2, 0, 3])).is_err());
    assert!(one_rewind_per_conversation(&got("a", &[0, 2, 1])).is_err());
}

/// A way to cut the sidecar's Zoom connection.
type Cut = fn(&FakeZoom);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoom_connection_drops_and_reconnects_lose_nothing_pushed_while_connected() {
    let fake = fake_zoom().await;
    let (receiver, port) = FaultyReceiver::start(0, |_| Action::Accept).await;
    let dir = TempDir::new("faults-drop");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(5, 2, 2);
    // Abrupt TCP drop, then a 1001 close, then a token expiry.
    let cuts: [(&str, Cut); 3] = [
        ("TCP drop", |f| f.drop_connections(None)),
        ("close 1001", |f| f.drop_connections(Some(1001))),
        ("token expiry", |f| f.expire_tokens()),
    ];
    for (i, (what, cut)) in cuts.iter().enumerate() {
        stream.push_rounds(&fake, 4);
        // What was pushed is delivered before the drop (Zoom replays nothing,
        // so frames in flight at a drop are not the sidecar's to keep).
        receiver.wait_all(&stream, DELIVERY_WAIT).await;
        cut(&fake);
        assert!(
            fake.wait_for_ws_connects(u64::try_from(i).unwrap() + 2, WAIT)
                .await,
            "no reconnect after the {what}; output:\n{}",
            sidecar.output()
        );
        connected(&fake, &sidecar).await;
    }
    stream.push_rounds(&fake, 4);
    let got = receiver.wait_all(&stream, DELIVERY_WAIT).await;
    let repeated = stream.check(&got, &sidecar.output());
    assert!(repeated.is_empty(), "duplicates: {repeated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_unknown_events_interleaved_lose_nothing() {
    let fake = fake_zoom().await;
    let (receiver, port) = FaultyReceiver::start(0, |_| Action::Accept).await;
    let dir = TempDir::new("faults-malformed");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(6, 2, 2);
    let hostile: Vec<String> = vec![
        "not json at all".into(),
        "".into(),
        "[]".into(),
        "{\"module\":\"message\",\"success\":true,\"content\":\"{broken\"}".into(),
        "{\"module\":\"message\",\"success\":true,\"content\":42}".into(),
        "{\"module\":\"message\",\"success\":true,\"content\":\"{\\\"event\\\":\\\"meeting.started\\\"}\"}".into(),
        "{\"module\":\"message\",\"success\":true,\"content\":\"{\\\"payload\\\":{}}\"}".into(),
        "{\"module\":\"brand_new_module\",\"content\":\"x\"}".into(),
        format!("{{\"module\":\"message\",\"content\":\"{}\"}}", "[".repeat(10_000)),
        "{\"module\":\"message\",\"success\":true,\"content\":\"{\\\"event\\\":\\\"meeting.started\\\",\\\"event_ts\\\":1,\\\"payload\\\":{\\\"object\\\":{\\\"id\\\":{\\\"nested\\\":[1,2]},\\\"duration\\\":\\\"long\\\"}}}\"}".into(),
    ];
    let mut unknown = 0;
    for round in 0..4u32 {
        for k in 0..stream.conversations() {
            assert!(stream.push(&fake, k));
            let frame = &hostile[(round as usize * stream.conversations() + k) % hostile.len()];
            assert_eq!(fake.push_raw_text(frame.clone()), 1);
        }
        // An event type this version does not know: delivered as a generic message.
        unknown += 1;
        assert_eq!(
            fake.push_event(json!({
                "event": "brand.new_event",
                "event_ts": 1_736_150_500_000_i64 + i64::from(round),
                "payload": {"account_id": "fake-account", "object": {"id": format!("unknown-{round}"), "topic": "Unknown"}}
            })),
            1
        );
    }
    let got = receiver
        .wait_for(DELIVERY_WAIT, |got| {
            stream.missing(got).is_empty()
                && got.iter().filter(|d| d.text.contains("unknown-")).count() >= unknown
        })
        .await;
    stream.check(&got, &sidecar.output());
    let generic: Vec<&Delivery> = got.iter().filter(|d| d.text.contains("unknown-")).collect();
    assert_eq!(
        generic.len(),
        unknown,
        "unknown events were lost:\n{got:#?}"
    );
    let status = sidecar.status().await;
    assert_eq!(status["zoom"]["connected"], true, "{status:#}");
    assert_eq!(fake.ws_connects(), 1, "a hostile frame cost the connection");
}

/// Issue 8, item 4 ("never stop by itself"): an event whose time leaves the
/// supported range after conversion panicked the renderer and stopped inbound
/// for good; now it renders with the raw time and the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_breaks_the_renderer_does_not_stop_inbound() {
    let fake = fake_zoom().await;
    let (receiver, port) = FaultyReceiver::start(0, |_| Action::Accept).await;
    let dir = TempDir::new("faults-render");
    let sidecar = start_sidecar(&dir, &fake, port);
    connected(&fake, &sidecar).await;
    let mut stream = Counted::new(7, 2, 1);
    stream.push_rounds(&fake, 2);
    let mut hostile = meeting_started(7_999, 0, 1_736_150_600_000);
    hostile["payload"]["object"]["start_time"] = json!("9999-12-31T23:59:59-05:00");
    hostile["payload"]["object"]["duration"] = json!(i64::MAX);
    assert_eq!(fake.push_event(hostile), 1);
    stream.push_rounds(&fake, 2);
    let hostile_chat = "zoom;+;meeting:7999";
    let got = receiver
        .wait_for(DELIVERY_WAIT, |got| {
            stream.missing(got).is_empty() && got.iter().any(|d| d.chat == hostile_chat)
        })
        .await;
    let (hostile, rest): (Vec<_>, Vec<_>) = got.into_iter().partition(|d| d.chat == hostile_chat);
    assert_eq!(
        hostile.len(),
        1,
        "the hostile event itself is delivered once"
    );
    assert!(
        hostile[0].text.contains("9999-12-31T23:59:59-05:00"),
        "an out-of-range time renders as its raw text: {}",
        hostile[0].text
    );
    stream.check(&rest, &sidecar.output());
}
