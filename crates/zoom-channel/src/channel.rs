//! `ZoomChannel`: Zoom events in (WebSocket session or webhooks), Team Chat /
//! Chatbot out.

use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use moltbot_channel::{
    AccountStatus, CancellationToken, Capabilities, Channel, ChannelError, ChannelMeta, ChatType,
    ConnectionState, Counters, DeliveryResult, InboundMessage, MediaSource, MessageDelete,
    MessageEdit, OutboundMedia, OutboundMessage, ProbeCheck, ProbeReport, QueueStatus, Reaction,
    SendOptions, StartContext,
};
use tokio::sync::{mpsc, watch};
use zoom::{
    ReceivedEvent, Session, SessionConfig, SessionStatus, TokenProvider, WebhookDelivery, ZoomApi,
};

use crate::{
    catchup,
    config::{SendAs, ZoomChannelConfig},
    dedup::Recent,
    echo::{InFlight, OwnSender, Verdict, wait_for_answers},
    enrich,
    error::channel_error,
    ledger::{LEDGER_CAPACITY, Ledger},
    outbound::now_ms,
    ratelimit::{Lanes, RateLimiter, ZOOM_CHANNEL_WINDOWS},
    render::{ChatFacts, Rendered, Renderer, chat_facts},
};

/// Zoom as a Moltbot channel. Cheap to clone; clones share all state.
#[derive(Clone)]
pub struct ZoomChannel {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ZoomChannelConfig,
    renderer: Renderer,
    /// Our sender or robot JID, as events name it.
    own_sender: OwnSender,
    source: Source,
    tokens: TokenProvider,
    pub(crate) api: ZoomApi,
    state: Mutex<State>,
    pub(crate) limiter: Mutex<RateLimiter>,
    /// One send at a time per target.
    pub(crate) lanes: Lanes,
    /// Progress of keyed (idempotent) sends.
    ledger: Mutex<Ledger>,
    session: Mutex<Option<SessionHandle>>,
    /// Last-seen marks for catch-up after a gap.
    marks: catchup::Marks,
}

/// What the channel observes of the running session: its status and its
/// event queue (weakly, so the queue still closes when the session ends).
struct SessionHandle {
    status: watch::Receiver<SessionStatus>,
    queue: mpsc::WeakSender<ReceivedEvent>,
}

/// Why an event yielded no message: handling it failed (logged, counted).
struct EventFailed;

/// Where events come from.
enum Source {
    /// A WebSocket [`Session`] built at each start.
    Session(Box<SessionConfig>),
    /// A webhook receiver's deliveries; taken while a start runs.
    Webhook(Mutex<Option<mpsc::Receiver<WebhookDelivery>>>),
}

/// Mutable state; the lock is never held across an await.
pub(crate) struct State {
    /// Message ids already emitted (dedup).
    seen: Recent,
    /// Zoom ids of messages we posted (self-echo).
    pub(crate) sent: Recent,
    /// Posts whose answer is not in yet (their echo may beat the answer).
    pub(crate) in_flight: InFlight,
    pub(crate) counters: Counters,
    /// Webhook mode's connection (the session reports its own).
    connection: ConnectionState,
    connected_since_ms: Option<i64>,
    last_event_at_ms: Option<i64>,
    last_event_lag_ms: Option<i64>,
    pub(crate) last_error: Option<String>,
}

/// Takes a Team Chat message that is not our echo: it carries its Zoom id,
/// which the store keeps with it (reactions, edits and threaded replies to it
/// are resolved there, across restarts).
fn adopt(mut message: InboundMessage, facts: ChatFacts) -> InboundMessage {
    message.upstream_id = Some(facts.message_id);
    message
}

impl ZoomChannel {
    /// A channel that receives through a [`Session`] built from `session` and
    /// `tokens`, and sends through `api`.
    pub fn new(
        config: ZoomChannelConfig,
        session: SessionConfig,
        tokens: TokenProvider,
        api: ZoomApi,
    ) -> Self {
        Self::with_source(config, Source::Session(Box::new(session)), tokens, api)
    }

