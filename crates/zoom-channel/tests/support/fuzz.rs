//! A dependency-free mutation fuzzer over Zoom frames, events and rendered
//! lines, seeded from the fixture corpus. Shared by `tests/fuzz.rs` (a small
//! sample in every `cargo test`) and `examples/fuzz.rs` (the long run).
//!
//! Each case is an event text built from a fixture by structural mutations
//! (hostile values, deleted keys, changed types, renamed events, deep
//! nesting, integers beyond 64 bits) and sometimes byte-level damage. It is
//! fed to `Frame::parse` (double-encoded and object content), `Event::parse`,
//! `Event::typed`, `Event::identity` and `Renderer::render` under two
//! configurations, and the output is checked:
//!
//! - nothing panics;
//! - a rendered body is non-empty and at most `16 × input + 1024` characters;
//! - the message id is `zoom-ev-` and 32 lowercase hex digits;
//! - the conversation id is one a reply can be addressed to (`parse_target`
//!   accepts it, with a `defaultTarget` for meeting / feed conversations);
//! - a meeting id sent as an integer literal of any length keeps its digits
//!   in the conversation id;
//! - `split_text` parts reassemble to the input and respect the limit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use zoom_channel::{
    Rendered, Renderer, Routing, SendAs, ZoomChannelConfig, parse_target, split_text,
};
use zoom_wire::{Event, Frame};

/// What a run did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Report {
    /// Cases run.
    pub(crate) iterations: u64,
    /// Cases whose text parsed as an event.
    pub(crate) events: u64,
    /// Cases that rendered to a message (over both configurations).
    pub(crate) messages: u64,
    /// Cases rejected as malformed (a clear error, as intended).
    pub(crate) rejected: u64,
    /// Wall time.
    pub(crate) elapsed: Duration,
}

/// The first case that broke a property.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Which case.
    pub(crate) iteration: u64,
    /// The input text.
    pub(crate) input: String,
    /// What went wrong.
    pub(crate) problem: String,
}

/// Runs `iterations` cases from `seed`; stops at the first failure.
pub(crate) fn run(iterations: u64, seed: u64) -> Result<Report, Failure> {
    let fuzzer = Fuzzer::new();
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut report = Report::default();
    let start = Instant::now();
    for iteration in 0..iterations {
        let case = fuzzer.case(&mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| fuzzer.check(&case)));
        let problem = match outcome {
            Ok(Ok(stats)) => {
                report.events += u64::from(stats.event);
                report.messages += stats.messages;
                report.rejected += u64::from(!stats.event);
                None
            }
            Ok(Err(problem)) => Some(problem),
            Err(panic) => Some(format!("panicked: {}", panic_text(&*panic))),
        };
        if let Some(problem) = problem {
            return Err(Failure {
                iteration,
                input: case.text,
                problem,
            });
        }
        report.iterations += 1;
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One generated input.
struct Case {
    text: String,
    /// The meeting id digits planted as an integer literal, when one was.
    planted_id: Option<String>,
}

#[derive(Default)]
struct CaseStats {
    event: bool,
    messages: u64,
}

struct Fuzzer {
    corpus: Vec<Value>,
    renderers: Vec<Renderer>,
}

const EVENT_NAMES: &[&str] = &[
    "meeting.created",
    "meeting.updated",
    "meeting.deleted",
    "meeting.started",
    "meeting.ended",
    "meeting.participant_joined",
    "meeting.participant_left",
    "recording.completed",
    "user.created",
    "user.updated",
    "chat_message.sent",
    "chat_message.updated",
    "chat_message.deleted",
    "chat_message.replied",
    "team_chat.channel_message_posted",
    "team_chat.dm_message_posted",
    "bot_notification",
    "webinar.started",
    "phone.callee_ringing",
    "",
];

const KEYS: &[&str] = &[
    "id",
    "uuid",
    "message_id",
    "message",
    "topic",
    "start_time",
    "end_time",
    "join_time",
    "leave_time",
    "duration",
    "timezone",
    "file_size",
    "total_size",
    "recording_count",
    "channel_id",
    "contact_email",
    "contact_id",
    "operator",
    "operator_id",
    "type",
    "files",
    "recording_files",
    "participant",
    "object",
    "old_object",
    "toJid",
    "userJid",
    "cmd",
    "password",
];

/// Placeholder strings replaced by raw literals after serialisation.
const RAW_MARK: &str = "\u{1}raw:";

fn hostile_value(rng: &mut Rng) -> Value {
    let big = || -> Vec<&'static str> {
        vec![
            "18446744073709551616000",
            "-99999999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "1e308",
            "-0",
            "0.5",
            "123456789012345678901234567890123456789",
        ]
    };
    match rng.below(12) {
        0 => json!(format!("{RAW_MARK}{}", rng.pick(&big()))),
        1 => json!(*rng.pick(&[i64::MAX, i64::MIN, -1, 0, 1, 1024, 1023, i64::MAX / 60])),
        2 => json!(*rng.pick(&[
            "9999-12-31T23:59:59-05:00",
            "0000-01-01T00:00:00+23:59",
            "-0001-01-01T00:00:00Z",
            "2021-02-30T25:61:61Z",
            "2021-07-13T21:44:51Z",
            "2021-07-13T21:44:51.123456789+14:00",
            "not a time",
            "",
        ])),
        3 => json!(*rng.pick(&[
            "",
            " ",
            "a b;c",
            "zoom;+;feed",
            "é\u{202e}😀\u{0}",
            "%zz%",
            "x@example.com",
            "chan-1",
            "\n\t",
            ";",
        ])),
        4 => Value::String("é".repeat(rng.below(3000))),
        5 => Value::Null,
        6 => json!(rng.chance(50)),
        7 => json!([]),
        8 => json!({}),
        9 => json!([{ "file_size": i64::MAX }, { "file_size": i64::MAX }, {}]),
        10 => json!(rng.next() as f64 / 7.0),
        _ => json!(rng.next() as i64),
    }
}

