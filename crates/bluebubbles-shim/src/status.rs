//! Request logging and counters, `GET /status` and `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use crate::Shim;
use crate::envelope::ApiError;
use crate::outbox::redact_url;

/// HTTP requests by (route, status).
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl HttpMetrics {
    fn record(&self, route: &str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((route.to_owned(), status)).or_default() += 1;
    }

    fn snapshot(&self) -> Vec<((String, u16), u64)> {
        let map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Middleware (outermost): a span and a log line per request with the
/// matched route, method, status and latency. Never the URI: BlueBubbles
/// clients put the password in the query string.
pub(crate) async fn observe(State(shim): State<Shim>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", %method, route = %route);
    let started = std::time::Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    shim.0.http.record(&route, status);
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request finished"
        );
    });
    res
}

/// `GET /status`.
pub(crate) async fn status(State(shim): State<Shim>) -> Result<Response, ApiError> {
    // Both from memory: no query per request.
    let (outbox, webhooks) = (shim.0.store.outbox_stats()?, shim.0.store.webhooks()?);
    let account = shim.0.channel.status();
    let mut zoom = serde_json::to_value(&account).unwrap_or_default();
    if let Some(obj) = zoom.as_object_mut() {
        obj.insert("connected".into(), account.connected().into());
    }
    Ok(axum::Json(json!({
        "zoom": zoom,
        "outbox": outbox,
        "webhooks": webhooks.iter().map(|w| redact_url(&w.url)).collect::<Vec<_>>(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": shim.0.started.elapsed().as_secs(),
    }))
    .into_response())
}

/// `GET /metrics` in the Prometheus text format.
pub(crate) async fn metrics(State(shim): State<Shim>) -> Result<Response, ApiError> {
    let outbox = shim.0.store.outbox_stats()?;
    let account = shim.0.channel.status();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "moltbot_zoom_outbox_depth",
        "gauge",
        "Messages not yet delivered to every webhook.",
        outbox.depth.to_string(),
    );
    metric(
        "moltbot_zoom_outbox_pending",
        "gauge",
        "Deliveries waiting to be attempted.",
        outbox.pending.to_string(),
    );
    metric(
        "moltbot_zoom_outbox_dead_letters",
        "gauge",
        "Deliveries that exhausted their attempts.",
        outbox.dead_letters.to_string(),
    );
    metric(
        "moltbot_zoom_webhook_delivered_total",
        "counter",
        "Webhook deliveries answered with 2xx.",
        outbox.delivered.to_string(),
    );
    metric(
        "moltbot_zoom_webhook_failed_total",
        "counter",
        "Failed webhook delivery attempts.",
        outbox.failed.to_string(),
    );
    metric(
        "moltbot_zoom_store_commits_total",
        "counter",
        "Store transactions committed (each holds a group of writes).",
        shim.0.store.commits().to_string(),
    );
    metric(
        "moltbot_zoom_zoom_connected",
        "gauge",
        "1 when the Zoom connection is up.",
        u8::from(account.connected()).to_string(),
    );
    metric(
        "moltbot_zoom_events_received_total",
        "counter",
        "Zoom events received.",
        account.counters.events_received.to_string(),
    );
    metric(
        "moltbot_zoom_messages_emitted_total",
        "counter",
        "Inbound messages produced by the channel.",
        account.counters.messages_emitted.to_string(),
    );
    metric(
        "moltbot_zoom_sent_total",
        "counter",
        "Messages sent to Zoom.",
        account.counters.sent.to_string(),
    );
    metric(
        "moltbot_zoom_send_failures_total",
        "counter",
        "Sends to Zoom that failed.",
        account.counters.send_failures.to_string(),
    );
    for (name, kind, help, value) in account.pipeline_metrics() {
        metric(
            &format!("moltbot_zoom_{name}"),
            kind,
            help,
            value.to_string(),
        );
    }
    if let Some(lag) = account.last_event_lag_ms {
        metric(
            "moltbot_zoom_last_event_lag_ms",
            "gauge",
            "Delay of the last Zoom event in ms.",
            lag.to_string(),
        );
    }
    let _ = writeln!(
        out,
        "# HELP moltbot_zoom_http_requests_total HTTP requests by route and status.\n# TYPE moltbot_zoom_http_requests_total counter"
    );
    for ((route, status), n) in shim.0.http.snapshot() {
        let route = route.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "moltbot_zoom_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