    /// A channel that receives the deliveries of a
    /// [`webhook_router`](zoom::webhook_router) and sends through `api`. Each
    /// delivery is acked once the inbound consumer acks its message, or at once
    /// when it yields none (filtered, duplicate, own echo); when the consumer
    /// fails it, the delivery is dropped unacked so Zoom retries.
    pub fn new_webhook(
        config: ZoomChannelConfig,
        receiver: mpsc::Receiver<WebhookDelivery>,
        tokens: TokenProvider,
        api: ZoomApi,
    ) -> Self {
        let source = Source::Webhook(Mutex::new(Some(receiver)));
        Self::with_source(config, source, tokens, api)
    }

    fn with_source(
        config: ZoomChannelConfig,
        source: Source,
        tokens: TokenProvider,
        api: ZoomApi,
    ) -> Self {
        let capacity = config.dedup_capacity;
        let config_catchup_state = config.catchup_state.clone();
        Self {
            inner: Arc::new(Inner {
                renderer: Renderer::new(&config),
                own_sender: OwnSender::new(match &config.send_as {
                    SendAs::User { sender } => sender,
                    SendAs::Chatbot { robot_jid, .. } => robot_jid,
                }),
                config,
                source,
                tokens,
                api,
                state: Mutex::new(State {
                    seen: Recent::new(capacity),
                    sent: Recent::new(capacity),
                    in_flight: InFlight::default(),
                    counters: Counters::default(),
                    connection: ConnectionState::Idle,
                    connected_since_ms: None,
                    last_event_at_ms: None,
                    last_event_lag_ms: None,
                    last_error: None,
                }),
                limiter: Mutex::new(RateLimiter::new(&ZOOM_CHANNEL_WINDOWS)),
                lanes: Lanes::default(),
                ledger: Mutex::new(Ledger::new(LEDGER_CAPACITY)),
                session: Mutex::new(None),
                marks: catchup::Marks::load(config_catchup_state),
            }),
        }
    }

    /// The channel's configuration.
    pub fn config(&self) -> &ZoomChannelConfig {
        &self.inner.config
    }

