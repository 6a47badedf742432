//! The agent's markdown in the syntax of Zoom's chatbot messages.
//!
//! A chatbot message sent with `is_markdown_support: true` renders Zoom's
//! markdown (developers.zoom.us/docs/chat/customizing-messages/markdown/):
//! `**bold**`, `_italic_`, `~strikethrough~`, `` `code` ``, code blocks, and
//! links as `<url|text>` (the card examples of
//! developers.zoom.us/docs/chat/chatbot/extend/bot-cards/). What differs from
//! the common markdown agents write is rewritten: `~~x~~` → `~x~`,
//! `[text](url)` → `<url|text>`, and an ATX heading (`## Title`) → a bold
//! line. Code (fenced blocks and inline spans) is left as written.

/// `text` in Zoom's chatbot markdown (module docs).
pub(crate) fn to_chatbot(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let ending = &line[content.len()..];
        let trimmed = content.trim_start_matches(' ');
        let marks = |c: char| trimmed.len() - trimmed.trim_start_matches(c).len();
        let indent = content.len() - trimmed.len();
        if let Some((c, n)) = fence {
            if indent <= 3 && marks(c) >= n && trimmed.trim_start_matches(c).trim().is_empty() {
                fence = None;
            }
            out.push_str(line);
            continue;
        }
        if indent <= 3 {
            if let Some(c) = ['`', '~'].into_iter().find(|c| marks(*c) >= 3) {
                fence = Some((c, marks(c)));
                out.push_str(line);
                continue;
            }
        }
        let hashes = marks('#');
        let heading = (indent <= 3 && (1..=6).contains(&hashes))
            .then(|| &trimmed[hashes..])
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
            .map(|rest| rest.trim().trim_end_matches('#').trim_end());
        match heading {
            Some(title) if !title.is_empty() => {
                out.push_str("**");
                out.push_str(&inline(title));
                out.push_str("**");
            }
            _ => out.push_str(&inline(content)),
        }
        out.push_str(ending);
    }
    out
}

/// One line outside code blocks: strikethrough and links rewritten, inline
/// code spans kept.
fn inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        if rest.starts_with('`') {
            // A code span: the same run of backticks closes it; unclosed, literal.
            let n = rest.len() - rest.trim_start_matches('`').len();
            let ticks = &rest[..n];
            match rest[n..].find(ticks) {
                Some(end) => {
                    let span = n + end + n;
                    out.push_str(&rest[..span]);
                    rest = &rest[span..];
                }
                None => {
                    out.push_str(ticks);
                    rest = &rest[n..];
                }
            }
        } else if let Some(after) = rest.strip_prefix("~~") {
            out.push('~');
            rest = after;
        } else if let Some((len, link)) = link(rest) {
            out.push_str(&link);
            rest = &rest[len..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `[text](url)` at the start of `s`: its length and `<url|text>`.
fn link(s: &str) -> Option<(usize, String)> {
    let label_end = s.strip_prefix('[')?.find(']')? + 1;
    let label = &s[1..label_end];
    let after = s[label_end + 1..].strip_prefix('(')?;
    let url_end = after.find(')')?;
    let url = after[..url_end].trim();
    let plausible = url.contains(':') && !url.contains([' ', '<', '>', '|']);
    if label.is_empty() || label.contains(['<', '>', '|']) || !plausible {
        return None;
    }
    Some((label_end + 2 + url_end + 1, format!("<{url}|{label}>")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_markdown_becomes_zoom_markdown() {
        assert_eq!(
            to_chatbot(
                "## Release plan\n**Ship** it ~~Friday~~ _Monday_, see [the board](https://example.com/b?x=1).\n"
            ),
            "**Release plan**\n**Ship** it ~Friday~ _Monday_, see <https://example.com/b?x=1|the board>.\n"
        );
        // Headings need a space and at most six hashes; `#hashtag` stays.
        assert_eq!(
            to_chatbot("#hashtag\n####### seven"),
            "#hashtag\n####### seven"
        );
        assert_eq!(to_chatbot("# Title ##\r\nbody"), "**Title**\r\nbody");
    }

    #[test]
    fn code_is_left_as_written() {
        let text = "Run `a ~~b~~ [c](http://d)` then:\n```md\n# not a heading\n~~x~~ [y](http://z)\n```\n# After\n";
        assert_eq!(
            to_chatbot(text),
            "Run `a ~~b~~ [c](http://d)` then:\n```md\n# not a heading\n~~x~~ [y](http://z)\n```\n**After**\n"
        );
        // An unclosed fence keeps the rest as code; an unclosed span is literal.
        assert_eq!(to_chatbot("~~~\n# x\n"), "~~~\n# x\n");
        assert_eq!(to_chatbot("a ` b ~~c~~"), "a ` b ~c~");
    }

    #[test]
    fn odd_links_stay_text() {
        for s in [
            "[a](no-scheme)",
            "[](http://x)",
            "[a|b](http://x)",
            "[a](http://x y)",
            "[a]",
            "[a](http://x",
        ] {
            assert_eq!(to_chatbot(s), s, "{s}");
        }
        assert_eq!(
            to_chatbot("é [ü](mailto:u@x.example) 😀"),
            "é <mailto:u@x.example|ü> 😀"
        );
    }
}
