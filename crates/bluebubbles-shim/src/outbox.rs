//! The outbox's two workers: `run_inbound` stores each inbound message before
//! acknowledging it; `run_delivery` POSTs stored messages to every webhook, in
//! order per conversation, with retries and dead letters.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use moltbot_channel::{CancellationToken, InboundReceiver};
use reqwest::header::CONTENT_TYPE;
use tokio::task::JoinSet;

use crate::store::{Attempt, AttemptOutcome, Head};
use crate::{Shim, now_ms};

/// Heads read per pass; more than the concurrency so busy conversations do
/// not hide idle ones.
const HEADS_PER_PASS: i64 = 256;

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

/// Stores every inbound message (conversation, message, outbox entry) in one
/// transaction, then acknowledges it. A message that cannot be stored is not
/// acknowledged, so a producer waiting with `send_acked` sees an error and
/// its source can retry.
pub(crate) async fn run_inbound(shim: &Shim, mut rx: InboundReceiver, cancel: CancellationToken) {
    loop {
        let delivery = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            next = rx.recv() => match next {
                Some(d) => d,
                None => break,
            },
        };
        let message = delivery.message.clone();
        let id = message.message_id.clone();
        match shim
            .0
            .store
            .call(move |s| s.record_inbound(&message, now_ms()))
            .await
        {
            Ok(fresh) => {
                delivery.ack();
                if fresh {
                    tracing::debug!(message_id = %id, "inbound message stored");
                    shim.0.wake.notify_one();
                } else {
                    tracing::debug!(message_id = %id, "duplicate inbound message ignored");
                }
            }
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "could not store inbound message; not acknowledged");
            }
        }
    }
    tracing::debug!("inbound worker stopped");
}

/// Delivers outbox entries until `cancel` fires. For each (webhook,
/// conversation) only the oldest pending entry is in flight, so a failing
/// entry holds back its own conversation and nothing else.
pub(crate) async fn run_delivery(shim: &Shim, cancel: CancellationToken) {
    let config = &shim.0.config;
    let mut tasks = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, (i64, String)> = HashMap::new();
    let mut busy: HashSet<(i64, String)> = HashSet::new();
    loop {
        let now = now_ms();
        let next_retry = match shim
            .0
            .store
            .call(move |s| Ok((s.due_heads(now, HEADS_PER_PASS)?, s.next_retry_ms(now)?)))
            .await
        {
            Ok((heads, next)) => {
                for head in heads {
                    if tasks.len() >= config.delivery_concurrency.max(1) {
                        break;
                    }
                    let key = (head.webhook_id, head.chat_guid.clone());
                    if busy.insert(key.clone()) {
                        let handle = tasks.spawn(deliver(shim.clone(), head));
                        in_flight.insert(handle.id(), key);
                    }
                }
                next
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the outbox");
                None
            }
        };
        let wait = next_retry
            .map(|at| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)))
            .unwrap_or(config.poll_interval)
            .min(config.poll_interval);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = shim.0.wake.notified() => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                if let Some(key) = in_flight.remove(&id) {
                    busy.remove(&key);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    // Unfinished attempts stay pending and are retried on the next start.
    tasks.abort_all();
    tracing::debug!("delivery worker stopped");
}

/// One POST of one outbox entry to one webhook, and its bookkeeping.
async fn deliver(shim: Shim, head: Head) {
    let config = &shim.0.config;
    let url = redact_url(&head.url);
    let result = shim
        .0
        .client
        .post(&head.url)
        .bearer_auth(config.webhook_secret().expose())
        .header(CONTENT_TYPE, "application/json")
        .body(head.payload.clone())
        .timeout(config.delivery_timeout)
        .send()
        .await;
    let attempt = match result {
        Ok(res) if res.status().is_success() => Attempt::Delivered,
        Ok(res) => Attempt::Failed(format!("webhook answered HTTP {}", res.status().as_u16())),
        Err(e) => Attempt::Failed(describe(&e)),
    };
    let (max_attempts, backoff) = (config.max_attempts.max(1), config.backoff);
    let recorded = attempt.clone();
    let outcome = shim
        .0
        .store
        .call(move |s| {
            s.record_attempt(
                head.id,
                &recorded,
                now_ms(),
                max_attempts,
                &backoff,
                rand::random(),
            )
        })
        .await;
    let guid = &head.message_guid;
    match (outcome, attempt) {
        (Ok(AttemptOutcome::Delivered), _) => {
            tracing::debug!(webhook_id = head.webhook_id, %url, message_guid = %guid, "delivered");
        }
        (Ok(AttemptOutcome::Retry), Attempt::Failed(error)) => {
            tracing::warn!(webhook_id = head.webhook_id, %url, message_guid = %guid, %error, "delivery failed; will retry");
        }
        (Ok(AttemptOutcome::Gone), _) => {
            tracing::debug!(webhook_id = head.webhook_id, message_guid = %guid, "delivery was removed meanwhile");
        }
        (Ok(_), Attempt::Failed(error)) => {
            tracing::error!(webhook_id = head.webhook_id, %url, message_guid = %guid, %error, "delivery failed for good; moved to dead letters");
        }
        (Ok(_), Attempt::Delivered) => {}
        (Err(e), _) => {
            tracing::error!(webhook_id = head.webhook_id, message_guid = %guid, error = %e, "could not record a delivery attempt");
        }
    }
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
    fn redaction_drops_query_fragment_and_user_info() {
        assert_eq!(
            redact_url("http://u:pw@127.0.0.1:3000/bluebubbles-webhook?password=hunter2#x"),
            "http://127.0.0.1:3000/bluebubbles-webhook"
        );
        assert_eq!(redact_url("not a url"), "<invalid url>");
    }
}