    /// Sends on a task of its own, so a caller that stops waiting (a timeout)
    /// does not cut a multi-part reply short; a retry with the same key then
    /// finds its outcome.
    async fn spawn_send(
        &self,
        conversation_id: String,
        text: String,
        reply_to_id: Option<String>,
        options: SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            inner
                .send(&conversation_id, &text, reply_to_id.as_deref(), &options)
                .await
        });
        task.await.unwrap_or_else(|join| {
            Err(ChannelError::Upstream {
                status: 0,
                code: 0,
                message: format!("send task failed: {join}"),
            })
        })
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Who our own posts come from: `self_ids` and the Team Chat sender.
    pub(crate) fn own_ids(&self) -> Vec<String> {
        let mut own_ids = self.config.self_ids.clone();
        if let SendAs::User { sender } = &self.config.send_as {
            own_ids.push(sender.clone());
        }
        own_ids
    }

    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`Inner::accept_rendered`], then the meeting content Zoom holds beyond
    /// the event (summary, transcript).
    async fn accept(
        &self,
        received: &ReceivedEvent,
    ) -> Result<Option<InboundMessage>, EventFailed> {
        self.marks.note_event(received.received_at_ms);
        let Some(message) = self.accept_rendered(received).await? else {
            return Ok(None);
        };
        if let Some(facts) = chat_facts(&received.event) {
            let sent_ms = received
                .event
                .object()
                .and_then(|o| o.get("timestamp"))
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(message.timestamp_ms);
            self.marks.note_chat(&message, sent_ms, &facts.message_id);
        }
        Ok(Some(
            enrich::apply(&self.api, &self.config, &received.event, message).await,
        ))
    }

    /// Recovers what a connection gap `from_ms..to_ms` lost: missed Team Chat
    /// messages through the usual pipeline, then a notice in the feed.
    async fn catch_up(
        &self,
        from_ms: i64,
        to_ms: i64,
        inbound: &moltbot_channel::InboundSender,
    ) -> Result<(), ChannelError> {
        let user = match &self.config.send_as {
            SendAs::User { sender } => Some(sender.as_str()),
            SendAs::Chatbot { .. } => None,
        };
        let own_ids = self.own_ids();
        let limits = catchup::Limits {
            per_conversation: self.config.catchup_max_per_conversation,
            total: self.config.catchup_max_total,
        };
        let recovery =
            catchup::recover(&self.api, &self.marks, user, &own_ids, limits, to_ms).await;
        let mut recovered = 0;
        for event in &recovery.events {
            let received = ReceivedEvent {
                event: event.clone(),
                raw_content: String::new(),
                received_at_ms: now_ms(),
                connection_id: 0,
            };
            let Ok(Some(message)) = self.accept(&received).await else {
                continue;
            };
            inbound.send(message).await?;
            recovered += 1;
            self.lock().counters.messages_emitted += 1;
        }
        let notice = catchup::notice(from_ms, to_ms, recovered, &recovery);
        tracing::warn!(
            from_ms,
            to_ms,
            recovered,
            "connection gap: events may be missing"
        );
        inbound.send(notice).await?;
        self.marks.save();
        let mut state = self.lock();
        state.counters.gaps += 1;
        state.counters.messages_recovered += recovered;
        state.counters.messages_emitted += 1;
        Ok(())
    }

    /// Render → dedup → self-echo; the message to emit, if any. A possible
    /// echo of a post in flight is held until that post's answer is in.
    async fn accept_rendered(
        &self,
        received: &ReceivedEvent,
    ) -> Result<Option<InboundMessage>, EventFailed> {
        let Some((message, verdict)) = self.classify_guarded(received)? else {
            return Ok(None);
        };
        let Verdict::Hold(posts) = verdict else {
            return Ok(Some(message));
        };
        wait_for_answers(posts).await;
        let Some(facts) = chat_facts(&received.event) else {
            return Ok(Some(message));
        };
        let mut state = self.lock();
        if state.sent.contains(&facts.message_id) {
            tracing::debug!(event = %received.event.event, "own message echo dropped after its answer");
            state.counters.filtered += 1;
            return Ok(None);
        }
        Ok(Some(adopt(message, facts)))
    }

    /// [`Inner::classify`] behind the event boundary: a panic while handling
    /// one event (a rendering bug, a hostile payload) is caught, logged at
    /// ERROR and counted in `events_failed`; the pipeline goes on with the
    /// next event.
    fn classify_guarded(
        &self,
        received: &ReceivedEvent,
    ) -> Result<Option<(InboundMessage, Verdict)>, EventFailed> {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.classify(received))).map_err(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let event = &received.event;
            tracing::error!(
                event = %event.event,
                event_ts = ?event.event_ts,
                connection = received.connection_id,
                bytes = received.raw_content.len(),
                panic = %why,
                "handling a Zoom event failed; the event is dropped and the next one goes on"
            );
            self.lock().counters.events_failed += 1;
            EventFailed
        })
    }

    /// The synchronous part of [`Inner::accept`]: renders, counts, drops
    /// filtered events, duplicates and certain echoes.
    fn classify(&self, received: &ReceivedEvent) -> Option<(InboundMessage, Verdict)> {
        let event = &received.event;
        #[cfg(test)]
        tests::panic_hook(event);
        let (rendered, decoded) = self.renderer.render_decoded(event, received.received_at_ms);
        let mut state = self.lock();
        state.counters.events_received += 1;
        state.last_event_at_ms = Some(received.received_at_ms);
        state.last_event_lag_ms = event
            .event_ts
            .map(|ts| received.received_at_ms.saturating_sub(ts));
        if !decoded {
            state.counters.malformed += 1;
            tracing::warn!(event = %event.event, "event payload did not decode; rendered generically");
        }
        let message = match rendered {
            Rendered::Message(m) => m,
            Rendered::Skipped { reason } => {
                tracing::debug!(event = %event.event, %reason, "event skipped");
                state.counters.filtered += 1;
                return None;
            }
        };
        if !state.seen.insert(&message.message_id) {
            tracing::debug!(id = %message.message_id, "duplicate event dropped");
            state.counters.duplicates_dropped += 1;
            return None;
        }
        let Some(facts) = chat_facts(event) else {
            return Some((message, Verdict::NotOurs));
        };
        let verdict = if state.sent.contains(&facts.message_id)
            || facts.operators.iter().any(|op| {
                self.config
                    .self_ids
                    .iter()
                    .any(|own| own.eq_ignore_ascii_case(op))
            }) {
            Verdict::Ours
        } else {
            let held = match &facts.text {
                Some(text) if self.own_sender.may_have_sent(&facts) => {
                    state.in_flight.matching(&facts.targets, text)
                }
                _ => Vec::new(),
            };
            if held.is_empty() {
                Verdict::NotOurs
            } else {
                Verdict::Hold(held)
            }
        };
        match verdict {
            Verdict::Ours => {
                tracing::debug!(event = %event.event, "own message echo dropped");
                state.counters.filtered += 1;
                None
            }
            Verdict::NotOurs => Some((adopt(message, facts), Verdict::NotOurs)),
            hold @ Verdict::Hold(_) => {
                tracing::debug!(event = %event.event, "possible own echo held until its post is answered");
                Some((message, hold))
            }
        }
    }

    /// Receives through a fresh [`Session`] until cancelled or the consumer is gone.
    async fn run_session(
        &self,
        session: &SessionConfig,
        ctx: StartContext,
    ) -> Result<(), ChannelError> {
        let (tx, mut rx) = mpsc::channel(session.queue_capacity.max(1));
        let session = Session::new(session.clone(), self.tokens.clone());
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(SessionHandle {
            status: session.status(),
            queue: tx.downgrade(),
        });
        let stop: CancellationToken = ctx.cancel.child_token();
        let mut status = session.status();
        let mut gaps = catchup::GapWatch::new(self.marks.last_event_ms());
        let run = tokio::spawn(session.run(tx, stop.clone()));
        let mut outcome = Ok(());
        let mut flush = tokio::time::interval(catchup::SAVE_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let received = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                _ = flush.tick() => {
                    self.marks.flush();
                    continue;
                }
                Ok(()) = status.changed() => {
                    let now = status.borrow_and_update().clone();
                    let Some((from, to)) = gaps.observe(&now, self.marks.last_event_ms(), now_ms()) else {
                        continue;
                    };
                    if let Err(e) = self.catch_up(from, to, &ctx.inbound).await {
                        tracing::warn!("inbound consumer is gone; stopping");
                        outcome = Err(e);
                        break;
                    }
                    continue;
                }
                r = rx.recv() => r,
            };
            let Some(received) = received else { break };
            let Ok(Some(message)) = self.accept(&received).await else {
                continue;
            };
            let message = self.attach_files(&received.event, message).await;
            let sent = tokio::select! {
                r = ctx.inbound.send(message) => r,
                () = stop.cancelled() => break,
            };
            if let Err(e) = sent {
                tracing::warn!("inbound consumer is gone; stopping");
                outcome = Err(e);
                break;
            }
            self.lock().counters.messages_emitted += 1;
        }
        stop.cancel();
        drop(rx);
        self.marks.save();
        match run.await {
            Ok(Ok(())) => outcome,
            Ok(Err(e)) => Err(self.fatal(e)),
            Err(join) => Err(ChannelError::Upstream {
                status: 0,
                code: 0,
                message: format!("session task failed: {join}"),
            }),
        }
    }

    /// Receives webhook deliveries until cancelled or the receiver closes; acks
    /// each once the consumer has acked its message (or it yields none).
    async fn run_webhook(
        &self,
        rx: &mut mpsc::Receiver<WebhookDelivery>,
        ctx: StartContext,
    ) -> Result<(), ChannelError> {
        {
            let mut state = self.lock();
            state.connection = ConnectionState::Connected;
            state.connected_since_ms = Some(now_ms());
            state.counters.connects += 1;
        }
        while let Some(delivery) = tokio::select! {
            d = rx.recv() => d,
            () = ctx.cancel.cancelled() => None,
        } {
            let message = match self.accept(&delivery.event).await {
                Ok(Some(message)) => self.attach_files(&delivery.event.event, message).await,
                Ok(None) => {
                    delivery.ack();
                    continue;
                }
                Err(EventFailed) => {
                    delivery.reject();
                    continue;
                }
            };
            let id = message.message_id.clone();
            let sent = tokio::select! {
                r = ctx.inbound.send_acked(message) => r,
                () = ctx.cancel.cancelled() => Err(ChannelError::Closed),
            };
            if sent.is_ok() {
                delivery.ack();
                self.lock().counters.messages_emitted += 1;
            } else {
                // Unacked, Zoom retries; the retry must not count as a duplicate.
                if !ctx.cancel.is_cancelled() {
                    tracing::warn!(%id, "inbound consumer did not accept the event; Zoom will retry");
                }
                self.lock().seen.remove(&id);
            }
        }
        let mut state = self.lock();
        state.connection = ConnectionState::Stopped;
        state.connected_since_ms = None;
        Ok(())
    }

    fn fatal(&self, err: zoom::ZoomError) -> ChannelError {
        let err = channel_error(err);
        self.lock().last_error = Some(err.to_string());
        err
    }
}

