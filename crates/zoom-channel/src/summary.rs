//! `meeting.summary_completed` → the AI Companion summary as one message:
//! overview, sections, next steps and the share link, fetched with
//! `GET /v2/meetings/{meetingUUID}/meeting_summary`. When the fetch fails,
//! the message holds what the event carried and says why the rest is missing.

use moltbot_channel::InboundMessage;
use zoom::{ZoomApi, ZoomError};
use zoom_wire::{Event, MeetingSummary};

use crate::render::{meeting_ref, truncate, utc_time};

/// The event this module handles.
pub(crate) const SUMMARY_COMPLETED: &str = "meeting.summary_completed";

/// Longest summary text delivered, in characters.
const SUMMARY_MAX_CHARS: usize = 20_000;

/// Replaces the body of a `meeting.summary_completed` message with the summary.
pub(crate) async fn enrich(
    api: &ZoomApi,
    event: &Event,
    mut message: InboundMessage,
) -> InboundMessage {
    let carried: MeetingSummary = event
        .object()
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or_default();
    let uuid = carried
        .meeting_uuid
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let (summary, missing) = match uuid {
        None => (
            carried,
            Some("the event names no meeting UUID to fetch it with".to_owned()),
        ),
        Some(uuid) => match api.get_meeting_summary(&uuid).await {
            Ok(fetched) => (merge(fetched, carried), None),
            Err(e) => {
                tracing::warn!(error = %e, "meeting summary fetch failed; delivering what the event carried");
                (carried, Some(why_missing(&e)))
            }
        },
    };
    message.body = body(&summary, missing.as_deref());
    message
}

/// The fetched summary, with the event's fields where the answer lacks them.
fn merge(mut fetched: MeetingSummary, carried: MeetingSummary) -> MeetingSummary {
    fn keep(slot: &mut Option<String>, other: Option<String>) {
        if slot.as_deref().is_none_or(str::is_empty) {
            *slot = other;
        }
    }
    if fetched.meeting_id.is_empty() {
        fetched.meeting_id = carried.meeting_id;
    }
    keep(&mut fetched.meeting_topic, carried.meeting_topic);
    keep(&mut fetched.meeting_start_time, carried.meeting_start_time);
    keep(&mut fetched.meeting_end_time, carried.meeting_end_time);
    keep(&mut fetched.summary_title, carried.summary_title);
    keep(&mut fetched.summary_overview, carried.summary_overview);
    if fetched.summary_details.is_empty() && fetched.summary_content.is_none() {
        fetched.summary_details = carried.summary_details;
    }
    if fetched.next_steps.is_empty() {
        fetched.next_steps = carried.next_steps;
    }
    fetched
}

/// Why the full summary is not in the message, for the agent and the user.
fn why_missing(err: &ZoomError) -> String {
    match err {
        ZoomError::Api {
            status: 404,
            message,
            ..
        } => format!("Zoom has no summary for this meeting instance (HTTP 404: {message})"),
        ZoomError::Api { code, message, .. }
            if matches!(code, 104 | 4711) || message.contains("does not contain scopes") =>
        {
            format!(
                "the Zoom app lacks the scope to read meeting summaries \
                 (add meeting:read:summary:admin; Zoom said: {message})"
            )
        }
        other => format!("fetching it from Zoom failed: {other}"),
    }
}

