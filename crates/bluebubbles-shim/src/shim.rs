//! The shim: shared state, the router, and the three long-running tasks.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use moltbot_channel::{CancellationToken, Channel, InboundReceiver, serve_http};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::envelope::ApiError;
use crate::limit::AuthThrottle;
use crate::status::HttpMetrics;
use crate::store::{ChatRecord, MessageRecord};
use crate::webhook_post::WebhookClient;
use crate::{ShimConfig, ShimError, Store, check_webhook_url, outbox, routes};

/// The BlueBubbles server version `server/info` reports.
pub(crate) const BLUEBUBBLES_VERSION: &str = "1.9.9";

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The BlueBubbles-compatible sidecar: REST shim, conversation store and
/// webhook outbox around one [`Channel`]. Cheap to clone.
#[derive(Clone)]
pub struct Shim(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) config: ShimConfig,
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) store: Store,
    pub(crate) auth_throttle: Option<AuthThrottle>,
    pub(crate) http: HttpMetrics,
    pub(crate) client: WebhookClient,
    /// Wakes the delivery worker (new outbox entry, new webhook).
    pub(crate) wake: Notify,
    pub(crate) started: Instant,
    pub(crate) local_addr: OnceLock<SocketAddr>,
    temp_guids: Arc<Mutex<TempGuids>>,
}

impl std::fmt::Debug for Shim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim")
            .field("config", &self.0.config)
            .field("channel", &self.0.channel.id())
            .finish_non_exhaustive()
    }
}

impl Shim {
    /// Builds the shim and records the configured webhooks in the store.
    ///
    /// # Errors
    /// [`ShimError::Config`] for an invalid setting (a webhook URL that is not
    /// http(s), zero attempts, a non-positive rate); [`ShimError::Database`]
    /// when the store fails.
    pub fn new(
        config: ShimConfig,
        channel: Arc<dyn Channel>,
        store: Store,
    ) -> Result<Self, ShimError> {
        if config.max_attempts == 0 {
            return Err(ShimError::Config("max_attempts must be at least 1".into()));
        }
        if config.auth_failure_limit.is_some_and(|l| !l.is_valid()) {
            return Err(ShimError::Config(
                "auth_failure_limit needs per_second > 0 and burst >= 1".into(),
            ));
        }
        if config.listener.max_connections == 0 {
            return Err(ShimError::Config(
                "listener.max_connections must be at least 1".into(),
            ));
        }
        for url in &config.webhooks {
            check_webhook_url(url).map_err(|why| {
                ShimError::Config(format!("webhook {}: {why}", outbox::redact_url(url)))
            })?;
        }
        store.sync_config_webhooks(&config.webhooks, now_ms())?;
        let client =
            WebhookClient::new().map_err(|e| ShimError::Config(format!("HTTP client: {e}")))?;
        Ok(Self(Arc::new(Inner {
            auth_throttle: config.auth_failure_limit.map(AuthThrottle::new),
            config,
            channel,
            store,
            http: HttpMetrics::default(),
            client,
            wake: Notify::new(),
            started: Instant::now(),
            local_addr: OnceLock::new(),
            temp_guids: Arc::default(),
        })))
    }

    /// The store (for the outbox admin functions).
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The REST router, with auth, limits and logging. Requests should carry
    /// `ConnectInfo<SocketAddr>` (as [`Shim::serve`] adds) so failed
    /// authentication is throttled per client.
    pub fn router(&self) -> Router {
        routes::router(self.clone())
    }

    /// Serves the REST API on `listener` until `cancel` fires, then finishes
    /// in-flight requests. The listener is hardened (`ShimConfig::listener`):
    /// connection cap, header-read and idle timeouts, accept errors such as
    /// `EMFILE` retried.
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve(&self, listener: TcpListener, cancel: CancellationToken) -> io::Result<()> {
        let addr = listener.local_addr()?;
        let _ = self.0.local_addr.set(addr);
        tracing::info!(%addr, "BlueBubbles shim listening");
        serve_http(listener, self.router(), self.0.config.listener, cancel).await
    }

