//! Shared test helpers: a fake channel, request helpers, a webhook receiver.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use bluebubbles_shim::{Backoff, Shim, ShimConfig, Store};
use http_body_util::BodyExt;
use moltbot_channel::{
    AccountStatus, CancellationToken, Capabilities, Channel, ChannelError, ChannelMeta, ChatType,
    Conversation, DeliveryMode, DeliveryResult, InboundMessage, InboundSender, MessageDelete,
    MessageEdit, OutboundMedia, OutboundMessage, Party, ProbeReport, Reaction, SendOptions,
    StartContext, inbound_channel,
};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, mpsc};
use tower::ServiceExt;

pub const PASSWORD: &str = "s3cret-pw";

/// A channel that records sends and can fail, hang or be gated.
#[derive(Default)]
pub struct FakeChannel {
    pub texts: Mutex<Vec<OutboundMessage>>,
    /// The options of each text send, in order.
    pub options: Mutex<Vec<SendOptions>>,
    pub media: Mutex<Vec<OutboundMedia>>,
    /// Errors returned by the next sends, in order.
    pub failures: Mutex<VecDeque<ChannelError>>,
    /// Never answer.
    pub hang: AtomicBool,
    /// When set, sends wait for a permit.
    pub gate: Mutex<Option<Arc<Semaphore>>>,
    /// Fires when a send has started.
    pub entered: Notify,
    pub media_unsupported: AtomicBool,
    pub next_id: AtomicU64,
    pub status: Mutex<AccountStatus>,
    /// Reactions, edits and deletes received, as `react …` / `edit …` / `unsend …`.
    pub actions: Mutex<Vec<String>>,
}

impl FakeChannel {
    async fn before_send(&self) -> Result<String, ChannelError> {
        self.entered.notify_one();
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.unwrap();
        }
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        Ok(format!(
            "zoom-msg-{}",
            self.next_id.fetch_add(1, Ordering::SeqCst) + 1
        ))
    }
}

#[async_trait]
impl Channel for FakeChannel {
    fn id(&self) -> &str {
        "zoom"
    }
    fn meta(&self) -> ChannelMeta {
        ChannelMeta {
            id: "zoom".into(),
            label: "Zoom".into(),
            selection_label: "Zoom".into(),
            blurb: "fake".into(),
            docs_path: "/".into(),
            order: 0,
        }
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            chat_types: vec![ChatType::Direct],
            media: false,
            reply: true,
            threads: true,
            reactions: false,
            edit: false,
        }
    }
    async fn start(&self, ctx: StartContext) -> Result<(), ChannelError> {
        ctx.cancel.cancelled().await;
        Ok(())
    }
    async fn send_text(&self, message: OutboundMessage) -> Result<DeliveryResult, ChannelError> {
        let id = self.before_send().await?;
        let conversation_id = message.conversation_id.clone();
        self.texts.lock().unwrap().push(message);
        Ok(DeliveryResult {
            message_id: id.clone(),
            part_ids: vec![id],
            conversation_id,
            timestamp_ms: 1_720_000_000_000,
        })
    }
    async fn send_text_with(
        &self,
        message: OutboundMessage,
        options: SendOptions,
    ) -> Result<DeliveryResult, ChannelError> {
        self.options.lock().unwrap().push(options);
        self.send_text(message).await
    }
    async fn send_media(&self, media: OutboundMedia) -> Result<DeliveryResult, ChannelError> {
        if self.media_unsupported.load(Ordering::SeqCst) {
            return Err(ChannelError::Unsupported(
                "file uploads are disabled".into(),
            ));
        }
        let id = self.before_send().await?;
        let conversation_id = media.conversation_id.clone();
        self.media.lock().unwrap().push(media);
        Ok(DeliveryResult {
            message_id: id.clone(),
            part_ids: vec![id],
            conversation_id,
            timestamp_ms: 1_720_000_000_000,
        })
    }
    async fn react(&self, r: Reaction) -> Result<(), ChannelError> {
        // Like the Zoom channel: a word that is no tapback name is refused.
        const NAMES: [&str; 6] = ["love", "like", "dislike", "laugh", "emphasize", "question"];
        if r.emoji.chars().all(|c| c.is_ascii_alphabetic()) && !NAMES.contains(&r.emoji.as_str()) {
            return Err(ChannelError::BadRequest(format!(
                "unknown reaction `{}`",
                r.emoji
            )));
        }
        self.before_send().await?;
        self.actions.lock().unwrap().push(format!(
            "react {} {} {}{}",
            r.conversation_id,
            r.message_id,
            if r.remove { "-" } else { "" },
            r.emoji
        ));
        Ok(())
    }
    async fn edit(&self, e: MessageEdit) -> Result<(), ChannelError> {
        self.before_send().await?;
        self.actions.lock().unwrap().push(format!(
            "edit {} {} {}",
            e.conversation_id, e.message_id, e.text
        ));
        Ok(())
    }
    async fn unsend(&self, d: MessageDelete) -> Result<(), ChannelError> {
        self.before_send().await?;
        self.actions
            .lock()
            .unwrap()
            .push(format!("unsend {} {}", d.conversation_id, d.message_id));
        Ok(())
    }
    async fn probe(&self) -> ProbeReport {
        ProbeReport::new(vec![])
    }
    fn status(&self) -> AccountStatus {
        self.status.lock().unwrap().clone()
    }
}

