//! WebVTT (Zoom's audio transcript format) → speaker turns.
//!
//! Zoom writes one cue per utterance, the speaker as a `Name: ` prefix of the
//! cue text; the W3C voice tag `<v Name>` is read too. Consecutive cues of one
//! speaker merge into one turn; a turn keeps its start time to the second.
//! Input may be cut anywhere (a download limit) or malformed: cues whose
//! timing line does not parse are skipped and counted, a cue cut short keeps
//! what it has.

/// One speaker's uninterrupted run of speech.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Turn {
    /// Start, in whole seconds from the start of the recording.
    pub(crate) start_secs: u64,
    /// The speaker, when the cue names one.
    pub(crate) speaker: Option<String>,
    /// What was said.
    pub(crate) text: String,
}

impl Turn {
    /// `[MM:SS] Speaker: text` (`[H:MM:SS]` from the first hour on).
    pub(crate) fn line(&self) -> String {
        let (h, m, s) = (
            self.start_secs / 3600,
            (self.start_secs / 60) % 60,
            self.start_secs % 60,
        );
        let at = if h > 0 {
            format!("[{h}:{m:02}:{s:02}]")
        } else {
            format!("[{m:02}:{s:02}]")
        };
        match &self.speaker {
            Some(who) => format!("{at} {who}: {}", self.text),
            None => format!("{at} {}", self.text),
        }
    }
}

/// A parsed transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Transcript {
    /// Speaker turns, in order.
    pub(crate) turns: Vec<Turn>,
    /// Cue blocks that could not be read (bad timing line).
    pub(crate) skipped: usize,
    /// True when the text did not start with the `WEBVTT` signature.
    pub(crate) missing_header: bool,
}

/// Parses WebVTT text; never fails (see the module doc).
pub(crate) fn parse(text: &str) -> Transcript {
    let text = text.trim_start_matches('\u{feff}');
    let mut out = Transcript {
        missing_header: !text.starts_with("WEBVTT"),
        ..Transcript::default()
    };
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for block in normalized.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
        let Some(timing_at) = lines.iter().position(|l| l.contains("-->")) else {
            // Header, NOTE / STYLE / REGION blocks, a cue id cut off by the limit.
            continue;
        };
        let Some(start_secs) = cue_start(lines[timing_at]) else {
            out.skipped += 1;
            continue;
        };
        let payload = lines[timing_at + 1..].join(" ");
        let (speaker, text) = speaker_and_text(&payload);
        if text.is_empty() {
            continue;
        }
        match out.turns.last_mut() {
            Some(last) if last.speaker == speaker => {
                last.text.push(' ');
                last.text.push_str(&text);
            }
            _ => out.turns.push(Turn {
                start_secs,
                speaker,
                text,
            }),
        }
    }
    out
}

/// Whole seconds of `HH:MM:SS.mmm --> …` or `MM:SS.mmm --> …`.
fn cue_start(line: &str) -> Option<u64> {
    let start = line.split("-->").next()?.trim();
    let whole = start.split(['.', ',']).next()?;
    let parts: Vec<u64> = whole
        .split(':')
        .map(|p| p.trim().parse::<u64>().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m, s] if *m < 60 && *s < 60 => h.checked_mul(3600)?.checked_add(m * 60 + s),
        [m, s] if *s < 60 => m.checked_mul(60)?.checked_add(*s),
        _ => None,
    }
}

/// The speaker (`<v Name>` or a short `Name: ` prefix) and the plain text.
fn speaker_and_text(payload: &str) -> (Option<String>, String) {
    let payload = payload.trim();
    let (voice, rest) = match payload.strip_prefix("<v") {
        Some(after) if after.starts_with([' ', '.']) => match after.split_once('>') {
            Some((tag, rest)) => {
                let name = tag.split_once(' ').map_or("", |(_, n)| n).trim();
                ((!name.is_empty()).then(|| name.to_owned()), rest)
            }
            None => (None, payload),
        },
        _ => (None, payload),
    };
    let text = strip_tags(rest);
    if voice.is_some() {
        return (voice, text);
    }
    match text.split_once(": ") {
        Some((who, said))
            if !who.trim().is_empty()
                && who.chars().count() <= 64
                && !who.contains(['.', '!', '?']) =>
        {
            (Some(who.trim().to_owned()), said.trim().to_owned())
        }
        _ => (None, text),
    }
}

/// Removes `<…>` tags and decodes the entities WebVTT defines.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZOOM: &str = "WEBVTT\n\n1\n00:00:01.020 --> 00:00:04.500\nAlice Jones: Good morning, everyone.\n\n\
        2\n00:00:04.800 --> 00:00:06.000\nAlice Jones: Let's start with the budget.\n\n\
        3\n00:01:10.000 --> 00:01:12.000\nBob: Budget is approved.\n\n\
        4\n01:02:03.000 --> 01:02:05.000\nAlice Jones: Thanks &amp; bye.\n";

    #[test]
    fn zoom_cues_become_merged_speaker_turns() {
        let t = parse(ZOOM);
        assert!(!t.missing_header);
        assert_eq!(t.skipped, 0);
        let lines: Vec<String> = t.turns.iter().map(Turn::line).collect();
        assert_eq!(
            lines,
            [
                "[00:01] Alice Jones: Good morning, everyone. Let's start with the budget.",
                "[01:10] Bob: Budget is approved.",
                "[1:02:03] Alice Jones: Thanks & bye.",
            ]
        );
    }

    #[test]
    fn voice_tags_crlf_and_notes_are_read() {
        let text = "\u{feff}WEBVTT - title\r\n\r\nNOTE a comment\r\n\r\n00:05.000 --> 00:07.000 align:start\r\n<v Carol>Hi <b>there</b></v>\r\n\r\n00:08.000 --> 00:09.000\r\nno speaker here. Really: yes\r\n";
        let t = parse(text);
        let lines: Vec<String> = t.turns.iter().map(Turn::line).collect();
        assert_eq!(
            lines,
            [
                "[00:05] Carol: Hi there",
                "[00:08] no speaker here. Really: yes"
            ]
        );
    }

    #[test]
    fn truncated_and_malformed_input_keeps_what_it_can() {
        // Cut in the middle of the third cue's text, as a byte limit cuts it.
        let cut = &ZOOM[..ZOOM.find("approved").unwrap()];
        let t = parse(cut);
        assert_eq!(t.turns.len(), 2);
        assert_eq!(t.turns[1].line(), "[01:10] Bob: Budget is");
        // Cut inside a timing line: that cue is skipped and counted.
        let cut = &ZOOM[..ZOOM.find("00:01:12").unwrap() - 3];
        let t = parse(cut);
        assert_eq!((t.turns.len(), t.skipped), (1, 0));
        let bad = "WEBVTT\n\n1\n00:xx:01.000 --> 00:00:02.000\nA: lost\n\n2\n00:00:03.000 --> 00:00:04.000\nA: kept\n";
        let t = parse(bad);
        assert_eq!(t.skipped, 1);
        assert_eq!(t.turns[0].line(), "[00:03] A: kept");
        let junk = parse("this is not a transcript");
        assert!(junk.missing_header);
        assert!(junk.turns.is_empty());
        assert!(parse("").turns.is_empty());
        assert_eq!(cue_start("99999999999999999999:00:00.000 --> x"), None);
    }
}
