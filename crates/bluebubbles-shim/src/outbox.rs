//! The outbox's two workers: `run_inbound` stores each inbound message before
//! acknowledging it; `run_delivery` POSTs stored messages to every webhook, in
//! order per conversation, with retries and dead letters.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use moltbot_channel::{Ack, CancellationToken, Delivery, InboundMessage, InboundReceiver};
use tokio::task::JoinSet;

use crate::scheduler::{Dispatch, Entry};
use crate::store::{Attempt, AttemptOutcome, Body, Shaper};
use crate::webhook_post::{Target, Targets};
use crate::{Shim, ShimError, bb, now_ms};

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

/// Bodies read ahead, per lane, with a body that is not kept in memory.
const READ_AHEAD: usize = 32;
/// Inbound messages awaiting their commit at once, in groups.
const INBOUND_GROUPS_IN_FLIGHT: usize = 2;
/// Inbound messages taken from the channel per group (512 raised the blast's
/// peak by about 1 MB for the same rate).
const INBOUND_GROUP: usize = 256;
/// First wait before storing again after a storage failure (disk full).
const STORE_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts while the storage keeps failing.
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// The webhook body shaping the store applies to inbound messages.
const SHAPER: Shaper = Shaper {
    participants: bb::NOTIFICATION_PARTICIPANTS,
    encode: bb::new_message_event,
};

/// The journal's answer for a group: one result per message.
type Stored = Pin<Box<dyn Future<Output = Vec<Result<bool, ShimError>>> + Send>>;

/// A group handed to the journal: its messages (shared with the journal, not
/// copied), their acknowledgements, and the results to come.
struct Group {
    messages: Arc<[InboundMessage]>,
    acks: Vec<Ack>,
    stored: Stored,
}

/// Hands a group to the journal (`retry`: the resubmission of messages
/// that met a storage failure, see `Store::record_inbound`).
fn submit(shim: &Shim, group: Vec<Delivery>, retry: bool) -> Group {
    let (messages, acks): (Vec<InboundMessage>, Vec<Ack>) = group
        .into_iter()
        .map(|d| {
            let (mut message, ack) = d.into_parts();
            // The raw event is not stored.
            message.raw = None;
            (message, ack)
        })
        .unzip();
    let messages: Arc<[InboundMessage]> = messages.into();
    let stored = shim
        .0
        .store
        .record_inbound(Arc::clone(&messages), now_ms(), SHAPER, retry);
    Group {
        messages,
        acks,
        stored: Box::pin(stored),
    }
}

/// Acknowledges the stored messages of a group; those that met a storage
/// failure join `retry` (in order); any other failure is logged and the
/// message is not acknowledged.
fn settle(group: Group, results: Vec<Result<bool, ShimError>>, retry: &mut Vec<Delivery>) {
    let Group { messages, acks, .. } = group;
    for ((message, ack), result) in messages.iter().zip(acks).zip(results) {
        let id = &message.message_id;
        match result {
            Ok(fresh) => {
                if fresh {
                    tracing::debug!(message_id = %id, "inbound message stored");
                } else {
                    tracing::debug!(message_id = %id, "duplicate inbound message ignored");
                }
                ack.send();
            }
            // The only copy: storage failures are rare.
            Err(e) if e.is_transient() => retry.push(Delivery::from_parts(message.clone(), ack)),
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "could not store inbound message; not acknowledged");
            }
        }
    }
}

/// What the inbound loop waits for.
enum Next {
    Stop,
    Settled(Group, Vec<Result<bool, ShimError>>),
    Received(usize),
}

