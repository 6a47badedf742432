//! Sending: target resolution, splitting, client-side rate limits, 429 retries.

use std::time::Duration;

use moltbot_channel::{ChannelError, DeliveryResult};
use tokio::time::Instant;
use zoom::ZoomError;
use zoom_wire::{ChatbotContent, ChatbotMessage, SendChatMessage};

use crate::{
    channel::Inner,
    config::SendAs,
    conversation::{Target, parse_target},
    error::channel_error,
    ratelimit::acquire,
    split::split_text,
};

/// Upper bound on attempts of one part, whatever Retry-After says.
const MAX_ATTEMPTS: u32 = 5;
/// Wait after a 429 without Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Inner {
    /// Sends `text` to `conversation_id`, split at Zoom's limit, in order.
    pub(crate) async fn send(
        &self,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
    ) -> Result<DeliveryResult, ChannelError> {
        let result = self.send_parts(conversation_id, text, reply_to_id).await;
        let mut state = self.lock();
        match &result {
            Ok(r) => state.counters.sent += r.part_ids.len() as u64,
            Err(e) => {
                state.counters.send_failures += 1;
                state.last_error = Some(format!("send to {conversation_id}: {e}"));
            }
        }
        result
    }

    async fn send_parts(
        &self,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
    ) -> Result<DeliveryResult, ChannelError> {
        if text.trim().is_empty() {
            return Err(ChannelError::BadRequest("the message text is empty".into()));
        }
        let target = parse_target(conversation_id, self.config.default_target.as_deref())?;
        self.config.validate()?;
        let thread = reply_to_id.and_then(|r| self.thread_root(r));
        let deadline = Instant::now() + self.config.max_rate_limit_wait;
        let mut part_ids = Vec::new();
        for part in split_text(text, SendChatMessage::MAX_CHARS) {
            let key = target.key();
            let taken = acquire(&self.limiter, &key, deadline).await?;
            let posted = self
                .post_with_retry(&target, part, thread.as_deref(), deadline)
                .await;
            self.limiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .settle(&key, taken, Instant::now());
            part_ids.push(posted?);
        }
        Ok(DeliveryResult {
            message_id: part_ids[0].clone(),
            part_ids,
            conversation_id: conversation_id.to_owned(),
            timestamp_ms: now_ms(),
        })
    }

    /// The Zoom thread root for a reply id: our event message ids map to the
    /// Zoom message they came from; anything else is taken as a Zoom id.
    fn thread_root(&self, reply_to_id: &str) -> Option<String> {
        if !reply_to_id.starts_with("zoom-ev-") {
            return Some(reply_to_id.to_owned());
        }
        let root = self.lock().thread_roots.get(reply_to_id).cloned();
        if root.is_none() {
            tracing::warn!(reply_to_id, "unknown reply target; sending unthreaded");
        }
        root
    }

    /// Posts one part, honouring 429 Retry-After within the deadline.
    async fn post_with_retry(
        &self,
        target: &Target,
        part: &str,
        thread: Option<&str>,
        deadline: Instant,
    ) -> Result<String, ChannelError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post(target, part, thread).await {
                Ok(id) => return Ok(id),
                Err(ZoomError::RateLimited { retry_after, .. }) => {
                    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                    if attempt >= MAX_ATTEMPTS || Instant::now() + wait > deadline {
                        return Err(ChannelError::RateLimited {
                            retry_after: Some(wait),
                        });
                    }
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "Zoom answered 429; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(channel_error(e)),
            }
        }
    }

    /// One POST; remembers the new id for the self-echo filter. While the
    /// request is in flight, an event from our sender with the same text in
    /// the same conversation is held until the answer tells its id (Zoom may
    /// deliver the echo before the answer).
    async fn post(
        &self,
        target: &Target,
        part: &str,
        thread: Option<&str>,
    ) -> Result<String, ZoomError> {
        let token = self.lock().in_flight.begin(target.key(), part);
        // Ends the in-flight record even when this future is dropped.
        let _in_flight = InFlightGuard { inner: self, token };
        let result = match &self.config.send_as {
            SendAs::User { sender } => {
                let (to_channel, to_contact) = match target {
                    Target::Channel(c) => (Some(c.clone()), None),
                    Target::Contact(c) => (None, Some(c.clone())),
                };
                let body = SendChatMessage {
                    message: part.to_owned(),
                    to_channel,
                    to_contact,
                    reply_main_message_id: thread.map(str::to_owned),
                };
                self.api
                    .send_chat_message(sender, &body)
                    .await
                    .map(|r| r.id)
            }
            SendAs::Chatbot {
                robot_jid,
                account_id,
            } => {
                let (to_jid, user_jid) = match target {
                    Target::Channel(c) => (c.clone(), None),
                    Target::Contact(c) => (c.clone(), Some(c.clone())),
                };
                let body = ChatbotMessage {
                    robot_jid: robot_jid.clone(),
                    to_jid,
                    account_id: account_id.clone(),
                    user_jid,
                    content: ChatbotContent::text(part),
                    reply_to: thread.map(str::to_owned),
                    is_markdown_support: None,
                };
                self.api
                    .send_chatbot_message(&body)
                    .await
                    .map(|r| r.message_id)
            }
        };
        if let Ok(id) = &result {
            // Before the guard wakes the holders, so they find the id.
            self.lock().sent.insert(id);
        }
        result
    }
}

/// Ends a post's in-flight record when dropped.
struct InFlightGuard<'a> {
    inner: &'a Inner,
    token: u64,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.inner.lock().in_flight.finish(self.token);
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