#[async_trait]
impl Channel for ZoomChannel {
    fn id(&self) -> &str {
        "zoom"
    }

    fn meta(&self) -> ChannelMeta {
        ChannelMeta {
            id: "zoom".into(),
            label: "Zoom".into(),
            selection_label: "Zoom (Team Chat)".into(),
            blurb: "Zoom meeting, recording and Team Chat events; replies in Team Chat.".into(),
            docs_path: "/channels/zoom".into(),
            order: 100,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            chat_types: vec![ChatType::Direct, ChatType::Group, ChatType::Channel],
            media: true,
            reply: true,
            threads: true,
            reactions: matches!(self.inner.config.send_as, SendAs::User { .. }),
            edit: matches!(self.inner.config.send_as, SendAs::User { .. }),
        }
    }

    async fn start(&self, ctx: StartContext) -> Result<(), ChannelError> {
        let inner = &self.inner;
        match &inner.source {
            Source::Session(session) => inner.run_session(session, ctx).await,
            Source::Webhook(slot) => {
                let taken = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                let Some(mut rx) = taken else {
                    return Err(ChannelError::Unsupported(
                        "this webhook channel is already running; start it once".into(),
                    ));
                };
                let outcome = inner.run_webhook(&mut rx, ctx).await;
                // Hand the receiver back so a later start resumes it.
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(rx);
                outcome
            }
        }
    }