/// Stores every inbound message (conversation, message, outbox entry) and
/// acknowledges it once its group has committed. Messages are taken from the
/// channel as they come (whatever is queued forms one journal job, no
/// waiting), and a few jobs may await their commit at once, so the journal
/// can put many messages in one transaction and one fsync. Results are
/// taken in order. A message that cannot be stored is not acknowledged, so
/// a producer waiting with `send_acked` sees an error and its source can
/// retry.
///
/// When the storage fails (disk full, I/O error), the messages concerned
/// are kept, in order, and stored again with a growing wait
/// ([`STORE_RETRY_FIRST`] to [`STORE_RETRY_MAX`]) while no new message is
/// taken: the channel's queue fills and the WebSocket session stops reading
/// (heartbeats go on), so nothing is dropped and order per conversation
/// holds.
pub(crate) async fn run_inbound(shim: &Shim, mut rx: InboundReceiver, cancel: CancellationToken) {
    let mut groups: VecDeque<Group> = VecDeque::new();
    let mut retry: Vec<Delivery> = Vec::new();
    let mut wait = STORE_RETRY_FIRST;
    let mut buf = Vec::with_capacity(INBOUND_GROUP);
    loop {
        // Results in submission order; a retry waits for every group ahead.
        if groups.len() >= INBOUND_GROUPS_IN_FLIGHT || (!retry.is_empty() && !groups.is_empty()) {
            if let Some(mut group) = groups.pop_front() {
                let results = group.stored.as_mut().await;
                settle(group, results, &mut retry);
            }
            continue;
        }
        if !retry.is_empty() {
            let error = shim.0.store.outbox_stats().ok().and_then(|s| s.store_error);
            tracing::warn!(
                waiting = retry.len(),
                error = error.as_deref().unwrap_or("storage unavailable"),
                retry_in = ?wait,
                "inbound messages could not be stored; they wait unacknowledged, in order"
            );
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(STORE_RETRY_MAX);
            let mut group = submit(shim, std::mem::take(&mut retry), true);
            let results = group.stored.as_mut().await;
            settle(group, results, &mut retry);
            if retry.is_empty() {
                tracing::warn!("inbound messages are stored again");
                wait = STORE_RETRY_FIRST;
            }
            continue;
        }
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => Next::Stop,
            results = async { groups.front_mut().expect("guarded").stored.as_mut().await }, if !groups.is_empty() => {
                Next::Settled(groups.pop_front().expect("guarded"), results)
            }
            n = rx.recv_many(&mut buf, INBOUND_GROUP) => Next::Received(n),
        };
        match next {
            Next::Stop | Next::Received(0) => break,
            Next::Settled(group, results) => settle(group, results, &mut retry),
            Next::Received(_) => {
                let group = std::mem::replace(&mut buf, Vec::with_capacity(INBOUND_GROUP));
                groups.push_back(submit(shim, group, false));
            }
        }
    }
    // Messages already handed to the journal are acknowledged once committed.
    let mut unstored = retry.len();
    while let Some(mut group) = groups.pop_front() {
        let mut left = Vec::new();
        let results = group.stored.as_mut().await;
        settle(group, results, &mut left);
        unstored += left.len();
    }
    if unstored > 0 {
        tracing::warn!(
            unstored,
            "stopping with inbound messages not stored (storage unavailable); they were not acknowledged"
        );
    }
    tracing::debug!("inbound worker stopped");
}

/// Bodies being read back from the journal for deliveries that missed the
/// cache: the deliveries, the entries read ahead behind them, the bodies.
type Loaded = (
    Vec<Dispatch>,
    Vec<Entry>,
    Result<Vec<Option<(String, String)>>, ShimError>,
);

