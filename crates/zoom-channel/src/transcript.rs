//! Meeting transcripts: the `TRANSCRIPT` file of `recording.transcript_completed`
//! (or `recording.completed`) is downloaded with the account token, parsed
//! into speaker turns, saved under the media directory as a text attachment,
//! and excerpted in the message.

use std::path::Path;

use moltbot_channel::{Attachment, InboundMessage};
use sha2::{Digest, Sha256};
use zoom::ZoomApi;
use zoom_wire::{Event, RecordingEvent, RecordingFile};

use crate::{
    config::ZoomChannelConfig,
    render::{meeting_ref, truncate, utc_time},
    vtt,
};

/// The event announcing a finished audio transcript.
pub(crate) const TRANSCRIPT_COMPLETED: &str = "recording.transcript_completed";

/// Longest excerpt in the message body, in characters, whatever the line limit.
const EXCERPT_MAX_CHARS: usize = 6_000;

/// Adds the transcript of a recording event: an attachment per transcript
/// file and an excerpt in the body (or why there is none).
pub(crate) async fn enrich(
    api: &ZoomApi,
    config: &ZoomChannelConfig,
    event: &Event,
    mut message: InboundMessage,
) -> InboundMessage {
    let Ok(recording) = serde_json::from_value::<RecordingEvent>(event.payload.clone()) else {
        return message;
    };
    let files: Vec<&RecordingFile> = recording
        .object
        .recording_files
        .iter()
        .filter(|f| is_transcript(f))
        .collect();
    if files.is_empty() {
        return message;
    }
    let r = &recording.object;
    let heading = meeting_ref(r.topic.as_deref(), r.id.as_str());
    if event.event == TRANSCRIPT_COMPLETED {
        message.body = format!("Transcript ready: {heading}.");
    }
    for file in files {
        let section = match fetch(api, config, &recording, file, &heading).await {
            Ok((attachment, excerpt)) => {
                message.attachments.push(attachment);
                excerpt
            }
            Err(why) => {
                tracing::warn!(%why, "meeting transcript not delivered");
                format!("(The transcript could not be fetched: {why}.)")
            }
        };
        message.body.push_str("\n\n");
        message.body.push_str(&section);
    }
    message
}

/// An audio transcript (not closed captions, which are `CC`).
fn is_transcript(f: &RecordingFile) -> bool {
    f.file_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("TRANSCRIPT"))
        && f.download_url.as_deref().is_some_and(|u| !u.is_empty())
}

/// Downloads, parses and saves one transcript; the attachment and the excerpt.
async fn fetch(
    api: &ZoomApi,
    config: &ZoomChannelConfig,
    recording: &RecordingEvent,
    file: &RecordingFile,
    heading: &str,
) -> Result<(Attachment, String), String> {
    let url = file.download_url.as_deref().unwrap_or_default();
    let download = api
        .download(url, config.transcript_max_bytes)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&download.bytes);
    let parsed = vtt::parse(&text);
    if parsed.turns.is_empty() {
        return Err(if text.trim().is_empty() {
            "Zoom sent an empty file".into()
        } else {
            format!(
                "the file is not a readable WebVTT transcript ({} bytes{})",
                download.bytes.len(),
                if parsed.missing_header {
                    ", no WEBVTT header"
                } else {
                    ""
                }
            )
        });
    }
    let lines: Vec<String> = parsed.turns.iter().map(vtt::Turn::line).collect();
    let mut notes = Vec::new();
    if download.truncated {
        notes.push(format!(
            "the transcript is longer than transcriptMaxBytes ({} bytes); only its start was downloaded",
            config.transcript_max_bytes
        ));
    }
    if parsed.skipped > 0 {
        notes.push(format!("{} unreadable cue(s) were skipped", parsed.skipped));
    }
    let r = &recording.object;
    let mut full = format!("Transcript of {heading}");
    if let Some(start) = &r.start_time {
        full.push_str(&format!(", started {}", utc_time(start)));
    }
    full.push_str("\n\n");
    full.push_str(&lines.join("\n"));
    full.push('\n');
    for note in &notes {
        full.push_str(&format!("\n[{note}]\n"));
    }
    let id = attachment_id(&config.subscription_id, &r.uuid, file, url);
    let attachment = save(&config.media_dir, &id, r.id.as_str(), &full)?;
    let mut excerpt = format!("Transcript ({} turns, full text attached):", lines.len());
    let mut shown = 0;
    let mut chars = 0;
    for line in lines.iter().take(config.transcript_excerpt_lines) {
        let n = line.chars().count() + 1;
        if shown > 0 && chars + n > EXCERPT_MAX_CHARS {
            break;
        }
        excerpt.push('\n');
        excerpt.push_str(&truncate(line, EXCERPT_MAX_CHARS));
        chars += n;
        shown += 1;
    }
    let more = lines.len() - shown;
    if more > 0 {
        excerpt.push_str(&format!(
            "\n… {more} more line{} in the attachment",
            if more == 1 { "" } else { "s" }
        ));
    }
    for note in notes {
        excerpt.push_str(&format!("\n({note}.)"));
    }
    Ok((attachment, excerpt))
}

