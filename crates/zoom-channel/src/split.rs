//! Splitting outbound text at Zoom's per-message limit.
//!
//! [`split_text`] cuts raw text (the parts concatenate to the input);
//! [`split_markdown`], what replies use, prefers the boundaries of the agent's
//! markdown: a blank line between paragraphs or the edge of a code block first,
//! then a line end, and cuts inside a fenced code block only when the block
//! alone is longer than the room left; then it closes the fence at the end of
//! the part and opens it again (same fence and info string) at the start of
//! the next, so every part renders as code.

use std::borrow::Cow;

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

/// A fenced code block's opening line and its closing fence.
#[derive(Debug)]
struct Fence<'a> {
    /// The opening line, without its newline (```` ```rust ````).
    opening: &'a str,
    /// The fence characters that close it (```` ``` ````, `~~~~`).
    closing: String,
}

/// A place after a newline where a part may end.
#[derive(Debug, Clone, Copy)]
struct Boundary {
    /// Byte offset just past the newline.
    at: usize,
    /// Between paragraphs or at a code block's edge (a blank line, a fence line).
    paragraph: bool,
    /// The fence open at `at` (index into the fences), if any.
    inside: Option<usize>,
    /// Just after a fence's opening line (a cut here would send an empty block).
    opening: bool,
}

/// A fence line: up to three spaces, then three or more backticks or tildes.
/// Returns the fence characters and the rest of the line.
fn fence_of(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = trimmed.len() - trimmed.trim_start_matches(c).len();
    (n >= 3).then(|| trimmed.split_at(n))
}

/// The fences of `text` and every line boundary, with the fence open there.
/// Fences whose reopening would not leave room for content (an opening line
/// longer than a quarter of `max_chars`) are treated as text.
fn scan(text: &str, max_chars: usize) -> (Vec<Fence<'_>>, Vec<Boundary>) {
    let mut fences: Vec<Fence<'_>> = Vec::new();
    let mut bounds = Vec::new();
    let mut open: Option<usize> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let start_of_fence = open.is_none();
        let mut edge = false;
        let mut opening = false;
        match (open, fence_of(content)) {
            (Some(f), Some((marks, rest)))
                if rest.trim().is_empty() && marks.starts_with(&fences[f].closing) =>
            {
                open = None;
                edge = true;
            }
            (None, Some((marks, rest)))
                if !(marks.starts_with('`') && rest.contains('`'))
                    && content.chars().count() * 4 <= max_chars =>
            {
                fences.push(Fence {
                    opening: content,
                    closing: marks.to_owned(),
                });
                open = Some(fences.len() - 1);
                opening = true;
                // The boundary before the opening line is a block edge.
                if let Some(b) = bounds.last_mut().filter(|b: &&mut Boundary| b.at == pos) {
                    b.paragraph = true;
                }
            }
            _ => {}
        }
        pos += line.len();
        if line.ends_with('\n') {
            let blank = content.trim().is_empty() && start_of_fence && open.is_none();
            bounds.push(Boundary {
                at: pos,
                paragraph: edge || blank,
                inside: open,
                opening,
            });
        }
    }
    (fences, bounds)
}

/// Splits markdown `text` into parts of at most `max_chars` characters, each
/// cut at the best boundary in reach (module docs). When no fence has to be
/// reopened, the parts concatenate to `text`; otherwise removing each added
/// closing fence (at a part's end) and reopened opening line (at the next
/// part's start) gives `text` back.
pub fn split_markdown(text: &str, max_chars: usize) -> Vec<Cow<'_, str>> {
    plan(text, max_chars)
        .into_iter()
        .map(Part::render)
        .collect()
}

/// One part of a markdown split: a slice of the text, with the fence it
/// reopens and the one it closes.
#[derive(Debug)]
struct Part<'a> {
    /// The opening line of the fence open where the part starts.
    reopen: Option<&'a str>,
    /// The part's slice of the text.
    body: &'a str,
    /// The closing of the fence still open where the part ends (with the
    /// newline before it when the body does not end with one).
    close: Option<String>,
}