/// Defaults for tests: fast retries, quick polling, no rate limit.
pub fn config() -> ShimConfig {
    let mut c = ShimConfig::new(PASSWORD);
    c.auth_failure_limit = None;
    c.backoff = Backoff {
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
    };
    c.poll_interval = Duration::from_millis(50);
    c.delivery_timeout = Duration::from_secs(5);
    c
}

pub fn shim_with(config: ShimConfig, store: Store) -> (Shim, Arc<FakeChannel>) {
    let channel = Arc::new(FakeChannel::default());
    let shim = Shim::new(config, channel.clone(), store).unwrap();
    (shim, channel)
}

pub fn shim() -> (Shim, Arc<FakeChannel>) {
    shim_with(config(), Store::open_in_memory().unwrap())
}

/// Adds `password` to a path.
pub fn authed(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}password={PASSWORD}")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

/// One request through the router, as if from 127.0.0.1.
pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let mut req = req;
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
    }
}

pub async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post(router: &Router, uri: &str, body: Value) -> Reply {
    send(
        router,
        Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

pub async fn delete(router: &Router, uri: &str) -> Reply {
    send(router, Request::delete(uri).body(Body::empty()).unwrap()).await
}

pub fn inbound(id: &str, conv: &str, kind: ChatType, body: &str, ts: i64) -> InboundMessage {
    InboundMessage {
        message_id: id.into(),
        conversation: Conversation {
            id: conv.into(),
            kind,
            label: Some(format!("label of {conv}")),
        },
        sender: Party {
            id: "ann@example.com".into(),
            name: Some("Ann".into()),
        },
        body: body.into(),
        timestamp_ms: ts,
        reply_to_id: None,
        event_type: "chat_message.sent".into(),
        mode: DeliveryMode::Message,
        participants: vec![Party {
            id: "bob@example.com".into(),
            name: Some("Bob".into()),
        }],
        raw: None,
        mentioned: None,
        upstream_id: None,
        attachments: Vec::new(),
    }
}

/// Runs the inbound worker; returns the sender and the worker's cancel token.
pub fn start_inbound(
    shim: &Shim,
) -> (
    InboundSender,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = inbound_channel(16);
    let cancel = CancellationToken::new();
    let s = shim.clone();
    let c = cancel.clone();
    let task = tokio::spawn(async move { s.run_inbound(rx, c).await });
    (tx, cancel, task)
}

/// A unique temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("bb-shim-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("shim.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One request a webhook receiver saw.
#[derive(Debug, Clone)]
pub struct Hit {
    pub body: Value,
    pub authorization: Option<String>,
    pub x_password: Option<String>,
    pub accepted: bool,
}

/// A webhook receiver on 127.0.0.1:0 that answers 500 to the first
/// `fail_first` requests and to bodies whose chat GUID is in `reject`.
pub struct Receiver {
    pub url: String,
    pub hits: mpsc::UnboundedReceiver<Hit>,
    pub reject: Arc<Mutex<Vec<String>>>,
    pub cancel: CancellationToken,
}

pub async fn receiver(fail_first: usize) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, hits) = mpsc::unbounded_channel();
    let reject: Arc<Mutex<Vec<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let r = reject.clone();
    let app = Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let tx = tx.clone();
            let r = r.clone();
            let count = count.clone();
            async move {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let chat = body["data"]["chats"][0]["guid"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let n = count.fetch_add(1, Ordering::SeqCst);
                let accepted = n >= fail_first && !r.lock().unwrap().contains(&chat);
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                let _ = tx.send(Hit {
                    body,
                    authorization: header("authorization"),
                    x_password: header("x-password"),
                    accepted,
                });
                if accepted {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        }),
    );
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(c.cancelled_owned())
            .await
            .unwrap();
    });
    Receiver {
        url: format!("http://{addr}/hook?password=hook-pw"),
        hits,
        reject,
        cancel,
    }
}

impl Receiver {
    /// The URL without its `?password=` query.
    pub fn plain_url(&self) -> String {
        self.url.split('?').next().unwrap().to_owned()
    }

    /// Waits (bounded) for the next hit.
    pub async fn next(&mut self) -> Hit {
        tokio::time::timeout(Duration::from_secs(10), self.hits.recv())
            .await
            .expect("webhook receiver timed out")
            .expect("receiver closed")
    }

    /// Waits for `n` accepted hits; returns them and every failed one seen.
    pub async fn accepted(&mut self, n: usize) -> (Vec<Hit>, Vec<Hit>) {
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        while ok.len() < n {
            let hit = self.next().await;
            if hit.accepted {
                ok.push(hit);
            } else {
                failed.push(hit);
            }
        }
        (ok, failed)
    }
}

/// Polls `cond` every 10 ms for up to 10 s.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut cond: F) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
