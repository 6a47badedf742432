//! Event-name patterns: `*` matches any run of characters (dots included).

/// True when `name` matches `pattern` (`*` wildcards; everything else literal).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    // `split` always yields at least one item.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        // No `*` at all: exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Why an event is filtered out by include / exclude patterns, if it is.
pub(crate) fn check(include: &[String], exclude: &[String], event: &str) -> Option<FilterMiss> {
    if !include.is_empty() && !include.iter().any(|p| matches(p, event)) {
        return Some(FilterMiss::NotIncluded);
    }
    if exclude.iter().any(|p| matches(p, event)) {
        return Some(FilterMiss::Excluded);
    }
    None
}

/// Which filter rejected an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterMiss {
    NotIncluded,
    Excluded,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(matches("*", "meeting.started"));
        assert!(matches("*", ""));
        assert!(matches("meeting.*", "meeting.started"));
        assert!(matches("meeting.*", "meeting.participant_joined"));
        assert!(!matches("meeting.*", "meetings.x"));
        assert!(!matches("meeting.*", "recording.completed"));
        assert!(matches("meeting.started", "meeting.started"));
        assert!(!matches("meeting.started", "meeting.started2"));
        assert!(!matches("meeting.start", "meeting.started"));
        assert!(matches(
            "team_chat.*_message_posted",
            "team_chat.dm_message_posted"
        ));
        assert!(!matches(
            "team_chat.*_message_posted",
            "team_chat.dm_message_updated"
        ));
        assert!(matches("*.ended", "meeting.ended"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxcyyb"));
        // The tail must not overlap the head.
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn include_then_exclude() {
        let inc = vec!["meeting.*".to_string(), "recording.completed".to_string()];
        let exc = vec!["meeting.participant_*".to_string()];
        assert_eq!(check(&inc, &exc, "meeting.started"), None);
        assert_eq!(check(&inc, &exc, "recording.completed"), None);
        assert_eq!(
            check(&inc, &exc, "user.created"),
            Some(FilterMiss::NotIncluded)
        );
        assert_eq!(
            check(&inc, &exc, "meeting.participant_left"),
            Some(FilterMiss::Excluded)
        );
        assert_eq!(check(&[], &[], "anything.at_all"), None);
        assert_eq!(
            check(&[], &["*".to_string()], "user.created"),
            Some(FilterMiss::Excluded)
        );
    }
}
