//! Chat GUIDs: `<service>;<sep>;<identifier>`, `-` for direct, `+` for groups.

use moltbot_channel::ChatType;

/// Our service segment.
pub(crate) const SERVICE: &str = "zoom";

/// The third `;` segment (`chatIdentifier`), or the whole string.
pub(crate) fn identifier(guid: &str) -> &str {
    let mut parts = guid.splitn(3, ';');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(id)) => id,
        _ => guid,
    }
}

/// Kind of a conversation judged from its GUID alone.
pub(crate) fn kind_of(guid: &str) -> ChatType {
    if guid.contains(";-;") {
        ChatType::Direct
    } else if identifier(guid).starts_with("channel:") {
        ChatType::Channel
    } else {
        ChatType::Group
    }
}

/// Trims and maps the direct-message aliases other clients build
/// (`iMessage;-;x`, `SMS;-;x`, macOS 26's `any;-;x`) to `zoom;-;x`.
pub(crate) fn canonical(guid: &str) -> String {
    let guid = guid.trim();
    match guid.split_once(";-;") {
        Some((service, id))
            if !id.is_empty()
                && ["any", "imessage", "sms"].contains(&service.to_ascii_lowercase().as_str()) =>
        {
            direct(id)
        }
        _ => guid.to_owned(),
    }
}

/// The direct-message GUID for an address.
pub(crate) fn direct(address: &str) -> String {
    format!("{SERVICE};-;{}", address.trim())
}

/// BlueBubbles' chat `style`: 45 for direct, 43 for groups and channels.
pub(crate) fn style(kind: ChatType) -> u8 {
    match kind {
        ChatType::Direct => 45,
        _ => 43,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_kinds_and_aliases() {
        assert_eq!(identifier("zoom;+;meeting:123"), "meeting:123");
        assert_eq!(identifier("zoom;-;a;b"), "a;b");
        assert_eq!(identifier("plain"), "plain");
        assert_eq!(kind_of("zoom;-;ann@example.com"), ChatType::Direct);
        assert_eq!(kind_of("zoom;+;channel:abc"), ChatType::Channel);
        assert_eq!(kind_of("zoom;+;meeting:1"), ChatType::Group);
        assert_eq!(canonical(" any;-;ann@x.com "), "zoom;-;ann@x.com");
        assert_eq!(canonical("iMessage;-;+1555"), "zoom;-;+1555");
        assert_eq!(canonical("zoom;+;feed"), "zoom;+;feed");
        assert_eq!(canonical("iMessage;+;chat1"), "iMessage;+;chat1");
        assert_eq!(style(ChatType::Direct), 45);
        assert_eq!(style(ChatType::Channel), 43);
    }
}
