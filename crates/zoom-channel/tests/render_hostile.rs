//! Hostile values in real event shapes: out-of-range times, overflowing
//! numbers and ids beyond 64 bits render without panicking or wrapping.

use moltbot_channel::InboundMessage;
use zoom_channel::{Rendered, Renderer, SendAs, ZoomChannelConfig};
use zoom_wire::{Event, Frame};

fn render(text: &str) -> InboundMessage {
    let config = ZoomChannelConfig {
        subscription_id: "sub-1".into(),
        send_as: SendAs::User {
            sender: "me@example.com".into(),
        },
        ..Default::default()
    };
    let event = Event::parse(text).unwrap();
    match Renderer::new(&config).render(&event, 42) {
        Rendered::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_out_of_range_in_utc_renders_the_raw_text() {
    let m = render(
        r#"{"event":"meeting.started","event_ts":1,"payload":{"object":{"id":"1","topic":"T","start_time":"9999-12-31T23:59:59-05:00"}}}"#,
    );
    assert_eq!(
        m.body,
        "Meeting started: \"T\" (ID 1), at 9999-12-31T23:59:59-05:00."
    );
    let m = render(
        r#"{"event":"meeting.ended","event_ts":1,"payload":{"object":{"id":"1","start_time":"0000-01-01T00:00:00Z","end_time":"9999-12-31T23:59:59-05:00"}}}"#,
    );
    assert!(
        m.body
            .contains("0000-01-01 00:00 UTC → 9999-12-31T23:59:59-05:00"),
        "{}",
        m.body
    );
    assert!(m.body.contains("lasted"), "{}", m.body);
    let m = render(
        r#"{"event":"meeting.updated","event_ts":1,"payload":{"object":{"id":1,"start_time":"9999-12-31T23:59:59-05:00"},"old_object":{"id":1,"start_time":"2021-07-14T16:00:00Z"}}}"#,
    );
    assert!(
        m.body
            .contains("start_time 2021-07-14 16:00 UTC → 9999-12-31T23:59:59-05:00"),
        "{}",
        m.body
    );
}

#[test]
fn huge_durations_and_sizes_saturate_instead_of_wrapping() {
    let m = render(
        r#"{"event":"meeting.created","event_ts":1,"payload":{"object":{"id":1,"topic":"T","duration":9223372036854775807}}}"#,
    );
    assert!(
        m.body.contains("for 153722867280912930 h 7 min"),
        "{}",
        m.body
    );
    let m = render(
        r#"{"event":"recording.completed","event_ts":1,"payload":{"object":{"id":1,"topic":"T","duration":9223372036854775807,
            "recording_files":[{"file_type":"MP4","file_size":9223372036854775807},{"file_type":"M4A","file_size":9223372036854775807},{"file_type":"VTT","file_size":-5}]}}}"#,
    );
    assert!(
        m.body.contains(", 153722867280912930 h 7 min,"),
        "{}",
        m.body
    );
    // 2 × (2^63 − 1) bytes: 16 EiB, never a negative total.
    assert!(m.body.contains("3 files (16.0 EB)"), "{}", m.body);
    assert!(
        m.body.contains("VTT."),
        "a negative size is not shown: {}",
        m.body
    );
    assert!(!m.body.contains('-'), "{}", m.body);
    let m = render(
        r#"{"event":"recording.completed","event_ts":1,"payload":{"object":{"id":1,"recording_count":-1}}}"#,
    );
    assert!(m.body.contains(", 0 files."), "{}", m.body);
}

#[test]
fn meeting_ids_beyond_u64_keep_their_digits() {
    let m = render(
        r#"{"event":"meeting.created","event_ts":1,"payload":{"object":{"id":18446744073709551616000,"topic":"Big"}}}"#,
    );
    assert_eq!(m.conversation.id, "zoom;+;meeting:18446744073709551616000");
    assert!(
        m.body.contains("(ID 18446744073709551616000)"),
        "{}",
        m.body
    );
    // The same id as a string (meeting.started) lands in the same conversation.
    let started = render(
        r#"{"event":"meeting.started","event_ts":2,"payload":{"object":{"id":"18446744073709551616000"}}}"#,
    );
    assert_eq!(started.conversation.id, m.conversation.id);
    // Unmodelled meeting-family events and object-content frames too.
    let frame = r#"{"module":"message","content":{"event":"meeting.brand_new","event_ts":3,"payload":{"object":{"id":18446744073709551616000}}}}"#;
    let Frame::Message { event, .. } = Frame::parse(frame).unwrap() else {
        panic!("not a message frame")
    };
    let config = ZoomChannelConfig::default();
    let Rendered::Message(generic) = Renderer::new(&config).render(&event, 0) else {
        panic!("skipped")
    };
    assert_eq!(
        generic.conversation.id,
        "zoom;+;meeting:18446744073709551616000"
    );
}

#[test]
fn event_ts_extremes_do_not_overflow() {
    let m = render(
        r#"{"event":"user.created","event_ts":-9223372036854775808,"payload":{"object":{"id":"u"}}}"#,
    );
    assert_eq!(m.timestamp_ms, i64::MIN);
}

#[test]
fn blank_texts_render_as_an_empty_message() {
    // Found by the fuzzer: a whitespace-only message rendered as a blank body.
    for (event, object) in [
        (
            "chat_message.sent",
            r#"{"id":"m1","type":"to_channel","channel_id":"c","message":"\n\t"}"#,
        ),
        (
            "team_chat.channel_message_posted",
            r#"{"message_id":"m2","channel_id":"c","message":"  "}"#,
        ),
    ] {
        let m = render(&format!(
            r#"{{"event":"{event}","event_ts":1,"payload":{{"operator":"a@x","object":{object}}}}}"#
        ));
        assert_eq!(m.body, "(empty message)", "{event}");
    }
    let m = render(
        r#"{"event":"bot_notification","event_ts":1,"payload":{"cmd":" \n","userJid":"u@xmpp.zoom.us"}}"#,
    );
    assert_eq!(m.body, "(empty message)");
}
