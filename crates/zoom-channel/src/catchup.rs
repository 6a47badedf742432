//! Catch-up after a gap: while the WebSocket was down (or the sidecar was
//! stopped) Zoom's events are gone, but Team Chat messages can be listed
//! (`GET /v2/chat/users/{userId}/messages` with `from` / `to`). On reconnect
//! each conversation seen before is listed from its last message on, bounded
//! per conversation and in total, and the missing messages go through the
//! usual pipeline (dedup, self-echo) in order. A notice in the feed says that
//! other events of the gap may be missing.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use moltbot_channel::{ChatType, ConnectionState, DeliveryMode, InboundMessage};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, macros::format_description};
use zoom::{CHAT_HISTORY_MAX_PAGE, HistoryTarget, SessionStatus, ZoomApi};
use zoom_wire::{Event, ListedChatMessage};

use crate::{
    conversation::{self, Target, parse_target},
    dedup::Recent,
    render::{SYSTEM_SENDER_ID, utc_time_ms},
};

/// Event name of the gap notice.
pub(crate) const GAP_EVENT: &str = "zoom.gap";
/// Conversations remembered (the most recently active ones).
const MAX_CONVERSATIONS: usize = 200;
/// Pages listed per conversation at most.
const MAX_PAGES: usize = 20;
/// Zoom message ids remembered to skip what was already delivered.
const KNOWN_IDS: usize = 5_000;

/// How much a catch-up may recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Messages per conversation (`catchupMaxPerConversation`).
    pub(crate) per_conversation: usize,
    /// Messages over all conversations (`catchupMaxTotal`).
    pub(crate) total: usize,
}

/// What is saved between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Saved {
    /// When the last event arrived (ms since the epoch).
    last_event_ms: Option<i64>,
    /// Conversation id → its last message seen.
    conversations: BTreeMap<String, Mark>,
}

/// The last message seen in a conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Mark {
    /// Its time (ms since the epoch).
    ms: i64,
    /// Zoom ids of the messages seen at exactly that time.
    ids: Vec<String>,
}

/// Ids kept per mark (messages sent in the same millisecond).
const IDS_PER_MARK: usize = 16;
/// How often changed marks are written at most (the session also flushes
/// them on this period, and at its end). Rewriting the file per message
/// cost more than storing the message itself; after a crash, messages of
/// the last period may be listed and delivered again (at-least-once).
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Last-seen marks per conversation, saved as JSON beside the store.
pub(crate) struct Marks {
    path: Option<PathBuf>,
    book: Mutex<(Saved, Recent)>,
    /// When the marks were last written, and whether they changed since.
    written: Mutex<(Option<Instant>, bool)>,
}

impl Marks {
    /// Marks read from `path` (none when absent or unreadable).
    pub(crate) fn load(path: Option<PathBuf>) -> Self {
        let saved = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| match serde_json::from_slice(&bytes) {
                Ok(saved) => Some(saved),
                Err(e) => {
                    tracing::warn!(error = %e, "catch-up marks unreadable; starting without them");
                    None
                }
            })
            .unwrap_or_default();
        Self {
            path,
            book: Mutex::new((saved, Recent::new(KNOWN_IDS))),
            written: Mutex::new((None, false)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Saved, Recent)> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An event arrived at `at_ms`.
    pub(crate) fn note_event(&self, at_ms: i64) {
        let mut book = self.lock();
        book.0.last_event_ms = Some(book.0.last_event_ms.map_or(at_ms, |t| t.max(at_ms)));
    }

    /// A chat message sent at `sent_ms` was delivered: remember its
    /// conversation and Zoom id.
    pub(crate) fn note_chat(&self, message: &InboundMessage, sent_ms: i64, zoom_id: &str) {
        if !matches!(
            message.conversation.kind,
            ChatType::Channel | ChatType::Direct
        ) {
            return;
        }
        {
            let mut book = self.lock();
            book.1.insert(zoom_id);
            let mark = book
                .0
                .conversations
                .entry(message.conversation.id.clone())
                .or_default();
            if sent_ms > mark.ms {
                *mark = Mark {
                    ms: sent_ms,
                    ids: Vec::new(),
                };
            }
            if sent_ms == mark.ms && mark.ids.len() < IDS_PER_MARK {
                mark.ids.push(zoom_id.to_owned());
            }
            if book.0.conversations.len() > MAX_CONVERSATIONS {
                let oldest = book
                    .0
                    .conversations
                    .iter()
                    .min_by_key(|(_, m)| m.ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    book.0.conversations.remove(&k);
                }
            }
        }
        let due = {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            written.1 = true;
            written.0.is_none_or(|at| at.elapsed() >= SAVE_EVERY)
        };
        if due {
            self.save();
        }
    }

    /// Writes the marks if they changed since the last write.
    pub(crate) fn flush(&self) {
        if self.written.lock().unwrap_or_else(|e| e.into_inner()).1 {
            self.save();
        }
    }

    /// When the last event arrived.
    pub(crate) fn last_event_ms(&self) -> Option<i64> {
        self.lock().0.last_event_ms
    }

    /// Writes the marks (atomically); failures are logged.
    pub(crate) fn save(&self) {
        let Some(path) = &self.path else { return };
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = (Some(Instant::now()), false);
        let text = match serde_json::to_vec(&self.lock().0) {
            Ok(t) => t,
            Err(_) => return,
        };
        let tmp = path.with_extension("part");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the catch-up marks");
        }
    }

