//! `moltbot-zoom render`: Zoom events in, one JSON chat message (or error) per
//! line out. Never panics on bad input; fails only when the input cannot be read.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::PathBuf,
};

use anyhow::Context;
use serde_json::{Value, json};
use zoom_channel::{Rendered, Renderer, Routing, ZoomChannelConfig};
use zoom_wire::{Event, Frame};

/// Runs the command on `file` (or standard input).
pub(crate) fn run(
    file: Option<PathBuf>,
    routing: &str,
    subscription_id: &str,
) -> anyhow::Result<()> {
    let routing = match routing {
        "meeting" => Routing::Meeting,
        "feed" => Routing::Feed,
        other => anyhow::bail!("--routing must be `meeting` or `feed`, not `{other}`"),
    };
    let config = ZoomChannelConfig {
        routing,
        subscription_id: subscription_id.to_owned(),
        ..ZoomChannelConfig::default()
    };
    let input: Box<dyn Read> = match &file {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let stdout = std::io::stdout();
    render_lines(
        BufReader::new(input),
        &mut stdout.lock(),
        &Renderer::new(&config),
        now_ms(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Renders every line of `input` to `out`.
pub(crate) fn render_lines(
    mut input: impl BufRead,
    out: &mut impl Write,
    renderer: &Renderer,
    now_ms: i64,
) -> anyhow::Result<()> {
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .context("cannot read input")?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value = render_line(text, renderer, now_ms);
        let mut obj = json!({ "line": line_no });
        if let (Value::Object(o), Value::Object(v)) = (&mut obj, value) {
            o.extend(v);
        }
        writeln!(out, "{obj}").map_err(crate::stdout::closed_or)?;
    }
    out.flush().map_err(crate::stdout::closed_or)?;
    Ok(())
}

fn render_line(text: &str, renderer: &Renderer, now_ms: i64) -> Value {
    let event = match parse_event(text) {
        Ok(Some(event)) => event,
        Ok(None) => return json!({ "skipped": "frame is not an event message" }),
        Err(error) => return json!({ "error": error }),
    };
    match renderer.render(&event, now_ms) {
        Rendered::Message(m) => json!({
            "eventType": m.event_type,
            "conversation": {
                "id": m.conversation.id,
                "kind": m.conversation.kind,
                "label": m.conversation.label,
            },
            "sender": { "id": m.sender.id, "name": m.sender.name },
            "text": m.body,
            "messageId": m.message_id,
            "timestamp": m.timestamp_ms,
            "replyTo": m.reply_to_id,
            "mode": m.mode,
        }),
        Rendered::Skipped { reason } => {
            json!({ "eventType": event.event, "skipped": reason.to_string() })
        }
    }
}

/// A bare event, or a WS frame whose module is `message`.
fn parse_event(text: &str) -> Result<Option<Event>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("module").is_some() {
        return match Frame::from_value(value).map_err(|e| format!("bad frame: {e}"))? {
            Frame::Message { event, .. } => Ok(Some(*event)),
            _ => Ok(None),
        };
    }
    Event::from_value(value)
        .map(Some)
        .map_err(|e| format!("not a Zoom event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_all(input: &[u8]) -> Vec<Value> {
        let renderer = Renderer::new(&ZoomChannelConfig::default());
        let mut out = Vec::new();
        render_lines(input, &mut out, &renderer, 1_700_000_000_000).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn bare_events_and_frames_render_the_same() {
        let event = r#"{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"a","object":{"id":"123","uuid":"u","host_id":"h","topic":"Weekly sync","start_time":"2021-07-13T21:44:51Z"}}}"#;
        let frame = json!({"module":"message","content":event}).to_string();
        let out = render_all(format!("{event}\n{frame}\n").as_bytes());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["conversation"]["id"], "zoom;+;meeting:123");
        assert_eq!(out[0]["conversation"]["kind"], "group");
        assert!(out[0]["text"].as_str().unwrap().contains("Weekly sync"));
        assert_eq!(out[0]["text"], out[1]["text"]);
        assert_eq!(out[0]["messageId"], out[1]["messageId"]);
        assert_eq!(out[1]["line"], 2);
    }

    #[test]
    fn malformed_lines_give_error_objects_and_never_panic() {
        let mut input: Vec<u8> = Vec::new();
        let cases: Vec<&[u8]> = vec![
            b"not json",
            b"[1,2,3]",
            b"{}",
            b"{\"event\":42}",
            b"{\"module\":\"message\",\"content\":\"{oops\"}",
            b"{\"module\":\"heartbeat\",\"success\":true}",
            b"{\"event\":\"meeting.started\",\"payload\":{\"object\":{\"id\":[1]}}}",
            b"{\"event\":\"meeting.participant_joined\",\"payload\":\"nope\"}",
            b"\xff\xfe\x00garbage",
            b"{\"event\":\"totally.unknown\",\"event_ts\":1,\"payload\":{\"object\":{\"name\":\"x\"}}}",
        ];
        for c in &cases {
            input.extend_from_slice(c);
            input.push(b'\n');
        }
        let out = render_all(&input);
        assert_eq!(out.len(), cases.len());
        for (i, o) in out.iter().enumerate() {
            assert_eq!(o["line"], i as u64 + 1);
            assert!(
                o.get("error").is_some() || o.get("text").is_some() || o.get("skipped").is_some(),
                "line {i}: {o}"
            );
        }
        assert!(out[0]["error"].as_str().unwrap().starts_with("not JSON"));
        assert!(out[2]["error"].is_string());
        assert!(out[5].get("skipped").is_some());
        // Unknown events still render.
        assert!(out[9]["text"].as_str().unwrap().contains("totally.unknown"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic pseudo-random byte soup, with JSON-ish fragments mixed in.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let fragments: [&[u8]; 6] = [
            b"{\"event\":",
            b"\"module\"",
            b"\"message\"",
            b"{",
            b"}",
            b"\n",
        ];
        let mut input = Vec::new();
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 5 == 0 {
                input.extend_from_slice(fragments[(state >> 8) as usize % fragments.len()]);
            } else {
                input.push((state >> 16) as u8);
            }
        }
        let out = render_all(&input);
        assert!(!out.is_empty());
    }
}
