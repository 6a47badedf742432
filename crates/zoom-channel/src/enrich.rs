//! Meeting content fetched after rendering: the summary of
//! `meeting.summary_completed`, the transcript of recording events.

use moltbot_channel::InboundMessage;
use zoom::ZoomApi;
use zoom_wire::Event;

use crate::{config::ZoomChannelConfig, summary, transcript};

/// `message` (rendered from `event`) with what Zoom holds beyond the event.
pub(crate) async fn apply(
    api: &ZoomApi,
    config: &ZoomChannelConfig,
    event: &Event,
    message: InboundMessage,
) -> InboundMessage {
    match event.event.as_str() {
        summary::SUMMARY_COMPLETED => summary::enrich(api, event, message).await,
        transcript::TRANSCRIPT_COMPLETED | "recording.completed" => {
            transcript::enrich(api, config, event, message).await
        }
        _ => message,
    }
}
