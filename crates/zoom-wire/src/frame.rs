use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Event, WireError};

/// One frame of Zoom's WebSocket event subscription, dispatched on `module`.
///
/// Unknown modules are kept whole in [`Frame::Other`] so the caller can log them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Frame {
    /// First server frame: whether the connection was accepted.
    BuildConnection {
        /// `success` as sent (absent counts as `false`).
        success: bool,
        /// `content`, e.g. `"token is empty"` on failure.
        content: Option<Value>,
    },
    /// Heartbeat acknowledgement (`content` is `"live"` on success).
    Heartbeat {
        /// `success` as sent (absent counts as `true`).
        success: bool,
        /// `content`, normally `"live"`.
        content: Option<Value>,
    },
    /// An event. `content` was a JSON string (normal) or already an object.
    Message {
        /// `success` when present.
        success: Option<bool>,
        /// The decoded event.
        event: Box<Event>,
        /// The raw event JSON text as received (before parsing), for hashing.
        raw_content: String,
    },
    /// Any other module, kept as received.
    Other {
        /// The `module` value.
        module: String,
        /// The whole frame.
        frame: Value,
    },
}

/// What [`Frame::parse`] reads of a `message` frame on its fast path.
#[derive(Deserialize)]
struct MessageHead {
    module: String,
    success: Option<bool>,
    content: String,
}

impl Frame {
    /// Parses a text frame. Integers beyond 64 bits are kept as strings of
    /// their exact digits.
    ///
    /// # Errors
    /// Not JSON, no `module`, or a `message` whose `content` is not an event.
    pub fn parse(text: &str) -> Result<Self, WireError> {
        let text = crate::exact::quote_big_integers(text);
        // The event stream's frames (`message` with a string `content`) are
        // read straight into the fields they need, without building the
        // frame as a `Value` first. Anything else, or anything odd such as a
        // repeated key, takes the general path.
        if let Ok(head) = serde_json::from_str::<MessageHead>(&text) {
            if head.module == "message" && !is_token_error_text(&head.content) {
                let (event, raw_content) = Event::from_content(Value::String(head.content))?;
                return Ok(Frame::Message {
                    success: head.success,
                    event: Box::new(event),
                    raw_content,
                });
            }
        }
        Self::from_value(serde_json::from_str(&text)?)
    }

    /// Parses a binary frame by decoding it as UTF-8 first.
    ///
    /// # Errors
    /// As [`Frame::parse`], plus invalid UTF-8.
    pub fn parse_binary(bytes: &[u8]) -> Result<Self, WireError> {
        let text = std::str::from_utf8(bytes).map_err(|_| WireError::NotUtf8)?;
        Self::parse(text)
    }

