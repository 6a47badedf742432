//! Conversation ids (BlueBubbles chat GUIDs) and outbound target parsing.

use std::borrow::Cow;

use moltbot_channel::{ChannelError, ChatType, Conversation};

/// Id of the account feed conversation.
pub const FEED_ID: &str = "zoom;+;feed";

/// The conversation of one meeting's events.
pub(crate) fn meeting(id: &str, topic: Option<&str>) -> Conversation {
    Conversation {
        id: format!("zoom;+;meeting:{}", escape(id)),
        kind: ChatType::Group,
        label: topic.filter(|t| !t.is_empty()).map(str::to_owned),
    }
}

/// The account feed.
pub(crate) fn feed() -> Conversation {
    Conversation {
        id: FEED_ID.into(),
        kind: ChatType::Group,
        label: Some("Zoom".into()),
    }
}

/// A Team Chat channel (`id` non-empty).
pub(crate) fn channel(id: &str, name: Option<&str>) -> Conversation {
    Conversation {
        id: format!("zoom;+;channel:{}", escape(id)),
        kind: ChatType::Channel,
        label: name.filter(|n| !n.is_empty()).map(str::to_owned),
    }
}

/// A direct conversation with `peer` (email, user id or JID; `unknown` when empty).
pub(crate) fn direct(peer: &str, name: Option<&str>) -> Conversation {
    let peer = if peer.is_empty() { "unknown" } else { peer };
    Conversation {
        id: format!("zoom;-;{}", escape(peer)),
        kind: ChatType::Direct,
        label: name.filter(|n| !n.is_empty()).map(str::to_owned),
    }
}

/// Where an outbound message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A contact: email, user id or (chatbot) JID.
    Contact(String),
    /// A channel id (or channel JID for the chatbot).
    Channel(String),
}

impl Target {
    /// The key rate limits are counted under.
    pub(crate) fn key(&self) -> String {
        match self {
            Target::Contact(c) => format!("contact:{}", c.to_lowercase()),
            Target::Channel(c) => format!("channel:{c}"),
        }
    }
}

const FORMS: &str = "expected `zoom;-;<email or user id>`, `zoom;+;channel:<channel id>`, \
                     `zoom;+;meeting:<id>`, `zoom;+;feed`, or a bare email / user id";

/// Parses an outbound conversation id; meeting and feed conversations resolve
/// to `default_target`.
pub fn parse_target(
    conversation_id: &str,
    default_target: Option<&str>,
) -> Result<Target, ChannelError> {
    match parse_direct(conversation_id)? {
        Some(target) => Ok(target),
        None => {
            let Some(default) = default_target.filter(|d| !d.trim().is_empty()) else {
                return Err(ChannelError::Config(format!(
                    "`{conversation_id}` is an event conversation; set `defaultTo` \
                     (an email, `zoom;-;…` or `zoom;+;channel:…`) to choose where replies go"
                )));
            };
            match parse_direct(default.trim()) {
                Ok(Some(target)) => Ok(target),
                Ok(None) | Err(_) => Err(ChannelError::Config(format!(
                    "`defaultTo` = `{default}` must be an email, a user id, \
                     `zoom;-;…` or `zoom;+;channel:…`"
                ))),
            }
        }
    }
}

/// A target, or `None` for a meeting / feed conversation.
fn parse_direct(id: &str) -> Result<Option<Target>, ChannelError> {
    let invalid = || ChannelError::InvalidTarget(format!("`{id}`: {FORMS}"));
    if let Some(rest) = id.strip_prefix("zoom;-;") {
        return if is_plain_id(rest) {
            Ok(Some(Target::Contact(unescape(rest))))
        } else {
            Err(invalid())
        };
    }
    if let Some(rest) = id.strip_prefix("zoom;+;") {
        if let Some(channel) = rest.strip_prefix("channel:") {
            return if is_plain_id(channel) {
                Ok(Some(Target::Channel(unescape(channel))))
            } else {
                Err(invalid())
            };
        }
        if rest == "feed" {
            return Ok(None);
        }
        if let Some(meeting) = rest.strip_prefix("meeting:") {
            if !meeting.is_empty() {
                return Ok(None);
            }
        }
        return Err(invalid());
    }
    if is_plain_id(id) {
        return Ok(Some(Target::Contact(unescape(id))));
    }
    Err(invalid())
}