    /// True when `m` of `conversation` was delivered (or predates its mark).
    fn delivered(&self, conversation: &str, m: &ListedChatMessage) -> bool {
        let book = self.lock();
        if book.1.contains(&m.id) {
            return true;
        }
        let Some(mark) = book.0.conversations.get(conversation) else {
            return false;
        };
        match m.timestamp {
            Some(ts) => ts < mark.ms || (ts == mark.ms && mark.ids.contains(&m.id)),
            None => false,
        }
    }

    /// Conversations and the time of their mark, most recently active first.
    fn conversations(&self) -> Vec<(String, i64)> {
        let mut list: Vec<_> = self
            .lock()
            .0
            .conversations
            .iter()
            .map(|(k, v)| (k.clone(), v.ms))
            .collect();
        list.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        list
    }
}

/// Notices connection gaps from the session's status: a gap opens when the
/// connection is lost (or at start, when an earlier run left marks) and
/// closes when it is back. Recycling keeps the state `Connected`: no gap.
pub(crate) struct GapWatch {
    open_since: Option<i64>,
    connected: bool,
}

impl GapWatch {
    /// `restart_from`: the last event of an earlier run, if any.
    pub(crate) fn new(restart_from: Option<i64>) -> Self {
        Self {
            open_since: restart_from,
            connected: false,
        }
    }

    /// The gap `(from, to)` that just closed, if one did.
    pub(crate) fn observe(
        &mut self,
        s: &SessionStatus,
        last_event_ms: Option<i64>,
        now_ms: i64,
    ) -> Option<(i64, i64)> {
        if s.state == ConnectionState::Connected {
            if self.connected {
                return None;
            }
            self.connected = true;
            let from = self.open_since.take()?;
            return Some((from, s.connected_since_ms.unwrap_or(now_ms).max(from)));
        }
        if self.connected {
            self.connected = false;
            let alive = [s.last_frame_at_ms, last_event_ms]
                .into_iter()
                .flatten()
                .max();
            self.open_since = Some(alive.unwrap_or(now_ms));
        }
        None
    }
}

/// The outcome of one catch-up.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Recovered messages as `chat_message.sent` events, oldest first.
    pub(crate) events: Vec<Event>,
    /// Conversations with more missing messages than the bounds let through.
    pub(crate) cut: Vec<String>,
    /// Why some conversations could not be listed.
    pub(crate) failures: Vec<String>,
}

/// Lists what each known conversation missed between its mark and `until_ms`.
/// `user` is the Team Chat user whose view is listed (`None` for a chatbot,
/// which cannot list history); messages `own_ids` sent are skipped.
pub(crate) async fn recover(
    api: &ZoomApi,
    marks: &Marks,
    user: Option<&str>,
    own_ids: &[String],
    limits: Limits,
    until_ms: i64,
) -> Recovery {
    let mut out = Recovery::default();
    let Some(user) = user else {
        out.failures
            .push("a chatbot cannot list Team Chat history, so no messages were recovered".into());
        return out;
    };
    let mut budget = limits.total;
    for (conversation_id, since_ms) in marks.conversations() {
        if budget == 0 {
            out.cut.push(conversation_id);
            continue;
        }
        let Ok(target) = parse_target(&conversation_id, None) else {
            continue;
        };
        let history = history_target(&target);
        let bound = limits.per_conversation.min(budget);
        let missed =
            |m: &ListedChatMessage| !marks.delivered(&conversation_id, m) && !sent_by(m, own_ids);
        match list(api, user, &history, since_ms, until_ms, bound, missed).await {
            Ok((fresh, more)) => {
                budget -= fresh.len().min(budget);
                if more {
                    out.cut.push(conversation_id.clone());
                }
                out.events
                    .extend(fresh.iter().filter_map(|m| as_event(&target, m, until_ms)));
            }
            Err(e) => {
                tracing::warn!(conversation = %conversation_id, error = %e, "catch-up listing failed");
                out.failures.push(format!("{conversation_id}: {e}"));
            }
        }
    }
    out.events.sort_by_key(|e| e.event_ts.unwrap_or(0));
    out
}

