//! A keyed send that another process began and did not finish (it stopped
//! between posting and recording the result): which of its parts Zoom
//! already has, read from the conversation's history, so they are not
//! posted twice. Zoom's send API has no idempotency key; its history is the
//! only record of what went out.

use zoom_wire::ListedChatMessage;

use crate::{catchup, channel::Inner, config::SendAs, conversation::Target, outbound::now_ms};

/// Slack before the send's recorded start (clocks, the second Zoom's range
/// is floored to).
const SLACK_MS: i64 = 2_000;
/// Messages listed at most.
const MAX_LISTED: usize = 1_000;

impl Inner {
    /// Zoom ids of the leading `parts` that we posted to `target` since
    /// `since_ms`, in order. Empty when none is there, and when the history
    /// cannot be read (a chatbot cannot list it; a failed listing): the
    /// send then posts every part, so a reply may appear twice but is never
    /// lost.
    pub(crate) async fn find_posted(
        &self,
        target: &Target,
        parts: &[impl AsRef<str>],
        since_ms: i64,
    ) -> Vec<String> {
        let SendAs::User { sender } = &self.config.send_as else {
            tracing::warn!(
                "a chatbot cannot list Team Chat history: the interrupted reply is posted again"
            );
            return Vec::new();
        };
        let own_ids = self.own_ids();
        let from = since_ms.saturating_sub(SLACK_MS);
        match catchup::list(
            &self.api,
            sender,
            &catchup::history_target(target),
            from,
            now_ms(),
            MAX_LISTED,
            |m| catchup::sent_by(m, &own_ids),
        )
        .await
        {
            Ok((mut listed, _)) => {
                listed.sort_by_key(|m| m.timestamp.unwrap_or(0));
                let found = leading_parts(&listed, parts);
                tracing::info!(
                    found = found.len(),
                    parts = parts.len(),
                    "an interrupted reply: parts already on Zoom are not posted again"
                );
                found
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the conversation to resume an interrupted reply; posting it again");
                Vec::new()
            }
        }
    }
}

/// The ids of the first run of `listed` (oldest first) that posts `parts`
/// in order, as far as it goes.
fn leading_parts(listed: &[ListedChatMessage], parts: &[impl AsRef<str>]) -> Vec<String> {
    let same = |m: &ListedChatMessage, part: &dyn AsRef<str>| {
        m.message.as_deref().map(str::trim) == Some(part.as_ref().trim())
    };
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    let Some(start) = listed.iter().position(|m| same(m, first)) else {
        return Vec::new();
    };
    listed[start..]
        .iter()
        .zip(parts)
        .take_while(|(m, part)| same(m, *part))
        .map(|(m, _)| m.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, text: &str) -> ListedChatMessage {
        ListedChatMessage {
            id: id.into(),
            message: Some(text.into()),
            ..ListedChatMessage::default()
        }
    }

    #[test]
    fn finds_the_parts_posted_in_order_and_stops_at_the_first_gap() {
        let parts: Vec<String> = ["one", "two", "three"].map(String::from).to_vec();
        let history = [
            listed("x", "something else"),
            listed("a", "one"),
            listed("b", " two\n"),
            listed("y", "not three"),
        ];
        assert_eq!(leading_parts(&history, &parts), ["a", "b"]);
        let all = [listed("a", "one"), listed("b", "two"), listed("c", "three")];
        assert_eq!(leading_parts(&all, &parts), ["a", "b", "c"]);
        assert!(leading_parts(&[listed("b", "two")], &parts).is_empty());
        assert!(leading_parts(&[], &parts).is_empty());
        assert!(leading_parts(&all, &[] as &[&str]).is_empty());
    }
}
