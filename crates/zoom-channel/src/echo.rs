//! Our own posts coming back as events (self-echo), told apart from other
//! people's messages by what identifies them: Zoom's message id from the send
//! response, the sender, and the conversation — never by text alone.
//!
//! Zoom may deliver the echo of a post before it answers the POST, so the id
//! is not known yet. An event that could be that echo (same conversation,
//! sent by our sender, same text as a post in flight) is held until the post's
//! answer arrives, then decided by id. A message from anyone else, or in
//! another conversation, is never held and never dropped.

use std::time::Duration;

use tokio::sync::watch;

use crate::render::ChatFacts;

/// Longest a possible echo is held when the post's answer never comes; the
/// message is then delivered (at worst our own echo gets through; a person's
/// message is never lost).
pub(crate) const HOLD_MAX: Duration = Duration::from_secs(15);

/// Posts whose answer has not arrived yet.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    next: u64,
    posts: Vec<Post>,
}

#[derive(Debug)]
struct Post {
    token: u64,
    /// [`crate::Target::key`] of where it went.
    target: String,
    /// The text posted, trimmed.
    text: String,
    /// Dropped when the answer is in: wakes every holder.
    done: watch::Sender<()>,
}

impl InFlight {
    /// Records a post to `target` (a target key) of `text`; returns its token.
    pub(crate) fn begin(&mut self, target: String, text: &str) -> u64 {
        self.next += 1;
        let (done, _) = watch::channel(());
        self.posts.push(Post {
            token: self.next,
            target,
            text: text.trim().to_owned(),
            done,
        });
        self.next
    }

    /// Forgets post `token` and wakes those waiting on it.
    pub(crate) fn finish(&mut self, token: u64) {
        self.posts.retain(|p| p.token != token);
    }

    /// Receivers that complete when each post in flight to one of `targets`
    /// with `text` has its answer.
    pub(crate) fn matching(&self, targets: &[String], text: &str) -> Vec<watch::Receiver<()>> {
        let text = text.trim();
        self.posts
            .iter()
            .filter(|p| p.text == text && targets.contains(&p.target))
            .map(|p| p.done.subscribe())
            .collect()
    }

    /// How many posts are in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.posts.len()
    }
}

/// Who "we" are when posting: the configured sender or robot JID, lowercase.
/// `None` when that cannot be told from an event (sender `me`).
#[derive(Debug, Clone)]
pub(crate) struct OwnSender(Option<String>);

impl OwnSender {
    pub(crate) fn new(id: &str) -> Self {
        let id = id.trim().to_lowercase();
        Self((!id.is_empty() && id != "me").then_some(id))
    }

    /// True when `facts` may have been sent by us.
    pub(crate) fn may_have_sent(&self, facts: &ChatFacts) -> bool {
        match &self.0 {
            Some(own) => facts.operators.iter().any(|op| op == own),
            None => true,
        }
    }
}

/// What the self-echo check says about one chat event.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Our own post (its id is one we got back, or an opted-in `selfIds` sender).
    Ours,
    /// Possibly ours: wait for these posts' answers, then decide by id.
    Hold(Vec<watch::Receiver<()>>),
    /// Not ours.
    NotOurs,
}

/// Waits until every held post has its answer (or [`HOLD_MAX`] passes).
pub(crate) async fn wait_for_answers(mut posts: Vec<watch::Receiver<()>>) {
    let all = async {
        for rx in &mut posts {
            // Completes with an error once the sender is dropped.
            while rx.changed().await.is_ok() {}
        }
    };
    if tokio::time::timeout(HOLD_MAX, all).await.is_err() {
        tracing::warn!(
            "a post's answer took over {} s; delivering the held message",
            HOLD_MAX.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(operator: &str) -> ChatFacts {
        ChatFacts {
            message_id: "m".into(),
            operators: vec![operator.into()],
            text: Some("ok".into()),
            targets: vec!["channel:c".into()],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn holds_match_target_and_text_and_end_with_the_answer() {
        let mut inflight = InFlight::default();
        let a = inflight.begin("channel:c".into(), " ok\n");
        let _b = inflight.begin("contact:x@y".into(), "ok");
        assert_eq!(inflight.matching(&["channel:c".into()], "ok").len(), 1);
        assert!(inflight.matching(&["channel:d".into()], "ok").is_empty());
        assert!(inflight.matching(&["channel:c".into()], "okay").is_empty());
        let held = inflight.matching(&["channel:c".into()], "ok");
        let start = tokio::time::Instant::now();
        let waiter = tokio::spawn(wait_for_answers(held));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiter.is_finished());
        inflight.finish(a);
        waiter.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(inflight.len(), 1);
        // An answer that never comes ends the hold at HOLD_MAX.
        let held = inflight.matching(&["contact:x@y".into()], "ok");
        let start = tokio::time::Instant::now();
        wait_for_answers(held).await;
        assert_eq!(start.elapsed(), HOLD_MAX);
    }

    #[test]
    fn own_sender() {
        assert!(OwnSender::new("Me@Example.com").may_have_sent(&facts("me@example.com")));
        assert!(!OwnSender::new("me@example.com").may_have_sent(&facts("alice@example.com")));
        // `me` cannot be told apart: anyone may be us (held, then decided by id).
        assert!(OwnSender::new("me").may_have_sent(&facts("alice@example.com")));
    }
}