    /// Builds a frame from an already-parsed JSON value.
    ///
    /// # Errors
    /// As [`Frame::parse`].
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let Value::Object(mut map) = value else {
            return Err(WireError::MissingModule);
        };
        let module = match map.get("module") {
            Some(Value::String(m)) => m.clone(),
            _ => return Err(WireError::MissingModule),
        };
        let success = map.get("success").and_then(Value::as_bool);
        match module.as_str() {
            "build_connection" => Ok(Frame::BuildConnection {
                success: success.unwrap_or(false),
                content: map.remove("content"),
            }),
            "heartbeat" => Ok(Frame::Heartbeat {
                success: success.unwrap_or(true),
                content: map.remove("content"),
            }),
            "message" => {
                let content = map.remove("content").ok_or(WireError::BadContent)?;
                // A token error can arrive on any module, including "message".
                if let Value::String(s) = &content {
                    if is_token_error_text(s) {
                        map.insert("content".into(), content);
                        return Ok(Frame::Other {
                            module,
                            frame: Value::Object(map),
                        });
                    }
                }
                let (event, raw_content) = Event::from_content(content)?;
                Ok(Frame::Message {
                    success,
                    event: Box::new(event),
                    raw_content,
                })
            }
            _ => Ok(Frame::Other {
                module,
                frame: Value::Object(map),
            }),
        }
    }

    /// The frame's `content` when it is a string.
    pub fn content_text(&self) -> Option<&str> {
        match self {
            Frame::BuildConnection { content, .. } | Frame::Heartbeat { content, .. } => {
                content.as_ref().and_then(Value::as_str)
            }
            Frame::Message { .. } => None,
            Frame::Other { frame, .. } => frame.get("content").and_then(Value::as_str),
        }
    }

    /// True when the server says `success:false`.
    pub fn is_failure(&self) -> bool {
        match self {
            Frame::BuildConnection { success, .. } | Frame::Heartbeat { success, .. } => !success,
            Frame::Message { success, .. } => *success == Some(false),
            Frame::Other { frame, .. } => {
                frame.get("success").and_then(Value::as_bool) == Some(false)
            }
        }
    }

    /// True when the frame rejects the access token (`"Invalid Token"`,
    /// `"Token is invalid"`, any module, any case).
    pub fn is_token_error(&self) -> bool {
        self.content_text().is_some_and(is_token_error_text)
    }

    /// The module name.
    pub fn module(&self) -> &str {
        match self {
            Frame::BuildConnection { .. } => "build_connection",
            Frame::Heartbeat { .. } => "heartbeat",
            Frame::Message { .. } => "message",
            Frame::Other { module, .. } => module,
        }
    }

    /// Serialises the frame the way the server sends it (used by the fake).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("module".into(), Value::String(self.module().to_owned()));
        match self {
            Frame::BuildConnection { success, content } | Frame::Heartbeat { success, content } => {
                map.insert("success".into(), Value::Bool(*success));
                map.insert("content".into(), content.clone().unwrap_or(Value::Null));
                map.insert("header".into(), Value::Object(Map::new()));
            }
            Frame::Message {
                success,
                raw_content,
                ..
            } => {
                map.insert("success".into(), Value::Bool(success.unwrap_or(true)));
                map.insert("content".into(), Value::String(raw_content.clone()));
                map.insert("header".into(), Value::Object(Map::new()));
            }
            Frame::Other { frame, .. } => return frame.clone(),
        }
        Value::Object(map)
    }
}

/// The client heartbeat frame, exactly `{"module":"heartbeat"}`.
pub fn heartbeat_request() -> &'static str {
    r#"{"module":"heartbeat"}"#
}

