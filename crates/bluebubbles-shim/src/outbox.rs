//! The outbox's two workers: `run_inbound` stores each inbound message before
//! acknowledging it; `run_delivery` POSTs stored messages to every webhook, in
//! order per conversation, with retries and dead letters.

use std::time::Duration;

use moltbot_channel::{CancellationToken, InboundReceiver};
use reqwest::header::CONTENT_TYPE;
use tokio::task::JoinSet;

use crate::scheduler::Dispatch;
use crate::store::{Attempt, AttemptOutcome, Shaper};
use crate::{Shim, bb, now_ms};

/// A URL without user info, query or fragment, safe to log.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => String::from("<invalid url>"),
    }
}

/// Inbound messages awaiting their commit at once, in groups.
const INBOUND_GROUPS_IN_FLIGHT: usize = 4;
/// Inbound messages taken from the channel per group.
const INBOUND_GROUP: usize = 512;

/// The webhook body shaping the store applies to inbound messages.
const SHAPER: Shaper = Shaper {
    participants: bb::NOTIFICATION_PARTICIPANTS,
    encode: bb::new_message_event,
};

/// Stores every inbound message (conversation, message, outbox entry) and
/// acknowledges it once its group has committed. Messages are taken from the
/// channel as they come (whatever is queued forms one journal job, no
/// waiting), and a few jobs may await their commit at once, so the journal
/// can put many messages in one transaction and one fsync. A message that cannot be
/// stored is not acknowledged, so a producer waiting with `send_acked` sees
/// an error and its source can retry.
pub(crate) async fn run_inbound(shim: &Shim, mut rx: InboundReceiver, cancel: CancellationToken) {
    let mut groups = JoinSet::new();
    let mut buf = Vec::with_capacity(INBOUND_GROUP);
    loop {
        if groups.len() >= INBOUND_GROUPS_IN_FLIGHT {
            groups.join_next().await;
            continue;
        }
        let n = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            Some(_) = groups.join_next(), if !groups.is_empty() => continue,
            n = rx.recv_many(&mut buf, INBOUND_GROUP) => n,
        };
        if n == 0 {
            break;
        }
        let mut group = std::mem::replace(&mut buf, Vec::with_capacity(INBOUND_GROUP));
        // The raw event is not stored; do not copy it.
        let messages = group
            .iter_mut()
            .map(|d| {
                d.message.raw = None;
                d.message.clone()
            })
            .collect();
        let stored = shim.0.store.record_inbound(messages, now_ms(), SHAPER);
        groups.spawn(async move {
            for (delivery, result) in group.into_iter().zip(stored.await) {
                let id = &delivery.message.message_id;
                match result {
                    Ok(fresh) => {
                        if fresh {
                            tracing::debug!(message_id = %id, "inbound message stored");
                        } else {
                            tracing::debug!(message_id = %id, "duplicate inbound message ignored");
                        }
                        delivery.ack();
                    }
                    Err(e) => {
                        tracing::error!(message_id = %id, error = %e, "could not store inbound message; not acknowledged");
                    }
                }
            }
        });
    }
    // Messages already handed to the journal are acknowledged once committed.
    while groups.join_next().await.is_some() {}
    tracing::debug!("inbound worker stopped");
}

/// Delivers outbox entries until `cancel` fires. The store's in-memory
/// scheduler hands out due heads, one per (webhook, conversation), so a
/// failing entry holds back its own conversation and nothing else; a wake-up
/// costs nothing per pending row.
pub(crate) async fn run_delivery(shim: &Shim, cancel: CancellationToken) {
    let config = &shim.0.config;
    let store = &shim.0.store;
    let concurrency = config.delivery_concurrency.max(1);
    let mut tasks = JoinSet::new();
    loop {
        let free = concurrency.saturating_sub(tasks.len());
        if free > 0 {
            let due = store.take_due(now_ms(), free);
            if !due.is_empty() {
                let seqs: Vec<i64> = due.iter().map(|d| d.entry.seq).collect();
                let loaded = store.call(move |s| s.payloads(&seqs)).await;
                match loaded {
                    Ok(bodies) => {
                        for (d, body) in due.into_iter().zip(bodies) {
                            let url = store.webhook_url(d.lane.0);
                            match (url, body) {
                                (Some(url), Some((payload, guid))) => {
                                    tasks.spawn(deliver(shim.clone(), d, url, payload, guid));
                                }
                                // Deleted meanwhile (webhook or message).
                                _ => store.abandon(&d, true, now_ms()),
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not read the outbox; will retry");
                        for d in &due {
                            store.abandon(d, false, now_ms());
                        }
                        tokio::select! {
                            () = cancel.cancelled() => break,
                            () = tokio::time::sleep(config.poll_interval) => {}
                        }
                    }
                }
                continue;
            }
        }
        let (next, ready) = store.next_due();
        if ready && free > 0 {
            continue;
        }
        let wait = next
            .map(|at| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)))
            .unwrap_or(config.poll_interval)
            .min(config.poll_interval);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = store.shared().wake.notified() => {}
            () = shim.0.wake.notified() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    // Unfinished attempts stay pending and are retried (on the next start,
    // or by the next worker).
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    store.release_in_flight(now_ms());
    tracing::debug!("delivery worker stopped");
}

/// How a webhook delivery authenticates: nothing when the URL's query
/// already carries `password=` or `guid=` (Clawdbot's BlueBubbles receiver
/// reads those), otherwise `x-password: <secret>` (the receiver compares
/// the raw header value, so no `Bearer` prefix).
pub(crate) fn auth_header(url: &str) -> Option<&'static str> {
    let in_query = url::Url::parse(url)
        .is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "password" || k == "guid"));
    (!in_query).then_some("x-password")
}