/// Delivers outbox entries until `cancel` fires. The store's in-memory
/// scheduler hands out due heads, one per (webhook, conversation), so a
/// failing entry holds back its own conversation and nothing else; a wake-up
/// costs nothing per pending row.
pub(crate) async fn run_delivery(shim: &Shim, cancel: CancellationToken) {
    let config = &shim.0.config;
    let store = &shim.0.store;
    let concurrency = config.delivery_concurrency.max(1);
    let mut tasks = JoinSet::new();
    let mut targets = Targets::default();
    // Reads of bodies run beside the POSTs: awaiting each in turn left the
    // POSTs idle at the start of a large backlog, when every lane misses.
    let mut loads: JoinSet<Loaded> = JoinSet::new();
    let mut loading = 0;
    loop {
        let free = concurrency.saturating_sub(tasks.len() + loading);
        if free > 0 {
            let due = store.take_due(now_ms(), free);
            if !due.is_empty() {
                // Bodies kept in memory go at once; the rest are read back
                // from the journal on a blocking thread.
                let mut misses = Vec::new();
                for d in due {
                    match store.cached_body(&d) {
                        Some(body) => spawn_delivery(shim, &mut tasks, &mut targets, d, body),
                        None => misses.push(d),
                    }
                }
                if !misses.is_empty() {
                    // One read also brings the bodies queued behind each
                    // miss in its lane: a lane draining a large backlog then
                    // pays one blocking hop per READ_AHEAD deliveries.
                    let ahead: Vec<Entry> = misses
                        .iter()
                        .flat_map(|d| store.read_ahead(d, READ_AHEAD))
                        .collect();
                    let wanted: Vec<i64> = misses
                        .iter()
                        .map(|d| &d.entry)
                        .chain(&ahead)
                        .map(|e| e.id)
                        .collect();
                    loading += misses.len();
                    let reader = store.clone();
                    loads.spawn(async move {
                        let bodies = reader.call(move |s| s.payloads(&wanted, SHAPER)).await;
                        (misses, ahead, bodies)
                    });
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
            Some(loaded) = loads.join_next(), if !loads.is_empty() => {
                let Ok((misses, ahead, bodies)) = loaded else {
                    // Only on abort, which happens below.
                    continue;
                };
                loading -= misses.len();
                if !start_loaded(shim, &mut tasks, &mut targets, misses, ahead, bodies) {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(config.poll_interval) => {}
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    // Unfinished attempts stay pending and are retried (on the next start,
    // or by the next worker).
    loads.abort_all();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    while loads.join_next().await.is_some() {}
    store.release_in_flight(now_ms());
    tracing::debug!("delivery worker stopped");
}

/// Starts the deliveries whose bodies were read back, and keeps the bodies
/// read ahead; false when the read failed (the deliveries are given back).
fn start_loaded(
    shim: &Shim,
    tasks: &mut JoinSet<()>,
    targets: &mut Targets,
    misses: Vec<Dispatch>,
    ahead: Vec<Entry>,
    bodies: Result<Vec<Option<(String, String)>>, ShimError>,
) -> bool {
    let store = &shim.0.store;
    match bodies {
        Ok(mut bodies) => {
            let later = bodies.split_off(misses.len());
            for (e, body) in ahead.into_iter().zip(later) {
                if let Some((payload, guid)) = body {
                    store.keep_body(e.seq, body_of(payload, guid));
                }
            }
            for (d, body) in misses.into_iter().zip(bodies) {
                match body {
                    Some((payload, guid)) => {
                        spawn_delivery(shim, tasks, targets, d, body_of(payload, guid));
                    }
                    // Deleted meanwhile.
                    None => store.abandon(&d, true, now_ms()),
                }
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the outbox; will retry");
            for d in &misses {
                store.abandon(d, false, now_ms());
            }
            false
        }
    }
}

/// A body read back from the journal.
fn body_of(payload: String, guid: String) -> Body {
    Body {
        payload: Arc::from(payload),
        guid: Arc::from(guid),
    }
}

/// Starts the POST of `d` with `body`, or forgets `d` when its webhook was
/// deleted meanwhile.
fn spawn_delivery(
    shim: &Shim,
    tasks: &mut JoinSet<()>,
    targets: &mut Targets,
    d: Dispatch,
    body: Body,
) {
    match shim.0.store.webhook_url(d.lane.0) {
        Some(url) => {
            let target = targets.get(d.lane.0, url);
            tasks.spawn(deliver(shim.clone(), d, target, body));
        }
        None => shim.0.store.abandon(&d, true, now_ms()),
    }
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
async fn deliver(shim: Shim, d: Dispatch, target: Arc<Target>, body: Body) {
    let config = &shim.0.config;
    let Body { payload, guid } = body;
    let attempt = shim
        .0
        .client
        .post(
            &target,
            &payload,
            config.webhook_secret().expose(),
            config.delivery_timeout,
        )
        .await;
    let outcome = shim.0.store.finish_attempt(
        &d,
        &attempt,
        now_ms(),
        config.max_attempts.max(1),
        &config.backoff,
        rand::random(),
        SHAPER,
    );
    let webhook_id = d.lane.0;
    match (outcome, attempt) {
        (AttemptOutcome::Delivered, _) => {
            tracing::debug!(webhook_id, url = %target.shown, message_guid = %guid, "delivered");
        }
        (AttemptOutcome::Retry, Attempt::Failed(error)) => {
            tracing::warn!(webhook_id, url = %target.shown, message_guid = %guid, %error, "delivery failed; will retry");
        }
        (_, Attempt::Deferred { error, retry_after }) => {
            tracing::info!(webhook_id, url = %target.shown, message_guid = %guid, %error, ?retry_after, "receiver busy; will retry when it asked");
        }
        (_, Attempt::Failed(error)) => {
            tracing::error!(webhook_id, url = %target.shown, message_guid = %guid, %error, "delivery failed for good; moved to dead letters");
        }
        (_, Attempt::Delivered) => {}
    }
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
