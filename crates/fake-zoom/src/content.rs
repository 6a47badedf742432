//! What the fake holds about meetings and conversations beyond events:
//! AI Companion summaries, recording files and Team Chat history.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use crate::FakeZoom;
use crate::rest::api_error;
use crate::state::Shared;

/// Served content, in [`crate::state::State`].
#[derive(Default)]
pub(crate) struct Content {
    /// `GET /v2/meetings/{uuid}/meeting_summary` bodies by meeting UUID.
    pub(crate) summaries: HashMap<String, Value>,
    /// Recording file bytes by file id.
    pub(crate) files: HashMap<String, Vec<u8>>,
    /// Completed recording file downloads (after the redirect), by file id.
    pub(crate) downloads: HashMap<String, u64>,
    /// Team Chat history, in insertion order.
    pub(crate) history: Vec<crate::history::Stored>,
}

/// Zoom's answer when the token lacks every one of `scopes` (granular scope
/// names; the first is named in the message), or `None` when one is granted.
pub(crate) fn missing_scope(shared: &Shared, scopes: &[&str]) -> Option<Response> {
    let knobs = shared.knobs();
    let granted = scopes.iter().any(|s| {
        shared.config.scopes.split_whitespace().any(|g| g == *s)
            && !knobs.withheld_scopes.iter().any(|w| w == s)
    });
    if granted {
        return None;
    }
    Some(api_error(
        StatusCode::BAD_REQUEST,
        4711,
        format!(
            "Invalid access token, does not contain scopes:[{}].",
            scopes.first().copied().unwrap_or_default()
        ),
    ))
}

impl FakeZoom {
    /// Serves `summary` (the body of Zoom's "Get a meeting summary") for its
    /// `meeting_uuid`; meetings without one answer 404.
    pub fn add_meeting_summary(&self, summary: Value) {
        let uuid = summary
            .get("meeting_uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.shared.lock().content.summaries.insert(uuid, summary);
        self.shared.changed();
    }

    /// Serves `bytes` as recording file `id`; returns its `download_url`
    /// (which redirects, as Zoom's does, to the file host).
    pub fn add_recording_file(&self, id: &str, bytes: Vec<u8>) -> String {
        self.shared
            .lock()
            .content
            .files
            .insert(id.to_owned(), bytes);
        self.shared.changed();
        crate::transcripts::download_url(&self.shared, id)
    }

    /// How many times recording file `id` was downloaded to the end of the redirect.
    pub fn recording_downloads(&self, id: &str) -> u64 {
        self.shared
            .lock()
            .content
            .downloads
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}
