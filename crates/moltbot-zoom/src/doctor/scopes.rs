//! Which OAuth scopes the configured events and sends need.

/// Scopes that allow posting to Team Chat as a user.
pub(super) const USER_SEND_SCOPES: [&str; 4] = [
    "chat_message:write",
    "chat_message:write:admin",
    "team_chat:write:user_message",
    "team_chat:write:user_message:admin",
];
/// The scope that allows posting as a chatbot.
pub(super) const CHATBOT_SCOPE: &str = "imchat:bot";

/// An event family: its event name prefixes and the scope prefixes that let
/// the app read it (zoom-protocol.md §3).
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) events: &'static [&'static str],
    pub(super) scopes: &'static [&'static str],
    pub(super) suggest: &'static str,
}

pub(super) const FAMILIES: [Family; 4] = [
    Family {
        name: "meetings",
        events: &["meeting."],
        scopes: &["meeting:read"],
        suggest: "meeting:read:admin",
    },
    Family {
        name: "recordings",
        events: &["recording."],
        scopes: &["cloud_recording:read", "recording:read"],
        suggest: "cloud_recording:read:recording:admin",
    },
    Family {
        name: "users",
        events: &["user."],
        scopes: &["user:read"],
        suggest: "user:read:admin",
    },
    Family {
        name: "Team Chat",
        events: &["chat_message.", "chat_channel.", "team_chat."],
        scopes: &[
            "chat_message:read",
            "team_chat:read",
            "chat:read",
            "chat_channel:read",
        ],
        suggest: "chat_message:read:admin",
    },
];

pub(super) fn has_scope(scopes: &[String], wanted: &str) -> bool {
    scopes
        .iter()
        .any(|s| s == wanted || s.strip_prefix(wanted).is_some_and(|r| r.starts_with(':')))
}

/// Whether an `include` pattern can match events of `family`.
pub(super) fn pattern_covers(pattern: &str, family: &Family) -> bool {
    let head = pattern.split('*').next().unwrap_or_default();
    family
        .events
        .iter()
        .any(|prefix| prefix.starts_with(head) || head.starts_with(prefix))
}

/// Whether `exclude` drops the whole family.
pub(super) fn family_excluded(exclude: &[String], family: &Family) -> bool {
    family.events.iter().all(|prefix| {
        exclude
            .iter()
            .any(|p| p == "*" || p.strip_suffix('*') == Some(*prefix))
    })
}