    /// Stores inbound messages from `rx` durably, acknowledging each after
    /// its transaction commits, until `rx` closes or `cancel` fires.
    pub async fn run_inbound(&self, rx: InboundReceiver, cancel: CancellationToken) {
        outbox::run_inbound(self, rx, cancel).await;
    }

    /// Delivers the outbox to the webhooks until `cancel` fires.
    pub async fn run_delivery(&self, cancel: CancellationToken) {
        outbox::run_delivery(self, cancel).await;
    }

    /// Runs the server, the inbound worker and the delivery worker until
    /// `cancel` fires (or the server fails, which stops the others).
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn run(
        &self,
        listener: TcpListener,
        rx: InboundReceiver,
        cancel: CancellationToken,
    ) -> io::Result<()> {
        let inner = cancel.child_token();
        let serve = async {
            let result = self.serve(listener, inner.clone()).await;
            inner.cancel();
            result
        };
        let (result, (), ()) = tokio::join!(
            serve,
            self.run_inbound(rx, inner.clone()),
            self.run_delivery(inner.clone())
        );
        result
    }

    /// Claims a tempGuid for a send. A send with this tempGuid in flight
    /// gets BlueBubbles' "already queued" error; one that completed returns
    /// its recorded message so a retry never posts twice. Sends without a
    /// tempGuid are not tracked.
    pub(crate) fn claim_temp_guid(
        &self,
        temp_guid: &str,
        chat_guid: &str,
    ) -> Result<Claimed, ApiError> {
        let mut map = self.0.temp_guids.lock().unwrap_or_else(|e| e.into_inner());
        match map.entries.get(temp_guid) {
            Some(None) => Err(ApiError::bad_request(format!(
                "Message is already queued to be sent! (Temp GUID: {temp_guid})"
            ))),
            Some(Some(done)) if done.chat_guid != chat_guid => Err(ApiError::bad_request(format!(
                "The Temp GUID {temp_guid} was already used for a message to another chat."
            ))),
            Some(Some(done)) => Ok(Claimed::Done(Arc::clone(&done.result))),
            None => {
                map.entries.insert(temp_guid.to_owned(), None);
                Ok(Claimed::New(TempGuidClaim {
                    map: Arc::clone(&self.0.temp_guids),
                    guid: temp_guid.to_owned(),
                    chat_guid: chat_guid.to_owned(),
                    completed: false,
                }))
            }
        }
    }
}

/// Completed sends remembered by tempGuid (the oldest are forgotten first).
const REMEMBERED_SENDS: usize = 10_000;

/// A send's result: the message as recorded and its chat.
pub(crate) type SendResult = Arc<(MessageRecord, ChatRecord)>;

/// Sends by tempGuid: in flight (`None`) or completed.
#[derive(Debug, Default)]
pub(crate) struct TempGuids {
    entries: HashMap<String, Option<Completed>>,
    completed: VecDeque<String>,
}

/// A completed send and the chat it was asked for.
#[derive(Debug)]
struct Completed {
    chat_guid: String,
    result: SendResult,
}

/// What a tempGuid claim found.
#[derive(Debug)]
pub(crate) enum Claimed {
    /// First send with this tempGuid: go ahead.
    New(TempGuidClaim),
    /// Sent before: its result.
    Done(SendResult),
}

/// Holds a tempGuid while its send runs: [`complete`](Self::complete)
/// remembers the result; dropping it uncompleted (a failed send) releases
/// the tempGuid so a retry sends again.
#[derive(Debug)]
pub(crate) struct TempGuidClaim {
    map: Arc<Mutex<TempGuids>>,
    guid: String,
    chat_guid: String,
    completed: bool,
}

impl TempGuidClaim {
    /// Records the result of the send.
    pub(crate) fn complete(mut self, result: SendResult) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let done = Completed {
            chat_guid: self.chat_guid.clone(),
            result,
        };
        map.entries.insert(self.guid.clone(), Some(done));
        map.completed.push_back(self.guid.clone());
        while map.completed.len() > REMEMBERED_SENDS {
            if let Some(old) = map.completed.pop_front() {
                map.entries.remove(&old);
            }
        }
        self.completed = true;
    }
}

impl Drop for TempGuidClaim {
    fn drop(&mut self) {
        if !self.completed {
            self.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entries
                .remove(&self.guid);
        }
    }
}
