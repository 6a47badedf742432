//! `GET /v2/meetings/{meetingUUID}/meeting_summary` and the
//! `meeting.summary_completed` event object.
//!
//! Field names follow Zoom's API reference ("Get a meeting summary") and the
//! `MeetingSummaryCompletedEvent` type of Zoom's Rivet SDK.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::MeetingId;

/// An AI Companion meeting summary, as the REST API returns it and (without
/// `summary_content` / `summary_doc_url`) as `meeting.summary_completed` carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeetingSummary {
    /// Meeting number.
    pub meeting_id: MeetingId,
    /// Meeting instance id.
    pub meeting_uuid: Option<String>,
    /// Topic.
    pub meeting_topic: Option<String>,
    /// Host email.
    pub meeting_host_email: Option<String>,
    /// ISO-8601 start of the meeting.
    pub meeting_start_time: Option<String>,
    /// ISO-8601 end of the meeting.
    pub meeting_end_time: Option<String>,
    /// Title of the summary.
    pub summary_title: Option<String>,
    /// Overview paragraph.
    pub summary_overview: Option<String>,
    /// Sections: a label and its text.
    pub summary_details: Vec<SummarySection>,
    /// Next steps, one per item.
    pub next_steps: Vec<String>,
    /// The whole summary as Markdown (newer accounts; may replace the fields above).
    pub summary_content: Option<String>,
    /// Link to the summary document in Zoom.
    pub summary_doc_url: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One section of a summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SummarySection {
    /// Heading.
    pub label: String,
    /// Text.
    pub summary: String,
}