    async fn send_text(&self, message: OutboundMessage) -> Result<DeliveryResult, ChannelError> {
        self.send_text_with(message, SendOptions::default()).await
    }

    async fn send_text_with(
        &self,
        message: OutboundMessage,
        options: SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        self.spawn_send(
            message.conversation_id,
            message.text,
            message.reply_to_id,
            options,
        )
        .await
    }

    async fn send_media(&self, media: OutboundMedia) -> Result<DeliveryResult, ChannelError> {
        let url = match &media.media {
            MediaSource::Url { url } => url,
            MediaSource::Bytes { .. } => return self.inner.send_file(media).await,
        };
        let text = match media.caption.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(caption) => format!("{caption}\n{url}"),
            None => url.clone(),
        };
        self.spawn_send(
            media.conversation_id,
            text,
            media.reply_to_id,
            SendOptions::default(),
        )
        .await
    }

    async fn react(&self, reaction: Reaction) -> Result<(), ChannelError> {
        self.inner.react(reaction).await
    }

    async fn edit(&self, edit: MessageEdit) -> Result<(), ChannelError> {
        self.inner.edit(edit).await
    }

    async fn unsend(&self, delete: MessageDelete) -> Result<(), ChannelError> {
        self.inner.unsend(delete).await
    }

    async fn probe(&self) -> ProbeReport {
        let inner = &self.inner;
        let mut checks = Vec::new();
        let check = |name: &str, result: Result<String, String>| {
            let (ok, detail) = match result {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            ProbeCheck {
                name: name.into(),
                ok,
                detail,
            }
        };
        checks.push(check(
            "config",
            inner
                .config
                .validate()
                .map(|()| "send settings present".to_owned())
                .map_err(|e| e.to_string()),
        ));
        let token = match inner.tokens.token().await {
            Ok(t) => t,
            Err(e) => {
                checks.push(check("oauth", Err(channel_error(e).to_string())));
                return ProbeReport::new(checks);
            }
        };
        let ttl = token
            .expires_at
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs();
        checks.push(check(
            "oauth",
            Ok(format!("token obtained, valid for {ttl} s")),
        ));
        if !token.scopes.is_empty() {
            let wanted: &[&str] = match &inner.config.send_as {
                SendAs::User { .. } => &[
                    "chat_message:write",
                    "chat_message:write:admin",
                    "team_chat:write:user_message",
                    "team_chat:write:user_message:admin",
                ],
                SendAs::Chatbot { .. } => &["imchat:bot"],
            };
            let granted = wanted.iter().find(|w| token.scopes.iter().any(|s| s == *w));
            checks.push(check(
                "scopes",
                match granted {
                    Some(s) => Ok(format!("can send ({s})")),
                    None => Err(format!(
                        "the token has none of the scopes needed to send: {}",
                        wanted.join(", ")
                    )),
                },
            ));
        }
        if let SendAs::User { sender } = &inner.config.send_as {
            if !sender.is_empty() {
                let result = match inner.api.get_user(sender).await {
                    Ok(user) => Ok(format!(
                        "sender {sender} exists ({})",
                        user.get("email").and_then(|v| v.as_str()).unwrap_or(sender)
                    )),
                    Err(e) => Err(format!("sender {sender}: {}", channel_error(e))),
                };
                checks.push(check("sender", result));
            }
        }
        ProbeReport::new(checks)
    }

    fn status(&self) -> AccountStatus {
        let inner = &self.inner;
        let session = inner
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|h| (h.status.borrow().clone(), h.queue.upgrade()));
        let state = inner.lock();
        let mut counters = state.counters.clone();
        let mut queue = QueueStatus::default();
        let mut next_retry_at_ms = None;
        let (connection, connected_since_ms, last_error) = match session {
            Some((s, sender)) => {
                counters.duplicates_dropped += s.duplicates_dropped;
                counters.malformed += s.malformed_frames;
                counters.connects = s.connects;
                next_retry_at_ms = s.next_retry_at_ms;
                queue = QueueStatus {
                    depth: sender
                        .as_ref()
                        .map_or(0, |q| (q.max_capacity() - q.capacity()) as u64),
                    capacity: sender.as_ref().map_or(0, |q| q.max_capacity() as u64),
                    high_water: s.queue_high_water,
                    reading_paused: s.reading_paused,
                    pauses: s.pauses,
                };
                (
                    s.state,
                    s.connected_since_ms,
                    s.last_error.or_else(|| state.last_error.clone()),
                )
            }
            None => (
                state.connection.clone(),
                state.connected_since_ms,
                state.last_error.clone(),
            ),
        };
        AccountStatus {
            account_id: inner.config.account_id.clone(),
            connection,
            last_event_at_ms: state.last_event_at_ms,
            last_event_lag_ms: state.last_event_lag_ms,
            connected_since_ms,
            last_error,
            next_retry_at_ms,
            counters,
            queue,
        }
    }
}

#[cfg(test)]
mod tests;
