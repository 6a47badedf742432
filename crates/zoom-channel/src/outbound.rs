//! Sending: target resolution, splitting, one queue per target, Zoom's
//! windows checked for the whole reply before its first part, 429 retries,
//! and idempotent resumption per caller key.

use std::time::Duration;

use moltbot_channel::{ChannelError, DeliveryResult, SendOptions};
use tokio::time::Instant;
use zoom::ZoomError;
use zoom_wire::{ChatbotContent, ChatbotMessage, SendChatMessage};

use crate::{
    channel::Inner,
    config::SendAs,
    conversation::{Target, parse_target},
    error::channel_error,
    ledger::Resume,
    markdown,
    ratelimit::acquire,
    split::split_markdown,
};

/// Upper bound on attempts of one part, whatever Retry-After says.
const MAX_ATTEMPTS: u32 = 5;
/// Wait after a 429 without Retry-After.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Slack past the plan for the window waits of a reply already started (a
/// post's latency moves its slot a little later than planned).
const PLAN_SLACK: Duration = Duration::from_secs(2);

impl Inner {
    /// Sends `text` to `conversation_id`, split at Zoom's limit, in order:
    /// all parts or, from the caller's point of view, none (see
    /// [`SendOptions`]).
    pub(crate) async fn send(
        &self,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        let result = self
            .send_parts(conversation_id, text, reply_to_id, options)
            .await;
        if let Err(e) = &result {
            let mut state = self.lock();
            state.counters.send_failures += 1;
            state.last_error = Some(format!("send to {conversation_id}: {e}"));
        }
        result
    }

    async fn send_parts(
        &self,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
        options: &SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        if text.trim().is_empty() {
            return Err(ChannelError::BadRequest("the message text is empty".into()));
        }
        let target = parse_target(conversation_id, self.config.default_target.as_deref())?;
        self.config.validate()?;
        let max_wait = options.max_wait.unwrap_or(self.config.max_rate_limit_wait);
        let deadline = Instant::now() + max_wait;
        let key = target.key();
        let send = async {
            // The chatbot's messages render Zoom's markdown: rewritten before the
            // split, so each part stays within the limit.
            let rendered = match self.config.send_as {
                SendAs::Chatbot { .. } => std::borrow::Cow::Owned(markdown::to_chatbot(text)),
                SendAs::User { .. } => std::borrow::Cow::Borrowed(text),
            };
            let parts = split_markdown(&rendered, SendChatMessage::MAX_CHARS);
            let posted = match &options.idempotency_key {
                Some(k) => {
                    if let Some(since_ms) = options.interrupted_since_ms {
                        if !self.ledger().knows(k) {
                            let found = self.find_posted(&target, &parts, since_ms).await;
                            self.ledger()
                                .adopt(k, conversation_id, text, reply_to_id, found);
                        }
                    }
                    match self
                        .ledger()
                        .resume(k, conversation_id, text, reply_to_id)?
                    {
                        Resume::Done(result) => return Ok(result),
                        Resume::From(posted) => posted,
                    }
                }
                None => Vec::new(),
            };
            let rest = parts.get(posted.len()..).unwrap_or_default();
            let windowed = self.windows_apply(&target);
            let deadline = if windowed {
                self.check_windows(&key, rest.len(), deadline, max_wait)?
            } else {
                deadline
            };
            let thread = reply_to_id.and_then(Self::thread_root);
            let mut part_ids = posted;
            for part in rest {
                let taken = if windowed {
                    Some(acquire(&self.limiter, &key, deadline).await?)
                } else {
                    None
                };
                let posted = self
                    .post_with_retry(&target, part, thread.as_deref(), deadline)
                    .await;
                if let Some(taken) = taken {
                    self.limiter
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .settle(&key, taken, Instant::now());
                }
                let id = posted?;
                if let Some(k) = &options.idempotency_key {
                    self.ledger().posted(k, &id);
                }
                part_ids.push(id);
            }
            let result = DeliveryResult {
                message_id: part_ids.first().cloned().unwrap_or_default(),
                part_ids,
                conversation_id: conversation_id.to_owned(),
                timestamp_ms: now_ms(),
            };
            if let Some(k) = &options.idempotency_key {
                self.ledger().done(k, &result);
            }
            Ok(result)
        };
        // One send at a time per target, in arrival order.
        self.lanes.run(&key, deadline, send).await
    }

    /// Zoom applies its per-channel windows to Team Chat posts to a channel
    /// (`to_channel`); none are documented for DMs or the Chatbot API.
    fn windows_apply(&self, target: &Target) -> bool {
        matches!(self.config.send_as, SendAs::User { .. }) && matches!(target, Target::Channel(_))
    }

    /// Checks that `parts` posts to `key` fit the windows by `deadline`;
    /// returns the deadline for their window waits.
    ///
    /// # Errors
    /// [`ChannelError::RateLimited`] when they would fit only later (nothing
    /// is posted), [`ChannelError::BadRequest`] when they cannot fit within
    /// `max_wait` even with empty windows.
    fn check_windows(
        &self,
        key: &str,
        parts: usize,
        deadline: Instant,
        max_wait: Duration,
    ) -> Result<Instant, ChannelError> {
        let now = Instant::now();
        let (last, from_empty) = self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .plan(key, parts, now);
        if from_empty.saturating_duration_since(now) > max_wait {
            return Err(ChannelError::BadRequest(format!(
                "the reply needs {parts} posts; Zoom's per-channel limits let them go only over \
                 {} s, more than the send may wait ({} s); shorten it",
                (from_empty - now).as_secs(),
                max_wait.as_secs()
            )));
        }
        if last > deadline {
            tracing::info!(
                key,
                parts,
                "the reply does not fit Zoom's windows in time; nothing posted"
            );
            return Err(ChannelError::RateLimited {
                retry_after: Some(last - deadline),
            });
        }
        Ok(deadline.max(last + PLAN_SLACK))
    }

    /// The Zoom thread root for a reply id. The shim passes Zoom's ids (it
    /// resolves our `zoom-ev-` ids from its store); one of ours that reaches
    /// here was not stored, so its Zoom id is unknown.
    pub(crate) fn thread_root(reply_to_id: &str) -> Option<String> {
        if reply_to_id.starts_with("zoom-ev-") {
            tracing::warn!(reply_to_id, "unknown reply target; sending unthreaded");
            return None;
        }
        Some(reply_to_id.to_owned())
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
                    // The agent writes markdown; Zoom renders it only when asked.
                    is_markdown_support: Some(true),
                };
                self.api
                    .send_chatbot_message(&body)
                    .await
                    .map(|r| r.message_id)
            }
        };
        if let Ok(id) = &result {
            // Before the guard wakes the holders, so they find the id.
            let mut state = self.lock();
            state.sent.insert(id);
            state.counters.sent += 1;
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
