//! Splitting outbound text at Zoom's per-message limit.

/// Splits `text` into parts of at most `max_chars` characters whose
/// concatenation is `text`. A part ends after the last newline in its window
/// when there is one, else after the last whitespace, else at the limit.
pub fn split_text(text: &str, max_chars: usize) -> Vec<&str> {
    let max_chars = max_chars.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // Byte offset just past `max_chars` characters, or the whole rest.
        let Some((limit, _)) = rest.char_indices().nth(max_chars) else {
            parts.push(rest);
            break;
        };
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .map(|i| i + 1)
            .or_else(|| {
                window
                    .char_indices()
                    .rev()
                    .find(|(_, c)| c.is_whitespace())
                    .map(|(i, c)| i + c.len_utf8())
            })
            .unwrap_or(limit);
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, max: usize) -> Vec<&str> {
        let parts = split_text(text, max);
        assert_eq!(parts.concat(), text);
        for p in &parts {
            assert!(!p.is_empty());
            assert!(p.chars().count() <= max, "{p:?}");
        }
        parts
    }

    #[test]
    fn exact_boundaries() {
        let a = "a".repeat(1024);
        assert_eq!(check(&a, 1024), vec![a.as_str()]);
        let b = "a".repeat(1025);
        let parts = check(&b, 1024);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len(), 1024);
        assert_eq!(parts[1], "a");
        let c = "a".repeat(2048);
        assert_eq!(check(&c, 1024).len(), 2);
        assert!(check("", 1024).is_empty());
    }

    #[test]
    fn multibyte_chars_are_counted_as_chars_and_never_cut() {
        let text = "é".repeat(1500);
        let parts = check(&text, 1024);
        assert_eq!(parts[0].chars().count(), 1024);
        assert_eq!(parts[1].chars().count(), 476);
        let emoji = "😀".repeat(2000) + "x";
        let parts = check(&emoji, 1024);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].chars().count(), 977);
    }

    #[test]
    fn prefers_newline_then_whitespace() {
        let text = format!(
            "{}\n{} {}",
            "a".repeat(500),
            "b".repeat(400),
            "c".repeat(400)
        );
        let parts = check(&text, 1024);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(500)));
        // Newline wins over the later space.
        let text = format!("{} {}", "b".repeat(800), "c".repeat(800));
        let parts = check(&text, 1024);
        assert_eq!(parts[0], format!("{} ", "b".repeat(800)));
        assert_eq!(parts[1], "c".repeat(800));
        // Multi-byte whitespace (ideographic space) is cut after, not inside.
        let text = format!("{}\u{3000}{}", "日".repeat(700), "本".repeat(700));
        let parts = check(&text, 1024);
        assert_eq!(parts[0], format!("{}\u{3000}", "日".repeat(700)));
    }

    #[test]
    fn long_text_reassembles_in_order() {
        let text: String = (0..5000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let parts = check(&text, 1024);
        assert_eq!(parts.len(), 5);
        let words = "lorem ipsum dolor sit amet\n".repeat(400);
        let parts = check(&words, 1024);
        assert!(parts.iter().all(|p| p.ends_with('\n')));
    }
}