fn body(s: &MeetingSummary, missing: Option<&str>) -> String {
    let mut out = format!(
        "Meeting summary: {}",
        meeting_ref(s.meeting_topic.as_deref(), s.meeting_id.as_str())
    );
    match (&s.meeting_start_time, &s.meeting_end_time) {
        (Some(start), Some(end)) => {
            out.push_str(&format!(", {} → {}", utc_time(start), utc_time(end)));
        }
        (Some(start), None) => out.push_str(&format!(", started {}", utc_time(start))),
        _ => {}
    }
    out.push('.');
    if let Some(title) = s.summary_title.as_deref().filter(|t| !t.trim().is_empty()) {
        out.push_str(&format!("\n\n{}", title.trim()));
    }
    if let Some(overview) = s
        .summary_overview
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        out.push_str(&format!("\n\nOverview:\n{}", overview.trim()));
    }
    let sections: Vec<_> = s
        .summary_details
        .iter()
        .filter(|d| !d.summary.trim().is_empty())
        .collect();
    if !sections.is_empty() {
        for d in sections {
            let label = d.label.trim();
            let label = if label.is_empty() { "Summary" } else { label };
            out.push_str(&format!("\n\n{label}:\n{}", d.summary.trim()));
        }
    } else if let Some(content) = s
        .summary_content
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        out.push_str(&format!("\n\n{}", content.trim()));
    }
    let steps: Vec<_> = s
        .next_steps
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .collect();
    if !steps.is_empty() {
        out.push_str("\n\nNext steps:");
        for step in steps {
            out.push_str(&format!("\n- {step}"));
        }
    }
    if let Some(url) = s.summary_doc_url.as_deref().filter(|u| !u.is_empty()) {
        out.push_str(&format!("\n\nFull summary: {url}"));
    }
    if let Some(why) = missing {
        out.push_str(&format!(
            "\n\n(Only what the event carried is shown: {why}.)"
        ));
    }
    truncate(&out, SUMMARY_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoom_wire::SummarySection;

    fn summary() -> MeetingSummary {
        MeetingSummary {
            meeting_id: "123".into(),
            meeting_topic: Some("Roadmap".into()),
            meeting_start_time: Some("2025-01-06T09:00:00Z".into()),
            meeting_end_time: Some("2025-01-06T09:45:00Z".into()),
            summary_overview: Some("We agreed on Q2.".into()),
            summary_details: vec![SummarySection {
                label: "Budget".into(),
                summary: "Approved.".into(),
            }],
            next_steps: vec!["Ann: send the plan".into(), "  ".into()],
            summary_doc_url: Some("https://docs.zoom.us/doc/x".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_body_holds_every_part_in_order() {
        let text = body(&summary(), None);
        assert_eq!(
            text,
            "Meeting summary: \"Roadmap\" (ID 123), 2025-01-06 09:00 UTC → 2025-01-06 09:45 UTC.\
             \n\nOverview:\nWe agreed on Q2.\n\nBudget:\nApproved.\n\nNext steps:\n- Ann: send the plan\
             \n\nFull summary: https://docs.zoom.us/doc/x"
        );
    }

    #[test]
    fn markdown_content_stands_in_for_missing_sections_and_reasons_are_said() {
        let s = MeetingSummary {
            summary_details: Vec::new(),
            summary_content: Some("## Decisions\n- ship".into()),
            ..summary()
        };
        let text = body(&s, Some("Zoom has no summary"));
        assert!(text.contains("\n\n## Decisions\n- ship"), "{text}");
        assert!(
            text.ends_with("(Only what the event carried is shown: Zoom has no summary.)"),
            "{text}"
        );
        let scope = why_missing(&ZoomError::Api {
            status: 400,
            code: 4711,
            message: "Invalid access token, does not contain scopes:[meeting:read:summary:admin]."
                .into(),
        });
        assert!(scope.contains("lacks the scope"), "{scope}");
        let gone = why_missing(&ZoomError::Api {
            status: 404,
            code: 3001,
            message: "Meeting does not exist".into(),
        });
        assert!(gone.contains("HTTP 404"), "{gone}");
    }

    #[test]
    fn merge_fills_gaps_from_the_event() {
        let fetched = MeetingSummary {
            summary_overview: Some("fetched".into()),
            ..Default::default()
        };
        let merged = merge(fetched, summary());
        assert_eq!(merged.summary_overview.as_deref(), Some("fetched"));
        assert_eq!(merged.meeting_topic.as_deref(), Some("Roadmap"));
        assert_eq!(merged.next_steps.len(), 2);
        assert_eq!(merged.summary_details.len(), 1);
    }
}
