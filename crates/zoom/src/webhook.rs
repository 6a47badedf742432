//! Webhook transport: an axum receiver for Zoom's signed event POSTs, the
//! alternative to the WebSocket session (zoom-protocol.md §6).
//!
//! Each request is checked in order: both signature headers present, a fresh
//! timestamp, the HMAC signature over the raw body (constant time), then the
//! JSON. `endpoint.url_validation` is answered at once. Any other event is
//! forwarded as a [`WebhookDelivery`] and answered 200 only once the consumer
//! acks it; otherwise 503, so Zoom retries. Retries of an accepted or
//! in-flight event are never forwarded twice.

use std::{
    collections::{BTreeMap, HashMap},
    io,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use moltbot_channel::{ListenerLimits, Secret, serve_http};
use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot, watch},
    time::timeout,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zoom_wire::Event;

use crate::ReceivedEvent;

const SIGNATURE: &str = "x-zm-signature";
const TIMESTAMP: &str = "x-zm-request-timestamp";
const URL_VALIDATION: &str = "endpoint.url_validation";

/// Settings of the webhook receiver.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// The app's webhook secret token (signs requests and CRC answers).
    pub secret_token: Secret,
    /// Largest accepted distance between `x-zm-request-timestamp` and now (5 min).
    pub max_clock_skew: Duration,
    /// Largest accepted body, in bytes (1 MiB); larger gets 413.
    pub body_limit: usize,
    /// How long a request waits for the consumer's ack (2.5 s, under Zoom's 3 s).
    pub ack_timeout: Duration,
    /// How many accepted event identities are remembered to drop Zoom's retries (LRU).
    pub dedup_capacity: usize,
}

impl WebhookConfig {
    /// The defaults above with the given secret token.
    pub fn new(secret_token: Secret) -> Self {
        Self {
            secret_token,
            max_clock_skew: Duration::from_secs(5 * 60),
            body_limit: 1024 * 1024,
            ack_timeout: Duration::from_millis(2500),
            dedup_capacity: 10_000,
        }
    }
}

/// One event received by webhook, waiting for the consumer's [`ack`](Self::ack).
///
/// Dropping it without acking answers Zoom 503 (Zoom retries later).
#[derive(Debug)]
pub struct WebhookDelivery {
    /// The event; `connection_id` is 0 for webhook deliveries.
    pub event: ReceivedEvent,
    ack: oneshot::Sender<bool>,
}

impl WebhookDelivery {
    /// Acknowledges the event — call once it is durably accepted, or deliberately
    /// dropped (filters, dedup) — so Zoom gets its 200; returns the event.
    pub fn ack(self) -> ReceivedEvent {
        // The request may have timed out already; the ack still marks the
        // event accepted, so Zoom's retry is dropped.
        let _ = self.ack.send(true);
        self.event
    }

    /// Tells Zoom the event cannot be handled (it made the consumer fail):
    /// the request is answered 422, which Zoom does not retry, so the same
    /// event does not fail again and again. Later events are unaffected.
    pub fn reject(self) {
        let _ = self.ack.send(false);
    }
}

/// Builds the receiver: `POST /` (other methods get 405). Nest or mount it at
/// the webhook path. Accepted events go to `events`.
pub fn webhook_router(config: WebhookConfig, events: mpsc::Sender<WebhookDelivery>) -> Router {
    if config.secret_token.is_empty() {
        tracing::warn!("webhook secret token is empty: every webhook request will be refused");
    }
    let state = Arc::new(Receiver {
        ledger: Mutex::new(Ledger {
            accepted: Accepted::new(config.dedup_capacity),
            in_flight: HashMap::new(),
        }),
        config,
        events,
    });
    Router::new().route("/", post(handle)).with_state(state)
}