/// Which conversation a history query for `target` reads.
pub(crate) fn history_target(target: &Target) -> HistoryTarget {
    match target {
        Target::Channel(c) => HistoryTarget::Channel(c.clone()),
        Target::Contact(c) => HistoryTarget::Contact(c.clone()),
    }
}

/// Whether one of `own_ids` (our sender, `self_ids`) sent `m`.
pub(crate) fn sent_by(m: &ListedChatMessage, own_ids: &[String]) -> bool {
    m.sender
        .as_deref()
        .is_some_and(|s| own_ids.iter().any(|o| o.eq_ignore_ascii_case(s)))
}

/// Up to `bound` newest messages of one conversation in `[since, until]`
/// that `keep` accepts, and whether more were left.
pub(crate) async fn list(
    api: &ZoomApi,
    user: &str,
    target: &HistoryTarget,
    since_ms: i64,
    until_ms: i64,
    bound: usize,
    keep: impl Fn(&ListedChatMessage) -> bool,
) -> Result<(Vec<ListedChatMessage>, bool), zoom::ZoomError> {
    let (from, to) = (iso(since_ms), iso(until_ms + 999));
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    // Pages hold at least one message each, and a conversation's history
    // since its mark is finite, but a misbehaving server is cut off here.
    for _ in 0..MAX_PAGES {
        let page = api
            .list_chat_messages(
                user,
                target,
                &from,
                &to,
                CHAT_HISTORY_MAX_PAGE,
                token.as_deref(),
            )
            .await?;
        for m in page.messages.into_iter().filter(|m| keep(m)) {
            if got.len() == bound {
                return Ok((got, true));
            }
            got.push(m);
        }
        token = page.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok((got, false));
        }
    }
    Ok((got, true))
}

/// `2025-01-06T09:00:00Z` (Zoom's `from` / `to` format), floored to the second.
fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A listed message as the `chat_message.sent` event Zoom would have pushed.
fn as_event(target: &Target, m: &ListedChatMessage, until_ms: i64) -> Option<Event> {
    let ts = m.timestamp.unwrap_or(until_ms);
    let mut object = json!({
        "id": m.id,
        "message": m.message.clone().unwrap_or_default(),
        "timestamp": ts,
        "date_time": m.date_time,
    });
    match target {
        Target::Channel(c) => {
            object["type"] = "to_channel".into();
            object["channel_id"] = c.clone().into();
        }
        Target::Contact(c) => {
            object["type"] = "to_contact".into();
            object["contact_email"] = c.clone().into();
        }
    }
    if let Some(root) = m.reply_main_message_id.as_deref().filter(|r| !r.is_empty()) {
        object["reply_main_message_id"] = root.into();
    }
    let value = json!({
        "event": "chat_message.sent",
        "event_ts": ts,
        "payload": {
            "operator": m.sender.clone().unwrap_or_default(),
            "operator_id": m.sender_member_id,
            "recovered": true,
            "object": object,
        }
    });
    Event::from_value(value).ok()
}