/// One POST of one outbox entry to one webhook, and its bookkeeping.
async fn deliver(shim: Shim, d: Dispatch, url: String, payload: String, guid: String) {
    let config = &shim.0.config;
    let shown = redact_url(&url);
    let mut request = shim
        .0
        .client
        .post(&url)
        .header(CONTENT_TYPE, "application/json")
        .body(payload)
        .timeout(config.delivery_timeout);
    if let Some(name) = auth_header(&url) {
        request = request.header(name, config.webhook_secret().expose());
    }
    let attempt = match request.send().await {
        Ok(res) if res.status().is_success() => Attempt::Delivered,
        Ok(res) => {
            let error = format!("webhook answered HTTP {}", res.status().as_u16());
            match retry_after(&res) {
                Some(retry_after) => Attempt::Deferred { error, retry_after },
                None => Attempt::Failed(error),
            }
        }
        Err(e) => Attempt::Failed(describe(&e)),
    };
    let outcome = shim.0.store.finish_attempt(
        &d,
        &attempt,
        now_ms(),
        config.max_attempts.max(1),
        &config.backoff,
        rand::random(),
    );
    let webhook_id = d.lane.0;
    match (outcome, attempt) {
        (AttemptOutcome::Delivered, _) => {
            tracing::debug!(webhook_id, url = %shown, message_guid = %guid, "delivered");
        }
        (AttemptOutcome::Retry, Attempt::Failed(error)) => {
            tracing::warn!(webhook_id, url = %shown, message_guid = %guid, %error, "delivery failed; will retry");
        }
        (_, Attempt::Deferred { error, retry_after }) => {
            tracing::info!(webhook_id, url = %shown, message_guid = %guid, %error, ?retry_after, "receiver busy; will retry when it asked");
        }
        (_, Attempt::Failed(error)) => {
            tracing::error!(webhook_id, url = %shown, message_guid = %guid, %error, "delivery failed for good; moved to dead letters");
        }
        (_, Attempt::Delivered) => {}
    }
}

/// The delay a busy receiver asked for: `Retry-After` in seconds on a 503
/// or 429 (the extension answers 503 while the host has not yet taken the
/// turn). Such an answer is a deferral, not a failed attempt.
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    if !matches!(res.status().as_u16(), 429 | 503) {
        return None;
    }
    let seconds: u64 = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// A transport error without the URL (which may carry a password).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "webhook timed out".into()
    } else if e.is_connect() {
        "could not connect to the webhook".into()
    } else {
        format!("webhook request failed: {}", e_without_url(e))
    }
}

fn e_without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), &redact_url(url.as_str()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_only_when_the_url_has_no_password_or_guid() {
        assert_eq!(
            auth_header("http://127.0.0.1:1/bluebubbles-webhook"),
            Some("x-password")
        );
        assert_eq!(auth_header("http://127.0.0.1:1/hook?password=x"), None);
        assert_eq!(auth_header("http://127.0.0.1:1/hook?a=1&guid=x"), None);
        assert_eq!(
            auth_header("http://127.0.0.1:1/hook?passwords=x"),
            Some("x-password")
        );
    }

    #[test]
    fn redaction_drops_query_fragment_and_user_info() {
        assert_eq!(
            redact_url("http://u:pw@127.0.0.1:3000/bluebubbles-webhook?password=hunter2#x"),
            "http://127.0.0.1:3000/bluebubbles-webhook"
        );
        assert_eq!(redact_url("not a url"), "<invalid url>");
    }
}