/// Applies one structural mutation somewhere under `value`.
fn mutate(value: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 6 && rng.chance(70);
    match value {
        Value::Object(map) if !map.is_empty() && descend => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            if let Some(child) = map.get_mut(&key) {
                mutate(child, rng, depth + 1);
            }
        }
        Value::Array(items) if !items.is_empty() && descend => {
            let i = rng.below(items.len());
            mutate(&mut items[i], rng, depth + 1);
        }
        Value::Object(map) => match rng.below(4) {
            0 if !map.is_empty() => {
                let keys: Vec<String> = map.keys().cloned().collect();
                map.remove(rng.pick(&keys).as_str());
            }
            1 => {
                map.insert((*rng.pick(KEYS)).to_owned(), hostile_value(rng));
            }
            2 => {
                let mut nested = hostile_value(rng);
                for _ in 0..rng.below(40) {
                    nested = json!({ *rng.pick(KEYS): nested });
                }
                map.insert((*rng.pick(KEYS)).to_owned(), nested);
            }
            _ => *value = hostile_value(rng),
        },
        Value::Array(items) => {
            if rng.chance(50) {
                items.push(hostile_value(rng));
            } else {
                let repeat = items.first().cloned().unwrap_or(Value::Null);
                items.extend(std::iter::repeat_n(repeat, rng.below(50)));
            }
        }
        other => *other = hostile_value(rng),
    }
}