/// Serves `router` on `listener` with [`webhook_listener_limits`] until
/// `cancel` fires, then shuts down gracefully (in-flight requests finish).
///
/// # Errors
/// The listener fails.
pub async fn serve_webhooks(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> io::Result<()> {
    serve_webhooks_with(listener, router, webhook_listener_limits(), cancel).await
}

/// As [`serve_webhooks`] with explicit listener limits: a connection cap
/// (the oldest idle connection makes room), header-read and idle timeouts,
/// and an accept loop that pauses on `EMFILE` instead of exiting.
///
/// # Errors
/// The listener fails.
pub async fn serve_webhooks_with(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    cancel: CancellationToken,
) -> io::Result<()> {
    serve_http(listener, router, limits, cancel).await
}

/// Listener limits for Zoom's webhook POSTs: 256 connections, 10 s to send
/// the request head, 30 s without progress (Zoom gives up after 3 s).
pub fn webhook_listener_limits() -> ListenerLimits {
    ListenerLimits {
        idle_timeout: Duration::from_secs(30),
        ..ListenerLimits::default()
    }
}

/// What became of a forwarded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The consumer acked it.
    Accepted,
    /// The consumer is gone, dropped it unacked, or its queue stayed full.
    Lost,
    /// The consumer could not handle it ([`WebhookDelivery::reject`]).
    Rejected,
}

type OutcomeRx = watch::Receiver<Option<Outcome>>;

struct Receiver {
    config: WebhookConfig,
    events: mpsc::Sender<WebhookDelivery>,
    ledger: Mutex<Ledger>,
}

/// Identities accepted, and those forwarded but not yet acked.
struct Ledger {
    accepted: Accepted,
    in_flight: HashMap<String, OutcomeRx>,
}

/// Bounded LRU set of accepted event identities.
struct Accepted {
    capacity: usize,
    next: u64,
    stamp: HashMap<String, u64>,
    order: BTreeMap<u64, String>,
}

impl Accepted {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next: 0,
            stamp: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// True when `id` is remembered; marks it most recently used.
    fn touch(&mut self, id: &str) -> bool {
        let Some(stamp) = self.stamp.get_mut(id) else {
            return false;
        };
        let key = self.order.remove(stamp).unwrap_or_else(|| id.to_owned());
        self.next += 1;
        *stamp = self.next;
        self.order.insert(self.next, key);
        true
    }

    fn insert(&mut self, id: String) {
        if self.touch(&id) {
            return;
        }
        while self.stamp.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.stamp.remove(&oldest);
        }
        self.next += 1;
        self.stamp.insert(id.clone(), self.next);
        self.order.insert(self.next, id);
    }
}

/// What to do with an event, decided under the ledger lock.
enum Plan {
    Duplicate,
    Wait(OutcomeRx),
    Forward(watch::Sender<Option<Outcome>>, OutcomeRx),
}

impl Receiver {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn plan(&self, id: &str) -> Plan {
        let mut ledger = self.ledger();
        if ledger.accepted.touch(id) {
            return Plan::Duplicate;
        }
        if let Some(rx) = ledger.in_flight.get(id) {
            return Plan::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        ledger.in_flight.insert(id.to_owned(), rx.clone());
        Plan::Forward(tx, rx)
    }

    /// Records the outcome, then wakes every request waiting on it.
    fn settle(&self, id: String, outcome: Outcome, tx: &watch::Sender<Option<Outcome>>) {
        {
            let mut ledger = self.ledger();
            ledger.in_flight.remove(&id);
            if outcome == Outcome::Accepted {
                ledger.accepted.insert(id);
            }
        }
        tx.send_replace(Some(outcome));
    }
}

/// Queues the delivery (giving up if the queue stays full for `ack_timeout`)
/// and waits for the consumer to ack or drop it. Runs detached, so the outcome
/// is recorded even after the request has been answered 503.
async fn deliver(
    receiver: Arc<Receiver>,
    id: String,
    event: ReceivedEvent,
    tx: watch::Sender<Option<Outcome>>,
) {
    let (ack, acked) = oneshot::channel();
    let delivery = WebhookDelivery { event, ack };
    let queued = matches!(
        timeout(receiver.config.ack_timeout, receiver.events.send(delivery)).await,
        Ok(Ok(()))
    );
    let outcome = match (queued, acked.await) {
        (true, Ok(true)) => Outcome::Accepted,
        (true, Ok(false)) => Outcome::Rejected,
        _ => Outcome::Lost,
    };
    receiver.settle(id, outcome, &tx);
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

async fn handle(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let request_id = header(headers, "x-zm-request-id").unwrap_or("-");
    let tracking_id = header(headers, "x-zm-trackingid").unwrap_or("-");
    let span = tracing::debug_span!("zoom_webhook", request_id, tracking_id);
    let response = receive(&receiver, headers, body)
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "webhook answered"));
    response
}