/// True for Zoom's token-rejection texts, old and new, in any case. They
/// are plain text: an event (a JSON object) is never one, whatever its
/// messages say.
pub fn is_token_error_text(text: &str) -> bool {
    let t = text.trim();
    if t.starts_with('{') {
        return false;
    }
    let t = t.to_ascii_lowercase();
    t == "invalid token" || t.contains("token is invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: &str = r#"{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"acc","object":{"id":"1234567890","uuid":"u1","host_id":"h1","topic":"My Meeting","type":8,"start_time":"2021-07-13T21:44:51Z","duration":60}}}"#;

    #[test]
    fn double_encoded_content_is_parsed_twice() {
        let frame =
            serde_json::json!({"module":"message","success":true,"content":STARTED,"header":{}});
        let parsed = Frame::parse(&frame.to_string()).unwrap();
        let Frame::Message {
            event, raw_content, ..
        } = parsed
        else {
            panic!("expected message, got {parsed:?}");
        };
        assert_eq!(event.event, "meeting.started");
        assert_eq!(event.event_ts, Some(1626230691572));
        assert_eq!(raw_content, STARTED);
    }

    /// The fast path for event frames gives what the general path gives.
    #[test]
    fn message_frames_parse_the_same_on_both_paths() {
        let content = serde_json::to_string(STARTED).unwrap();
        for text in [
            format!(r#"{{"module":"message","success":true,"content":{content},"header":{{}}}}"#),
            format!(r#"{{"module":"message","content":{content}}}"#),
            format!(r#"{{"content":{content},"success":null,"module":"message","x":[1,2]}}"#),
            format!(r#"{{"module":"message","success":"yes","content":{content}}}"#),
            format!(r#"{{"module":"message","module":"heartbeat","content":{content}}}"#),
            format!(r#"{{"module":"heartbeat","success":true,"content":{content}}}"#),
            r#"{"module":"message","content":"Invalid Token"}"#.to_owned(),
            r#"{"module":"message","success":true,"content":"{\"event\":\"x\",\"payload\":{\"id\":18446744073709551616000}}"}"#.to_owned(),
        ] {
            let general = crate::exact::parse_value(&text)
                .map_err(WireError::from)
                .and_then(Frame::from_value);
            assert_eq!(
                format!("{:?}", Frame::parse(&text)),
                format!("{general:?}"),
                "{text}"
            );
        }
    }

    #[test]
    fn object_content_is_accepted() {
        let inner: Value = serde_json::from_str(STARTED).unwrap();
        let frame = serde_json::json!({"module":"message","content":inner});
        let Frame::Message { event, .. } = Frame::parse(&frame.to_string()).unwrap() else {
            panic!("expected message");
        };
        assert_eq!(event.event, "meeting.started");
    }

    #[test]
    fn binary_frames_decode_as_utf8() {
        let f = Frame::parse_binary(
            br#"{"module":"heartbeat","success":true,"content":"live","header":{}}"#,
        )
        .unwrap();
        assert!(matches!(f, Frame::Heartbeat { success: true, .. }));
        assert!(matches!(
            Frame::parse_binary(&[0xff, 0xfe]),
            Err(WireError::NotUtf8)
        ));
    }

    #[test]
    fn build_connection_failure_and_token_errors() {
        let f = Frame::parse(r#"{"module":"build_connection","success":false,"content":"token is empty","header":{}}"#).unwrap();
        assert!(f.is_failure());
        assert!(!f.is_token_error());
        for text in ["Invalid Token", "Token is invalid", "TOKEN IS INVALID"] {
            let f = Frame::parse(
                &serde_json::json!({"module":"build_connection","success":false,"content":text})
                    .to_string(),
            )
            .unwrap();
            assert!(f.is_token_error(), "{text}");
            let f =
                Frame::parse(&serde_json::json!({"module":"message","content":text}).to_string())
                    .unwrap();
            assert!(f.is_token_error(), "message module {text}");
        }
    }

    /// An event is never a token error, whatever its text says: a chat
    /// message reading "my token is invalid" is delivered like any other.
    #[test]
    fn an_event_that_mentions_an_invalid_token_is_an_event() {
        let event = r#"{"event":"team_chat.channel_message_posted","event_ts":1,"payload":{"object":{"message":"Token is invalid, says the VPN"}}}"#;
        let text =
            serde_json::json!({"module":"message","success":true,"content":event}).to_string();
        let f = Frame::parse(&text).unwrap();
        assert!(!f.is_token_error());
        let Frame::Message { event, .. } = f else {
            panic!("expected an event, got {f:?}");
        };
        assert_eq!(event.event, "team_chat.channel_message_posted");
    }

    #[test]
    fn unknown_modules_are_kept() {
        let f = Frame::parse(r#"{"module":"brand_new","x":1}"#).unwrap();
        let Frame::Other { module, frame } = f else {
            panic!()
        };
        assert_eq!(module, "brand_new");
        assert_eq!(frame["x"], 1);
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(Frame::parse("nope"), Err(WireError::Json(_))));
        assert!(matches!(Frame::parse("{}"), Err(WireError::MissingModule)));
        assert!(matches!(Frame::parse("[1]"), Err(WireError::MissingModule)));
        assert!(matches!(
            Frame::parse(r#"{"module":"message"}"#),
            Err(WireError::BadContent)
        ));
        assert!(Frame::parse(r#"{"module":"message","content":"not json"}"#).is_err());
        assert!(matches!(
            Frame::parse(r#"{"module":"message","content":5}"#),
            Err(WireError::BadContent)
        ));
    }

    #[test]
    fn heartbeat_request_is_exact() {
        assert_eq!(heartbeat_request(), r#"{"module":"heartbeat"}"#);
    }
}