/// An email, user id, member id or JID: non-empty, no spaces or separators.
fn is_plain_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| is_plain_char(c) || c == '%')
}

fn is_plain_char(c: char) -> bool {
    c.is_alphanumeric() || "@._-+=/".contains(c)
}

/// `id` as it goes into a conversation id: characters outside the plain set
/// (`;`, spaces, `%`, control characters, …) as `%XX` per UTF-8 byte, so every
/// conversation id parses back as a target. Zoom's ids never need it.
fn escape(id: &str) -> Cow<'_, str> {
    if id.chars().all(is_plain_char) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 8);
    for c in id.chars() {
        if is_plain_char(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape`]; text that is not a valid escape is kept as given.
fn unescape(id: &str) -> String {
    if !id.contains('%') {
        return id.to_owned();
    }
    let bytes = id.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = |id| parse_target(id, None);
        assert_eq!(
            t("zoom;-;ann@example.com").unwrap(),
            Target::Contact("ann@example.com".into())
        );
        assert_eq!(
            t("zoom;+;channel:chan-1").unwrap(),
            Target::Channel("chan-1".into())
        );
        assert_eq!(
            t("bob@example.com").unwrap(),
            Target::Contact("bob@example.com".into())
        );
        assert_eq!(
            t("KdYKjnimT4KPd8FFgQt9FQ").unwrap(),
            Target::Contact("KdYKjnimT4KPd8FFgQt9FQ".into())
        );
        for bad in [
            "",
            "zoom;-;",
            "zoom;+;channel:",
            "zoom;+;meeting:",
            "zoom;+;other",
            "imessage;-;x",
            "two words",
        ] {
            let err = t(bad).unwrap_err();
            assert!(
                matches!(err, ChannelError::InvalidTarget(_)),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn odd_ids_are_escaped_and_parse_back() {
        for raw in ["a b;c", "50%", "é\u{202e}😀\u{0}", "x@example.com", ";"] {
            let conv = direct(raw, None);
            assert_eq!(
                parse_target(&conv.id, None).unwrap(),
                Target::Contact(raw.into()),
                "{}",
                conv.id
            );
            let conv = channel(raw, None);
            assert_eq!(
                parse_target(&conv.id, None).unwrap(),
                Target::Channel(raw.into())
            );
        }
        assert_eq!(direct("a b", None).id, "zoom;-;a%20b");
        assert_eq!(direct("", None).id, "zoom;-;unknown");
        assert_eq!(meeting("1;2", None).id, "zoom;+;meeting:1%3B2");
        assert_eq!(channel("chan-1", None).id, "zoom;+;channel:chan-1");
        // Not a valid escape: kept as given.
        assert_eq!(
            parse_target("zoom;-;a%zz", None).unwrap(),
            Target::Contact("a%zz".into())
        );
    }

    #[test]
    fn meeting_conversation_without_default_target_names_the_key() {
        for id in ["zoom;+;meeting:123", "zoom;+;feed"] {
            let err = parse_target(id, None).unwrap_err();
            assert!(matches!(err, ChannelError::Config(_)), "{err}");
            assert!(err.to_string().contains("defaultTo"), "{err}");
        }
        assert_eq!(
            parse_target("zoom;+;meeting:123", Some("zoom;+;channel:c9")).unwrap(),
            Target::Channel("c9".into())
        );
        assert_eq!(
            parse_target("zoom;+;feed", Some("ann@example.com")).unwrap(),
            Target::Contact("ann@example.com".into())
        );
        let err = parse_target("zoom;+;feed", Some("zoom;+;feed")).unwrap_err();
        assert!(err.to_string().contains("defaultTo"), "{err}");
    }
}