/// Replaces each `"\u0001raw:LITERAL"` string with `LITERAL` itself.
fn unmark(text: &str) -> String {
    let mark = serde_json::to_string(RAW_MARK).unwrap_or_default();
    let mark = &mark[..mark.len() - 1];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(mark) {
        out.push_str(&rest[..at]);
        let after = &rest[at + mark.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn damage(text: &str, rng: &mut Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, *rng.pick(b"{}[]\",:0-\\e.")),
            _ => bytes.truncate(at),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Fuzzer {
    fn new() -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let mut corpus: Vec<Value> = std::fs::read_dir(dir)
            .expect("fixtures directory")
            .filter_map(|entry| entry.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect();
        corpus.sort_by_key(|v| v.to_string());
        assert!(!corpus.is_empty(), "no fixtures in {dir}");
        let base = ZoomChannelConfig {
            subscription_id: "fuzz".into(),
            send_as: SendAs::User {
                sender: "me@example.com".into(),
            },
            self_ids: vec!["Carol@Example.com".into()],
            ..Default::default()
        };
        let feed = ZoomChannelConfig {
            routing: Routing::Feed,
            exclude: vec!["user.*".into()],
            ..base.clone()
        };
        Self {
            corpus,
            renderers: vec![Renderer::new(&base), Renderer::new(&feed)],
        }
    }

    fn case(&self, rng: &mut Rng) -> Case {
        let mut value = rng.pick(&self.corpus).clone();
        if rng.chance(10) {
            value["event"] = json!(*rng.pick(EVENT_NAMES));
        }
        for _ in 0..=rng.below(4) {
            // Mostly inside the payload, so most cases reach the renderer; the
            // envelope itself now and then.
            match value.get_mut("payload") {
                Some(payload) if rng.chance(90) => mutate(payload, rng, 0),
                _ => mutate(&mut value, rng, 0),
            }
        }
        let mut planted_id = None;
        if rng.chance(15) {
            let len = 1 + rng.below(40);
            let digits: String = (0..len)
                .map(|i| {
                    let d = rng.below(10) as u8 + u8::from(i == 0 && len > 1);
                    char::from(b'0' + d.min(9))
                })
                .collect();
            value = json!({
                "event": "meeting.created",
                "event_ts": 1,
                "payload": { "object": { "id": format!("{RAW_MARK}{digits}"), "topic": "t" } }
            });
            planted_id = Some(digits);
        }
        let mut text = unmark(&value.to_string());
        if planted_id.is_none() && rng.chance(20) {
            text = damage(&text, rng);
        }
        Case { text, planted_id }
    }

    fn check(&self, case: &Case) -> Result<CaseStats, String> {
        let text = &case.text;
        // As a frame, double-encoded and as object content.
        let double = json!({ "module": "message", "content": text }).to_string();
        let from_double = Frame::parse(&double);
        let object = format!(r#"{{"module":"message","content":{text}}}"#);
        let _ = Frame::parse(&object);
        let _ = Frame::parse(text);

        let mut stats = CaseStats::default();
        let Ok(event) = Event::parse(text) else {
            if matches!(from_double, Ok(Frame::Message { .. })) {
                return Err("a frame decoded an event that Event::parse rejects".into());
            }
            return Ok(stats);
        };
        stats.event = true;
        let _ = event.typed();
        let _ = event.identity();
        let input_chars = text.chars().count();
        for renderer in &self.renderers {
            let Rendered::Message(m) = renderer.render(&event, 0) else {
                continue;
            };
            stats.messages += 1;
            let body_chars = m.body.chars().count();
            if m.body.trim().is_empty() {
                return Err("empty body".into());
            }
            if body_chars > 16 * input_chars + 1024 {
                return Err(format!("body of {body_chars} chars from {input_chars}"));
            }
            let hex = m.message_id.strip_prefix("zoom-ev-").unwrap_or_default();
            if hex.len() != 32
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!("message id {}", m.message_id));
            }
            if let Err(e) = parse_target(&m.conversation.id, Some("zoom;+;channel:fallback")) {
                return Err(format!("conversation id {:?}: {e}", m.conversation.id));
            }
            if let Some(digits) = &case.planted_id {
                let want = format!("zoom;+;meeting:{digits}");
                if renderer_routes_meetings(&m.conversation.id) && m.conversation.id != want {
                    return Err(format!("id {digits} became {}", m.conversation.id));
                }
            }
        }
        if let Some(body) = event
            .payload
            .pointer("/object/message")
            .and_then(Value::as_str)
        {
            let max = 1 + text.len() % 1100;
            let parts = split_text(body, max);
            if parts.concat() != body
                || parts
                    .iter()
                    .any(|p| p.is_empty() || p.chars().count() > max)
            {
                return Err(format!("split_text broke {body:?} at {max}"));
            }
        }
        Ok(stats)
    }
}

fn renderer_routes_meetings(conversation_id: &str) -> bool {
    conversation_id.starts_with("zoom;+;meeting:")
}

#[allow(dead_code, reason = "used by some of the including targets only")]
/// The meeting id digits of a planted case, for tests of the generator.
pub(crate) fn sample_cases(n: usize, seed: u64) -> Vec<String> {
    let fuzzer = Fuzzer::new();
    let mut rng = Rng(seed);
    (0..n).map(|_| fuzzer.case(&mut rng).text).collect()
}

#[allow(dead_code, reason = "used by some of the including targets only")]
/// A map of event name → how many sample cases parse with that name.
pub(crate) fn name_histogram(cases: &[String]) -> Map<String, Value> {
    let mut map = Map::new();
    for text in cases {
        if let Ok(e) = Event::parse(text) {
            let n = map.get(&e.event).and_then(Value::as_u64).unwrap_or(0);
            map.insert(e.event.clone(), json!(n + 1));
        }
    }
    map
}