async fn receive(receiver: &Arc<Receiver>, headers: &HeaderMap, body: Body) -> Response {
    let config = &receiver.config;
    let Some(signature) = header(headers, SIGNATURE) else {
        return error(StatusCode::UNAUTHORIZED, "missing x-zm-signature header");
    };
    let Some(timestamp) = header(headers, TIMESTAMP) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing x-zm-request-timestamp header",
        );
    };
    let Ok(sent_at) = timestamp.trim().parse::<u64>() else {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid x-zm-request-timestamp header",
        );
    };
    if now().as_secs().abs_diff(sent_at) > config.max_clock_skew.as_secs() {
        tracing::warn!(sent_at, "webhook refused: stale timestamp");
        return error(StatusCode::UNAUTHORIZED, "stale timestamp");
    }
    let body = match read_body(body, config.body_limit).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let secret = config.secret_token.expose();
    if secret.is_empty()
        || !zoom_wire::verify_webhook_signature(secret, timestamp, &body, signature)
    {
        tracing::warn!("webhook refused: invalid signature");
        return error(StatusCode::UNAUTHORIZED, "invalid signature");
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return error(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let event = match Event::parse(&text) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "webhook refused: not an event");
            return error(StatusCode::BAD_REQUEST, &format!("not a Zoom event: {e}"));
        }
    };
    if event.event == URL_VALIDATION {
        return url_validation(secret, &event);
    }
    forward(receiver, event, text).await
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body larger than {limit} bytes"),
        )),
        Err(e) => {
            tracing::debug!(error = %e, "webhook body could not be read");
            Err(error(StatusCode::BAD_REQUEST, "body could not be read"))
        }
    }
}

fn url_validation(secret: &str, event: &Event) -> Response {
    let Some(plain) = event.payload.get("plainToken").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "url_validation without plainToken");
    };
    tracing::info!("answering webhook URL validation");
    Json(zoom_wire::url_validation_response(secret, plain)).into_response()
}

async fn forward(receiver: &Arc<Receiver>, event: Event, raw_content: String) -> Response {
    let name = event.event.clone();
    let id = event.identity();
    let mut outcome = match receiver.plan(&id) {
        Plan::Duplicate => {
            tracing::debug!(event = %name, "webhook retry of an accepted event dropped");
            return (StatusCode::OK, Json(json!({ "status": "duplicate" }))).into_response();
        }
        Plan::Wait(rx) => {
            tracing::debug!(event = %name, "webhook retry of an in-flight event: waiting");
            rx
        }
        Plan::Forward(tx, rx) => {
            let received = ReceivedEvent {
                event,
                raw_content,
                received_at_ms: i64::try_from(now().as_millis()).unwrap_or(i64::MAX),
                connection_id: 0,
            };
            tokio::spawn(deliver(Arc::clone(receiver), id, received, tx));
            rx
        }
    };
    let waited = timeout(
        receiver.config.ack_timeout,
        outcome.wait_for(Option::is_some),
    )
    .await;
    match waited {
        Ok(Ok(settled)) if *settled == Some(Outcome::Accepted) => {
            tracing::debug!(event = %name, "webhook event accepted");
            (StatusCode::OK, Json(json!({ "status": "accepted" }))).into_response()
        }
        Ok(Ok(settled)) if *settled == Some(Outcome::Rejected) => {
            tracing::warn!(event = %name, "webhook event could not be handled; answered 422");
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the event could not be processed",
            )
        }
        Ok(_) => {
            tracing::warn!(event = %name, "webhook event not taken by the consumer");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "event consumer unavailable",
            )
        }
        Err(_) => {
            tracing::warn!(event = %name, "webhook event not acked in time; Zoom will retry");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "event not acknowledged in time",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_set_is_a_bounded_lru() {
        let mut a = Accepted::new(2);
        a.insert("x".into());
        a.insert("y".into());
        assert!(a.touch("x")); // x is now the most recent
        a.insert("z".into()); // evicts y
        assert!(a.touch("x") && a.touch("z"));
        assert!(!a.touch("y"));
        assert_eq!((a.stamp.len(), a.order.len()), (2, 2));
    }
}