/// `zoom-tr-` and 32 hex digits over the subscription, the meeting instance
/// and the file: a redelivered event names the same file.
fn attachment_id(subscription: &str, uuid: &str, file: &RecordingFile, url: &str) -> String {
    let key = file.id.as_deref().filter(|i| !i.is_empty()).unwrap_or(url);
    let digest = Sha256::digest(format!("{subscription}|{uuid}|{key}"));
    let mut hex = hex::encode(digest);
    hex.truncate(32);
    format!("zoom-tr-{hex}")
}

/// Writes `<media_dir>/<id>.txt` (replacing a previous copy of the same file).
fn save(media_dir: &Path, id: &str, meeting_id: &str, text: &str) -> Result<Attachment, String> {
    std::fs::create_dir_all(media_dir).map_err(|e| {
        format!(
            "cannot create the media folder {}: {e}",
            media_dir.display()
        )
    })?;
    let path = media_dir.join(format!("{id}.txt"));
    let tmp = media_dir.join(format!("{id}.txt.part"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot save the transcript to {}: {e}", path.display()))?;
    let safe: String = meeting_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Ok(Attachment {
        id: id.to_owned(),
        file_name: if safe.is_empty() {
            "transcript.txt".into()
        } else {
            format!("transcript-{safe}.txt")
        },
        mime_type: Some("text/plain".into()),
        size: text.len() as u64,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_source_file() {
        let file = RecordingFile {
            id: Some("f-1".into()),
            ..Default::default()
        };
        let a = attachment_id("sub", "u==", &file, "https://zoom.us/rec/1");
        assert_eq!(
            a,
            attachment_id("sub", "u==", &file, "https://zoom.us/rec/other")
        );
        assert_ne!(
            a,
            attachment_id("sub", "v==", &file, "https://zoom.us/rec/1")
        );
        assert!(a.starts_with("zoom-tr-") && a.len() == 40, "{a}");
        let no_id = RecordingFile::default();
        assert_ne!(
            attachment_id("sub", "u==", &no_id, "https://zoom.us/rec/1"),
            attachment_id("sub", "u==", &no_id, "https://zoom.us/rec/2")
        );
    }

    #[test]
    fn closed_captions_are_not_transcripts() {
        let f = |t: &str| RecordingFile {
            file_type: Some(t.into()),
            download_url: Some("https://zoom.us/rec/x".into()),
            ..Default::default()
        };
        assert!(is_transcript(&f("TRANSCRIPT")));
        assert!(!is_transcript(&f("CC")));
        assert!(!is_transcript(&f("MP4")));
    }
}