impl<'a> Part<'a> {
    fn render(self) -> Cow<'a, str> {
        match (self.reopen, self.close) {
            (None, None) => Cow::Borrowed(self.body),
            (reopen, close) => {
                let mut s = String::new();
                if let Some(opening) = reopen {
                    s.push_str(opening);
                    s.push('\n');
                }
                s.push_str(self.body);
                s.push_str(close.as_deref().unwrap_or_default());
                Cow::Owned(s)
            }
        }
    }
}

/// The parts of [`split_markdown`].
fn plan(text: &str, max_chars: usize) -> Vec<Part<'_>> {
    let max_chars = max_chars.max(1);
    let (fences, bounds) = scan(text, max_chars);
    let mut parts = Vec::new();
    let mut start = 0;
    // The fence open where this part starts.
    let mut open: Option<usize> = None;
    let mut first_bound = 0; // index of the first boundary past `start`
    while start < text.len() {
        let prefix = open.map_or(0, |f| fences[f].opening.chars().count() + 1);
        let budget = max_chars.saturating_sub(prefix).max(1);
        let rest = &text[start..];
        let part = |end: usize, inside: Option<usize>| {
            let body = &text[start..end];
            Part {
                reopen: open.map(|f| fences[f].opening),
                body,
                close: inside.map(|f| {
                    let newline = if body.ends_with('\n') { "" } else { "\n" };
                    format!("{newline}{}", fences[f].closing)
                }),
            }
        };
        let Some((limit, _)) = rest.char_indices().nth(budget) else {
            parts.push(part(text.len(), None));
            break;
        };
        let limit = start + limit;
        while first_bound < bounds.len() && bounds[first_bound].at <= start {
            first_bound += 1;
        }
        let reach: Vec<Boundary> = bounds[first_bound..]
            .iter()
            .take_while(|b| b.at <= limit)
            .copied()
            .collect();
        let chars = |at: usize| text[start..at].chars().count();
        let close_len = |f: usize| fences[f].closing.chars().count() + 1;
        let outside = reach.iter().rev().filter(|b| b.inside.is_none());
        let cut = outside
            .clone()
            .find(|b| b.paragraph && chars(b.at) * 2 >= budget)
            .or_else(|| outside.clone().next())
            .or_else(|| {
                reach.iter().rev().find(|b| {
                    !b.opening
                        && b.inside
                            .is_some_and(|f| chars(b.at) + close_len(f) <= budget)
                })
            })
            .map(|b| (b.at, b.inside));
        let (end, inside) = cut.unwrap_or_else(|| {
            // No line end in reach: the fence state of the line being cut.
            let state = reach.last().map_or(open, |b| b.inside);
            match state {
                None => {
                    let window = &text[start..limit];
                    let at = window
                        .char_indices()
                        .rev()
                        .find(|(_, c)| c.is_whitespace())
                        .map_or(limit, |(i, c)| start + i + c.len_utf8());
                    (at, None)
                }
                Some(f) => {
                    let room = budget.saturating_sub(close_len(f)).max(1);
                    let at = rest
                        .char_indices()
                        .nth(room)
                        .map_or(limit, |(i, _)| start + i);
                    (at, Some(f))
                }
            }
        });
        parts.push(part(end, inside));
        start = end;
        open = inside;
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

    /// Checks the parts of `split_markdown`: within `max`; the bodies
    /// concatenate to the input; a part reopens exactly the fence open where it
    /// starts and closes the one open where it ends (as the text's own lines
    /// say); the rendered parts are what `split_markdown` returns.
    fn check_md(text: &str, max: usize) -> Vec<String> {
        let plan = plan(text, max);
        let (fences, bounds) = scan(text, max);
        let state_at = |at: usize| {
            bounds
                .iter()
                .rev()
                .find(|b| b.at <= at)
                .and_then(|b| b.inside)
        };
        let mut at = 0;
        for p in &plan {
            assert!(!p.body.is_empty());
            assert_eq!(p.reopen, state_at(at).map(|f| fences[f].opening), "{p:?}");
            at += p.body.len();
            let expected_close = if at < text.len() {
                // The line containing the cut decides (a cut after a newline: the line before).
                state_at(at).map(|f| fences[f].closing.clone())
            } else {
                None
            };
            assert_eq!(
                p.close.as_deref().map(|c| c.trim_start_matches('\n')),
                expected_close.as_deref(),
                "{p:?}"
            );
        }
        assert_eq!(plan.iter().map(|p| p.body).collect::<String>(), text);
        let parts: Vec<String> = split_markdown(text, max)
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        assert_eq!(parts.len(), plan.len());
        for p in &parts {
            assert!(
                p.chars().count() <= max,
                "{} > {max}: {p:?}",
                p.chars().count()
            );
        }
        parts
    }

    #[test]
    fn markdown_prefers_paragraphs_then_lines() {
        let text = format!(
            "{}\n\n{}\n{}",
            "a".repeat(600),
            "b".repeat(300),
            "c".repeat(300)
        );
        let parts = check_md(&text, 1024);
        assert_eq!(parts[0], format!("{}\n\n", "a".repeat(600)));
        // A paragraph break too early (less than half a part) loses to a later line end.
        let text = format!(
            "{}\n\n{}\n{}",
            "a".repeat(100),
            "b".repeat(700),
            "c".repeat(300)
        );
        let parts = check_md(&text, 1024);
        assert_eq!(
            parts[0],
            format!("{}\n\n{}\n", "a".repeat(100), "b".repeat(700))
        );
        // Plain text behaves as split_text.
        let words = "lorem ipsum dolor sit amet ".repeat(300);
        assert_eq!(check_md(&words, 1024), split_text(&words, 1024));
    }

    #[test]
    fn a_code_block_that_fits_is_not_cut() {
        let code: String = (0..12)
            .map(|i| format!("let x{i} = {};\n", "1".repeat(40)))
            .collect();
        let text = format!(
            "{}\n```rust\n{code}```\n{}",
            "p".repeat(600),
            "q".repeat(200)
        );
        let parts = check_md(&text, 1024);
        assert_eq!(parts[0], format!("{}\n", "p".repeat(600)));
        assert!(
            parts[1].starts_with("```rust\n") && parts[1].contains("```\nqqq"),
            "{parts:?}"
        );
    }

    #[test]
    fn a_long_code_block_is_closed_and_reopened() {
        let code: String = (0..40)
            .map(|i| format!("print({i:02}, '{}')\n", "z".repeat(50)))
            .collect();
        let text = format!("Here:\n\n~~~~python\n{code}~~~~\nDone.");
        let parts = check_md(&text, 1024);
        assert!(parts.len() >= 3, "{parts:?}");
        assert_eq!(
            parts[0], "Here:\n\n",
            "the prose before the block goes alone"
        );
        assert!(
            parts[1].starts_with("~~~~python\nprint(00"),
            "{:?}",
            parts[1]
        );
        assert!(parts[1].ends_with("')\n~~~~"), "{:?}", parts[1]);
        assert!(parts[2].starts_with("~~~~python\nprint("), "{:?}", parts[2]);
        assert!(parts.last().unwrap().ends_with("~~~~\nDone."));
        // One line longer than a part, inside a fence: cut hard, still fenced.
        let text = format!("```\n{}\n```", "x".repeat(2500));
        let parts = check_md(&text, 1024);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(
            parts[0].ends_with("x\n```") && parts[1].starts_with("```\nx"),
            "{parts:?}"
        );
    }

    #[test]
    fn markdown_split_holds_for_many_shapes() {
        let pieces = [
            "Some prose that goes on for a while. ",
            "\n",
            "\n\n",
            "```js\nconsole.log(1);\n",
            "```\n",
            "~~~\n",
            "`inline` code ",
            "é😀 ",
            "a_long_token_without_spaces_",
        ];
        let mut seed = 7_u64;
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..(seed % 200) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            for max in [40, 100, 1024] {
                check_md(&text, max);
            }
        }
    }
}
