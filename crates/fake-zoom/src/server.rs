//! The [`FakeZoom`] handle and its router.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::records::now_ms;
use crate::state::{Shared, State as Inner};
use crate::{
    FakeConfig, FakeError, Knobs, RecordedRequest, SentChatMessage, SentChatbotMessage, Stats,
    chat_ops, control, history, oauth, rest, summary, transcripts, webhook, ws,
};

/// A running fake Zoom; a cheap-to-clone handle.
///
/// The server stops on [`FakeZoom::shutdown`]; it is not stopped when handles drop.
#[derive(Clone)]
pub struct FakeZoom {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeZoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeZoom")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// Records every non-control request (path only: no query, so no tokens).
async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    if !path.starts_with("/_fake/") {
        let status = resp.status().as_u16();
        tracing::debug!(%method, %path, status, "request");
        shared.lock().requests.push(RecordedRequest {
            method,
            path,
            status,
            at_ms: now_ms(),
        });
        shared.changed();
    }
    resp
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/ws", get(ws::upgrade))
        .route(
            "/v2/chat/users/{user_id}/messages",
            post(rest::send_chat).get(history::list),
        )
        .route("/v2/im/chat/messages", post(rest::send_chatbot))
        .route("/v2/users/{user_id}", get(rest::get_user))
        .route("/v2/meetings/{uuid}/meeting_summary", get(summary::get))
        .route("/rec/webhook_download/{id}", get(transcripts::download))
        .route("/rec/files/{id}", get(transcripts::file))
        .route("/_fake/meeting-summaries", post(summary::control_add))
        .route(
            "/_fake/recording-files/{id}",
            post(transcripts::control_add),
        )
        .route("/v2/chat/files/{file_id}", get(chat_ops::file_info))
        .route("/file/download/{file_id}", get(chat_ops::download))
        .route(
            "/v2/chat/users/{user_id}/messages/files",
            post(chat_ops::send_file),
        )
        .route(
            "/v2/chat/users/{user_id}/messages/{message_id}/emoji_reactions",
            patch(chat_ops::react),
        )
        .route(
            "/v2/chat/users/{user_id}/messages/{message_id}",
            put(chat_ops::edit).delete(chat_ops::delete),
        )
        .route("/_fake/files", post(chat_ops::add_file))
        .route("/_fake/chat-ops", get(chat_ops::list))
        .route("/_fake/events", post(control::events))
        .route("/_fake/frames", post(control::frames))
        .route("/_fake/drop", post(control::drop_connections))
        .route("/_fake/expire-token", post(control::expire_token))
        .route(
            "/_fake/knobs",
            get(control::get_knobs).post(control::set_knobs),
        )
        .route("/_fake/team-chat", get(control::team_chat))
        .route("/_fake/chatbot", get(control::chatbot))
        .route("/_fake/requests", get(control::requests))
        .route("/_fake/stats", get(control::stats))
        .route("/_fake/reset", post(control::reset))
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

impl FakeZoom {
    /// Binds `config.listen` and serves until [`FakeZoom::shutdown`].
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeZoom> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            addr,
            state: Mutex::new(Inner::default()),
            knobs: watch::Sender::new(Knobs::default()),
            changes: watch::Sender::new(()),
            cancel: CancellationToken::new(),
        });
        let app = router(shared.clone());
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "fake zoom server stopped");
            }
        });
        tracing::info!(%addr, "fake zoom listening");
        Ok(FakeZoom { shared })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:P`: the OAuth base and the REST base.
    pub fn base_url(&self) -> String {
        self.shared.base_url()
    }

    /// `ws://127.0.0.1:P/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.shared.addr)
    }

    /// The static settings.
    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.shared.knobs()
    }

    /// Replaces the knobs.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.shared.knobs.send_replace(knobs);
    }

    /// Changes the knobs in place.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        self.shared.knobs.send_modify(f);
    }

    /// Pushes an event (webhook-format JSON) to every open, accepted connection as
    /// a `message` frame. Returns how many connections got it (0 while zombie).
    pub fn push_event(&self, event: Value) -> usize {
        self.shared.push_event(&event)
    }

    /// Pushes any text frame as-is. Returns how many connections got it.
    pub fn push_raw_text(&self, frame: String) -> usize {
        self.shared.push_raw(frame)
    }

    /// Closes every connection with `close_code`, or drops the TCP connections
    /// without a close frame when `None`.
    pub fn drop_connections(&self, close_code: Option<u16>) {
        self.shared.drop_connections(close_code);
    }

    /// Expires every token issued so far; open connections get a token-error frame
    /// (`{"module":"message","success":false,"content":"Token is invalid"}`) and close.
    pub fn expire_tokens(&self) {
        self.shared.expire_tokens();
    }

    /// `POST /oauth/token` requests so far.
    pub fn token_requests(&self) -> u64 {
        self.shared.lock().token_requests
    }

    /// WebSocket upgrades so far, accepted or not.
    pub fn ws_connects(&self) -> u64 {
        self.shared.lock().ws_connects
    }

    /// Connections currently open and accepted.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Heartbeat frames received so far.
    pub fn heartbeats_received(&self) -> u64 {
        self.shared.lock().heartbeats
    }

    /// All counters at once.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Accepted (201) Team Chat sends, in order.
    pub fn team_chat_messages(&self) -> Vec<SentChatMessage> {
        self.shared.lock().team_chat.clone()
    }

    /// Accepted (201) Chatbot sends, in order.
    pub fn chatbot_messages(&self) -> Vec<SentChatbotMessage> {
        self.shared.lock().chatbot.clone()
    }

    /// Every non-control HTTP request, in order (no query strings, so no tokens).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Clears recorded sends, requests, rate windows and counters.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Waits until at least `n` accepted connections are open.
    pub async fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.conns.len() >= n)
            .await
    }

    /// Registers a file Team Chat events can name (`files[].file_id`); returns its id.
    pub fn add_file(&self, name: &str, mime_type: Option<&str>, data: Vec<u8>) -> String {
        let id = self
            .shared
            .lock()
            .chat_ops
            .add_file(name, mime_type.map(str::to_owned), data);
        self.shared.changed();
        id
    }

    /// Files accepted by `sendChatFile`.
    pub fn sent_files(&self) -> Vec<crate::SentChatFile> {
        self.shared.lock().chat_ops.sent_files.clone()
    }

    /// Accepted reactions, edits and deletes.
    pub fn chat_ops(&self) -> Vec<crate::ChatOp> {
        self.shared.lock().chat_ops.ops.clone()
    }

    /// Waits until at least `n` files were sent.
    pub async fn wait_for_sent_files(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.chat_ops.sent_files.len() >= n)
            .await
    }

    /// Waits until at least `n` Team Chat sends were accepted.
    pub async fn wait_for_team_chat(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.team_chat.len() >= n)
            .await
    }

    /// Waits until at least `n` Chatbot sends were accepted.
    pub async fn wait_for_chatbot(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.chatbot.len() >= n)
            .await
    }

    /// Waits until at least `n` heartbeats were received.
    pub async fn wait_for_heartbeats(&self, n: u64, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.heartbeats >= n)
            .await
    }

    /// Waits until at least `n` token requests were made.
    pub async fn wait_for_token_requests(&self, n: u64, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.token_requests >= n)
            .await
    }

    /// Waits until at least `n` WebSocket upgrades were attempted.
    pub async fn wait_for_ws_connects(&self, n: u64, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.ws_connects >= n)
            .await
    }

    /// Waits until at most `n` accepted connections are open.
    pub async fn wait_for_at_most_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| st.conns.len() <= n)
            .await
    }

    /// Webhook emitter: POSTs `event` to `url` signed with `secret`
    /// (`x-zm-signature`, `x-zm-request-timestamp`), retrying on 5xx or a failed
    /// request up to `retries` times, `retry_delay` apart. Returns the last status.
    ///
    /// # Errors
    /// The last attempt could not be sent.
    pub async fn send_webhook(
        url: &str,
        secret: &str,
        event: &Value,
        retries: u32,
        retry_delay: Duration,
    ) -> Result<u16, FakeError> {
        webhook::send_webhook(url, secret, event, retries, retry_delay).await
    }

    /// Sends a signed `endpoint.url_validation` event; returns the status and the
    /// JSON answer (`null` when the answer is not JSON).
    ///
    /// # Errors
    /// The request could not be sent.
    pub async fn send_url_validation(
        url: &str,
        secret: &str,
        plain_token: &str,
    ) -> Result<(u16, Value), FakeError> {
        webhook::send_url_validation(url, secret, plain_token).await
    }

    /// Stops the server and drops every connection.
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}