/// The feed notice of a gap.
pub(crate) fn notice(from_ms: i64, to_ms: i64, recovered: u64, r: &Recovery) -> InboundMessage {
    let mut body = format!(
        "Zoom events between {} and {} may be missing: the connection to Zoom was down \
         or the sidecar was stopped. Meeting and other events of that time cannot be recovered.",
        utc_time_ms(from_ms),
        utc_time_ms(to_ms)
    );
    body.push_str(&format!(" Team Chat messages recovered: {recovered}."));
    if !r.cut.is_empty() {
        body.push_str(&format!(
            " More messages than the catch-up bounds allow were missed in {}; only the latest were delivered.",
            r.cut.join(", ")
        ));
    }
    if !r.failures.is_empty() {
        body.push_str(&format!(" Not recovered: {}.", r.failures.join("; ")));
    }
    let digest = Sha256::digest(format!("gap|{from_ms}|{to_ms}"));
    let mut hex = hex::encode(digest);
    hex.truncate(32);
    InboundMessage {
        message_id: format!("zoom-gap-{hex}"),
        conversation: conversation::feed(),
        sender: moltbot_channel::Party {
            id: SYSTEM_SENDER_ID.into(),
            name: Some("Zoom".into()),
        },
        body,
        timestamp_ms: to_ms,
        reply_to_id: None,
        event_type: GAP_EVENT.into(),
        mode: DeliveryMode::Context,
        participants: Vec::new(),
        raw: None,
        mentioned: None,
        attachments: Vec::new(),
        upstream_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ConnectionState, since: Option<i64>, frame: Option<i64>) -> SessionStatus {
        SessionStatus {
            state,
            connected_since_ms: since,
            last_frame_at_ms: frame,
            ..SessionStatus::default()
        }
    }

    #[test]
    fn gaps_open_on_loss_and_close_on_reconnect_but_not_on_recycling() {
        let mut w = GapWatch::new(None);
        assert_eq!(
            w.observe(&status(ConnectionState::Connecting, None, None), None, 1),
            None
        );
        assert_eq!(
            w.observe(&status(ConnectionState::Connected, Some(5), None), None, 5),
            None
        );
        // A recycle: still connected, new connection time.
        assert_eq!(
            w.observe(
                &status(ConnectionState::Connected, Some(9), Some(8)),
                None,
                9
            ),
            None
        );
        let lost = status(ConnectionState::Reconnecting { attempt: 1 }, None, Some(20));
        assert_eq!(w.observe(&lost, Some(15), 25), None);
        assert_eq!(
            w.observe(
                &status(ConnectionState::Connected, Some(40), None),
                None,
                41
            ),
            Some((20, 40))
        );
        let mut restarted = GapWatch::new(Some(100));
        assert_eq!(
            restarted.observe(
                &status(ConnectionState::Connected, Some(300), None),
                None,
                301
            ),
            Some((100, 300))
        );
    }

    #[test]
    fn marks_survive_a_restart_and_tell_delivered_from_missed() {
        let dir = std::env::temp_dir().join(format!("catchup-marks-{}", std::process::id()));
        let path = dir.join("marks.json");
        let message = |kind: ChatType, id: &str| InboundMessage {
            conversation: moltbot_channel::Conversation {
                id: id.into(),
                kind,
                label: None,
            },
            ..notice(0, 0, 0, &Recovery::default())
        };
        let marks = Marks::load(Some(path.clone()));
        marks.note_event(5);
        marks.note_chat(&message(ChatType::Channel, "zoom;+;channel:c"), 100, "a");
        marks.note_chat(&message(ChatType::Channel, "zoom;+;channel:c"), 100, "b");
        // Feed and meeting conversations have no history to list.
        marks.note_chat(&message(ChatType::Group, "zoom;+;feed"), 200, "f");
        // The first change is written at once, later ones within SAVE_EVERY
        // wait for a flush.
        let early = Marks::load(Some(path.clone()));
        let listed_b = ListedChatMessage {
            id: "b".into(),
            timestamp: Some(100),
            ..Default::default()
        };
        assert!(!early.delivered("zoom;+;channel:c", &listed_b));
        marks.flush();
        let again = Marks::load(Some(path));
        assert_eq!(again.last_event_ms(), Some(5));
        assert_eq!(
            again.conversations(),
            [("zoom;+;channel:c".to_owned(), 100)]
        );
        let listed = |id: &str, ts: i64| ListedChatMessage {
            id: id.into(),
            timestamp: Some(ts),
            ..Default::default()
        };
        let conv = "zoom;+;channel:c";
        assert!(again.delivered(conv, &listed("b", 100)));
        assert!(again.delivered(conv, &listed("old", 99)));
        assert!(
            !again.delivered(conv, &listed("c", 100)),
            "same ms, other id"
        );
        assert!(!again.delivered(conv, &listed("d", 101)));
        assert!(!again.delivered("zoom;-;x", &listed("d", 101)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn listed_messages_become_chat_events_in_their_conversation() {
        let m = ListedChatMessage {
            id: "m-1".into(),
            message: Some("hello".into()),
            sender: Some("alice@example.com".into()),
            timestamp: Some(1_736_150_400_000),
            ..Default::default()
        };
        let e = as_event(&Target::Channel("chan-1".into()), &m, 0).unwrap();
        assert_eq!(e.event, "chat_message.sent");
        assert_eq!(e.event_ts, Some(1_736_150_400_000));
        let o = e.object().unwrap();
        assert_eq!(o["channel_id"], "chan-1");
        assert_eq!(o["id"], "m-1");
        assert_eq!(iso(1_736_150_400_999), "2025-01-06T08:00:00Z");
    }
}
