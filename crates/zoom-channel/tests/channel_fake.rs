//! `ZoomChannel` against the fake Zoom: events in, Team Chat / Chatbot out.

use std::time::Duration;

use fake_zoom::{FakeConfig, FakeZoom, Knobs};
use moltbot_channel::{
    CancellationToken, Channel, ChannelError, ChatType, ConnectionState, InboundMessage,
    InboundReceiver, MediaSource, OutboundMedia, OutboundMessage, Secret, SendOptions,
    StartContext, inbound_channel,
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use zoom::{
    Credentials, Grant, SessionConfig, TokenProvider, WebhookConfig, ZoomApi, serve_webhooks,
    webhook_router,
};
use zoom_channel::{Rendered, Renderer, SendAs, ZoomChannel, ZoomChannelConfig, split_markdown};
use zoom_wire::{Event, SendChatMessage};

const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    fake: FakeZoom,
    channel: ZoomChannel,
    inbound: InboundReceiver,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), ChannelError>>,
}

fn base_config(fake: &FakeZoom) -> ZoomChannelConfig {
    ZoomChannelConfig {
        subscription_id: fake.config().subscription_id.clone(),
        send_as: SendAs::User {
            sender: "me@example.com".into(),
        },
        ..Default::default()
    }
}

/// Token provider and REST client against the fake.
fn clients(fake: &FakeZoom) -> (TokenProvider, ZoomApi) {
    let http = reqwest::Client::new();
    let creds = Credentials {
        client_id: fake.config().client_id.clone(),
        client_secret: Secret::new(fake.config().client_secret.clone()),
        account_id: Some(fake.config().account_id.clone()),
        grant: Grant::AccountCredentials,
    };
    let tokens = TokenProvider::new(http.clone(), &fake.base_url(), creds);
    let api = ZoomApi::new(http, &fake.base_url(), tokens.clone());
    (tokens, api)
}

fn build(fake: &FakeZoom, config: ZoomChannelConfig) -> ZoomChannel {
    let (tokens, api) = clients(fake);
    let session = SessionConfig::new(fake.ws_url(), fake.config().subscription_id.clone());
    ZoomChannel::new(config, session, tokens, api)
}

/// Starts the fake and a channel connected to it.
async fn start(
    knobs: impl FnOnce(&mut Knobs),
    config: impl FnOnce(&mut ZoomChannelConfig),
) -> Harness {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    fake.update_knobs(knobs);
    let mut cfg = base_config(&fake);
    config(&mut cfg);
    let channel = build(&fake, cfg);
    let (tx, inbound) = inbound_channel(64);
    let cancel = CancellationToken::new();
    let ctx = StartContext {
        account_id: "default".into(),
        inbound: tx,
        cancel: cancel.clone(),
    };
    let runner = channel.clone();
    let task = tokio::spawn(async move { runner.start(ctx).await });
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "channel never connected"
    );
    Harness {
        fake,
        channel,
        inbound,
        cancel,
        task,
    }
}

impl Harness {
    async fn next(&mut self) -> InboundMessage {
        tokio::time::timeout(WAIT, self.inbound.recv())
            .await
            .expect("no inbound message in time")
            .expect("inbound closed")
            .ack()
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("start did not return after cancel")
            .unwrap()
            .unwrap();
        self.fake.shutdown();
    }

    fn push(&self, event: &Value) {
        assert_eq!(self.fake.push_event(event.clone()), 1);
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn expected(config: &ZoomChannelConfig, event: &Value) -> InboundMessage {
    let event = Event::from_value(event.clone()).unwrap();
    match Renderer::new(config).render(&event, 0) {
        Rendered::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

fn text(conversation_id: &str, text: &str) -> OutboundMessage {
    OutboundMessage {
        conversation_id: conversation_id.into(),
        text: text.into(),
        reply_to_id: None,
    }
}

/// A chat message from another user in `chan-1`.
fn chat_from(operator: &str, id: &str, message: &str) -> Value {
    json!({
        "event": "chat_message.sent",
        "event_ts": 1_700_000_000_000i64,
        "payload": {
            "account_id": "fake-account",
            "operator": operator,
            "operator_id": format!("uid-{id}"),
            "object": {
                "id": id, "type": "to_channel", "channel_id": "chan-1",
                "channel_name": "General", "message": message,
                "timestamp": 1_700_000_000_000i64
            }
        }
    })
}

#[tokio::test]
async fn end_to_end_events_in_and_sends_out() {
    let mut h = start(|_| {}, |_| {}).await;
    let config = base_config(&h.fake);

    for name in [
        "meeting.started",
        "meeting.participant_joined",
        "team_chat.dm_message_posted",
    ] {
        let event = fixture(name);
        h.push(&event);
        let got = h.next().await;
        let want = expected(&config, &event);
        assert_eq!(got.message_id, want.message_id, "{name}");
        assert_eq!(got.body, want.body, "{name}");
        assert_eq!(got.conversation, want.conversation, "{name}");
        assert_eq!(got.sender, want.sender, "{name}");
        assert_eq!(got.mode, want.mode, "{name}");
    }

    let status = h.channel.status();
    assert_eq!(status.connection, ConnectionState::Connected);
    assert_eq!(status.counters.events_received, 3);
    assert_eq!(status.counters.messages_emitted, 3);
    assert!(status.last_event_at_ms.is_some() && status.last_event_lag_ms.is_some());
    assert_eq!(status.counters.connects, 1);

    let dm = h
        .channel
        .send_text(text("zoom;-;alice@example.com", "Sure, 4pm it is."))
        .await
        .unwrap();
    let chan = h
        .channel
        .send_text(text("zoom;+;channel:chan-1", "Summary coming up."))
        .await
        .unwrap();
    let bare = h
        .channel
        .send_text(text("bob@example.com", "hi bob"))
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].id, dm.message_id);
    assert_eq!(
        sent[0].body.to_contact.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(sent[0].body.to_channel, None);
    assert_eq!(sent[0].body.message, "Sure, 4pm it is.");
    assert_eq!(sent[1].id, chan.message_id);
    assert_eq!(sent[1].body.to_channel.as_deref(), Some("chan-1"));
    assert_eq!(sent[1].body.to_contact, None);
    assert_eq!(sent[2].body.to_contact.as_deref(), Some("bob@example.com"));
    assert_eq!(bare.conversation_id, "bob@example.com");
    assert_eq!(h.channel.status().counters.sent, 3);

    // Unknown channel: NotFound, counted as a failure.
    let err = h
        .channel
        .send_text(text("zoom;+;channel:nope", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::NotFound(_)), "{err}");
    assert_eq!(h.channel.status().counters.send_failures, 1);
    h.stop().await;
}

#[tokio::test]
async fn self_echo_filter() {
    let mut h = start(|k| k.echo_sends = true, |_| {}).await;
    let sent = h
        .channel
        .send_text(text("zoom;+;channel:chan-1", "hello from the assistant"))
        .await
        .unwrap();
    // The fake echoes chat_message.sent and team_chat.channel_message_posted
    // for our post before this event; neither may come out.
    h.push(&chat_from("bob@example.com", "bob-msg-1", "hello from bob"));
    let got = h.next().await;
    assert_eq!(got.body, "hello from bob");
    assert_eq!(got.sender.id, "bob@example.com");
    assert!(h.inbound.try_recv().is_err(), "an echo leaked");
    assert!(h.channel.status().counters.filtered >= 2);

    // A late redelivery of the echo with a different event_ts is still ours (by id).
    let mut late = chat_from(
        "me@example.com",
        &sent.message_id,
        "hello from the assistant",
    );
    late["event_ts"] = json!(1_800_000_000_000i64);
    h.push(&late);
    h.push(&chat_from("bob@example.com", "bob-msg-2", "second"));
    assert_eq!(h.next().await.body, "second");
    assert!(h.inbound.try_recv().is_err());
    h.stop().await;
}

/// A Team Chat message from `operator` in channel `channel`.
fn chat_in(channel: &str, operator: &str, id: &str, message: &str) -> Value {
    let mut event = chat_from(operator, id, message);
    event["payload"]["object"]["channel_id"] = json!(channel);
    event
}

#[tokio::test]
async fn a_persons_message_equal_to_a_reply_in_flight_is_never_dropped() {
    // Zoom answers our post 3 s after echoing it.
    let mut h = start(
        |k| {
            k.echo_sends = true;
            k.send_response_delay_ms = Some(3_000);
        },
        |_| {},
    )
    .await;
    let sender = h.channel.clone();
    let send =
        tokio::spawn(async move { sender.send_text(text("zoom;+;channel:chan-1", "ok")).await });
    // The post is in the fake (and its echo pushed) while its answer waits.
    assert!(h.fake.wait_for_team_chat(1, WAIT).await);
    // Alice says "ok" in the same channel and in another one.
    h.push(&chat_in("chan-1", "alice@example.com", "alice-1", "ok"));
    h.push(&chat_in("chan-2", "alice@example.com", "alice-2", "ok"));
    // Our sender's own account typing "ok" in another channel is a person too.
    h.push(&chat_in("chan-2", "me@example.com", "me-typed-1", "ok"));
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = h.next().await;
        got.push((m.sender.id, m.conversation.id, m.body));
    }
    assert_eq!(
        got,
        [
            (
                "alice@example.com".into(),
                "zoom;+;channel:chan-1".into(),
                "ok".into()
            ),
            (
                "alice@example.com".into(),
                "zoom;+;channel:chan-2".into(),
                "ok".into()
            ),
            (
                "me@example.com".into(),
                "zoom;+;channel:chan-2".into(),
                "ok".into()
            ),
        ]
    );
    let sent = send.await.unwrap().unwrap();
    // Our own echoes (both event kinds) were held, then dropped by id.
    h.push(&chat_from("bob@example.com", "bob-after", "after"));
    assert_eq!(h.next().await.body, "after");
    assert!(h.inbound.try_recv().is_err(), "our echo leaked");
    assert!(h.fake.team_chat_messages()[0].id == sent.message_id);
    assert!(h.channel.status().counters.filtered >= 2);
    h.stop().await;
}

#[tokio::test]
async fn a_held_message_from_our_sender_that_is_not_the_echo_is_delivered() {
    let mut h = start(
        |k| {
            k.echo_sends = false;
            k.send_response_delay_ms = Some(1_000);
        },
        |_| {},
    )
    .await;
    let sender = h.channel.clone();
    let send =
        tokio::spawn(async move { sender.send_text(text("zoom;+;channel:chan-1", "ok")).await });
    assert!(h.fake.wait_for_team_chat(1, WAIT).await);
    // Our sender's account types the same text in the same channel: it could
    // be the echo until the answer tells the id; it is not, so it arrives.
    h.push(&chat_in("chan-1", "me@example.com", "typed-by-hand", "ok"));
    let m = h.next().await;
    assert_eq!(
        (m.sender.id.as_str(), m.body.as_str()),
        ("me@example.com", "ok")
    );
    assert!(send.await.unwrap().is_ok());
    h.stop().await;
}

#[tokio::test]
async fn self_ids_filter_operator_posts() {
    let mut h = start(
        |k| k.echo_sends = false,
        |c| c.self_ids = vec!["Carol@Example.com".into()],
    )
    .await;
    h.push(&chat_from(
        "carol@example.com",
        "c-1",
        "from carol, our operator",
    ));
    h.push(&chat_from("bob@example.com", "b-1", "from bob"));
    assert_eq!(h.next().await.body, "from bob");
    assert!(h.inbound.try_recv().is_err());
    h.stop().await;
}

#[tokio::test]
async fn dedup_of_duplicate_events() {
    let mut h = start(|k| k.duplicate_events = true, |_| {}).await;
    let event = fixture("meeting.ended");
    h.push(&event);
    // A redelivery whose raw text differs (so the session's content dedup
    // cannot catch it) but whose identity is the same: only the channel's
    // message-id dedup drops it.
    let mut reordered = event.clone();
    reordered["payload"]["object"]["duration"] = json!(61);
    reordered["redelivered"] = json!(true);
    h.push(&reordered);
    h.push(&fixture("meeting.started"));
    let first = h.next().await;
    assert_eq!(first.event_type, "meeting.ended");
    let second = h.next().await;
    assert_eq!(second.event_type, "meeting.started", "a duplicate leaked");
    assert!(h.inbound.try_recv().is_err());
    let status = h.channel.status();
    // Four copies of meeting.ended reached the channel or the session; three were dropped.
    assert!(status.counters.duplicates_dropped >= 3, "{status:?}");
    h.stop().await;
}

#[tokio::test]
async fn split_5000_chars_sends_five_parts_in_order() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    let text_5000: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let result = h
        .channel
        .send_text(OutboundMessage {
            conversation_id: "zoom;+;channel:chan-1".into(),
            text: text_5000.clone(),
            reply_to_id: Some("root-msg-1".into()),
        })
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 5);
    assert_eq!(
        result.part_ids,
        sent.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(result.message_id, sent[0].id);
    let joined: String = sent.iter().map(|m| m.body.message.as_str()).collect();
    assert_eq!(joined, text_5000);
    for m in &sent {
        assert!(m.body.message.chars().count() <= 1024);
        assert_eq!(m.body.reply_main_message_id.as_deref(), Some("root-msg-1"));
        assert_eq!(m.body.to_channel.as_deref(), Some("chan-1"));
    }
    h.stop().await;
}

fn keyed(key: &str, max_wait_ms: u64) -> SendOptions {
    SendOptions {
        idempotency_key: Some(key.into()),
        max_wait: Some(Duration::from_millis(max_wait_ms)),
        ..SendOptions::default()
    }
}

/// Words of `chars` characters in total: splits into `chars / 1024` parts or so.
fn long_text(chars: usize) -> String {
    "lorem ipsum ".repeat(chars / 12 + 1)[..chars].to_owned()
}

#[tokio::test]
async fn dm_and_default_target_replies_are_not_held_to_channel_windows() {
    // Zoom documents its windows on channel posts; DMs (where every meeting
    // reply goes via `defaultTarget`) get none: 70 replies in a row all post.
    let h = start(
        |k| k.echo_sends = false,
        |c| c.default_target = Some("alice@example.com".into()),
    )
    .await;
    for i in 0..35 {
        h.channel
            .send_text(text("zoom;-;bob@example.com", &format!("dm {i}")))
            .await
            .unwrap();
        h.channel
            .send_text(text("zoom;+;meeting:1234567890", &format!("meeting {i}")))
            .await
            .unwrap();
    }
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 70);
    assert!(sent.iter().all(|m| m.body.to_contact.is_some()));
    // A 100 kB reply to a DM posts every part and reports success once.
    let big = long_text(100_000);
    let result = h
        .channel
        .send_text(text("zoom;-;bob@example.com", &big))
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(result.part_ids.len(), sent.len() - 70);
    let joined: String = sent[70..].iter().map(|m| m.body.message.as_str()).collect();
    assert_eq!(joined, big);
    assert_eq!(h.channel.status().counters.send_failures, 0);
    h.stop().await;
}

#[tokio::test]
async fn a_multi_part_channel_reply_is_checked_against_the_windows_before_its_first_part() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    for i in 0..10 {
        h.channel
            .send_text(text("zoom;+;channel:chan-1", &format!("msg {i}")))
            .await
            .unwrap();
    }
    // Two parts: the second would need the 1 s window to slide, beyond a
    // 300 ms wait, so nothing is posted and the caller learns when to retry.
    let two_parts = long_text(1500);
    let err = h
        .channel
        .send_text_with(text("zoom;+;channel:chan-1", &two_parts), keyed("t-1", 300))
        .await
        .unwrap_err();
    let ChannelError::RateLimited {
        retry_after: Some(retry_after),
    } = err
    else {
        panic!("{err}")
    };
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
    assert_eq!(h.fake.team_chat_messages().len(), 10, "a part was posted");
    // With room to wait, the same reply waits for the window and posts both.
    let result = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &two_parts),
            keyed("t-1", 3_000),
        )
        .await
        .unwrap();
    assert_eq!(result.part_ids.len(), 2);
    assert_eq!(h.fake.team_chat_messages().len(), 12);
    // A reply that cannot fit the windows within the wait at all is refused
    // up front (31 posts need 10 s of Zoom's 30 / 10 s window).
    let err = h
        .channel
        .send_text(text("zoom;+;channel:chan-1", &long_text(31 * 1000)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::BadRequest(ref m) if m.contains("shorten")),
        "{err}"
    );
    assert_eq!(h.fake.team_chat_messages().len(), 12);
    h.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_key_resumes_after_a_partial_failure() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    // Someone else used 9 of chan-1's 10 / 1 s behind our back: our second
    // part meets Zoom's 429 (a 10 s block), beyond the send's wait.
    let (_, api) = clients(&h.fake);
    for i in 0..9 {
        let body = SendChatMessage {
            message: format!("other {i}"),
            to_channel: Some("chan-1".into()),
            ..Default::default()
        };
        api.send_chat_message("me@example.com", &body)
            .await
            .unwrap();
    }
    let three_parts = long_text(2500);
    let err = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &three_parts),
            keyed("tmp-1", 1_000),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::RateLimited { .. }), "{err}");
    let first = h.fake.team_chat_messages()[9].clone();
    assert_eq!(h.fake.team_chat_messages().len(), 10);
    // The block ends; the caller retries with the same key: only parts 2 and
    // 3 are posted, and the result names all three.
    h.fake.reset();
    let result = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &three_parts),
            keyed("tmp-1", 1_000),
        )
        .await
        .unwrap();
    let rest = h.fake.team_chat_messages();
    assert_eq!(rest.len(), 2);
    assert_eq!(result.message_id, first.id);
    assert_eq!(
        result.part_ids,
        [first.id.clone(), rest[0].id.clone(), rest[1].id.clone()]
    );
    let joined = format!(
        "{}{}{}",
        first.body.message, rest[0].body.message, rest[1].body.message
    );
    assert_eq!(joined, three_parts);
    // Once more: the same result, nothing posted.
    let again = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &three_parts),
            keyed("tmp-1", 1_000),
        )
        .await
        .unwrap();
    assert_eq!(again, result);
    assert_eq!(h.fake.team_chat_messages().len(), 2);
    // The key names that message only.
    let err = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", "different"),
            keyed("tmp-1", 1_000),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::BadRequest(_)), "{err}");
    h.stop().await;
}

/// A keyed send that another process began and did not finish (it posted
/// the first parts, then stopped): the channel reads the conversation's
/// history and posts only what Zoom does not have; a send whose every part
/// is there posts nothing.
#[tokio::test]
async fn an_interrupted_send_posts_only_the_parts_zoom_does_not_have() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    let (_, api) = clients(&h.fake);
    let post = |message: &str| {
        let body = SendChatMessage {
            message: message.to_owned(),
            to_channel: Some("chan-1".into()),
            ..Default::default()
        };
        let api = api.clone();
        async move {
            api.send_chat_message("me@example.com", &body)
                .await
                .unwrap()
                .id
        }
    };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let since = i64::try_from(since).unwrap();
    let three_parts = long_text(2500);
    let parts = split_markdown(&three_parts, SendChatMessage::MAX_CHARS);
    assert_eq!(parts.len(), 3);
    // What the process that stopped had posted, after another reply of ours.
    post("an earlier reply").await;
    let first = post(&parts[0]).await;
    let second = post(&parts[1]).await;
    let interrupted = |key: &str| SendOptions {
        interrupted_since_ms: Some(since),
        ..keyed(key, 1_000)
    };
    let result = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &three_parts),
            interrupted("tmp-9"),
        )
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 4, "only the third part is posted");
    assert_eq!(sent[3].body.message, parts[2]);
    assert_eq!(result.part_ids, [first.clone(), second, sent[3].id.clone()]);
    assert_eq!(result.message_id, first);
    // Every part already there: nothing posted, the same ids answered.
    let done = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", &three_parts),
            interrupted("tmp-10"),
        )
        .await
        .unwrap();
    assert_eq!(h.fake.team_chat_messages().len(), 4);
    assert_eq!(done.part_ids, result.part_ids);
    // Nothing there (the process stopped before its first post): all parts.
    let fresh = h
        .channel
        .send_text_with(
            text("zoom;+;channel:chan-1", "never posted"),
            interrupted("tmp-11"),
        )
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 5);
    assert_eq!(fresh.part_ids, [sent[4].id.clone()]);
    h.stop().await;
}

#[tokio::test]
async fn a_caller_that_stops_waiting_does_not_cut_the_send_and_its_retry_posts_nothing_twice() {
    let h = start(
        |k| {
            k.echo_sends = false;
            k.send_response_delay_ms = Some(300);
        },
        |_| {},
    )
    .await;
    let three_parts = long_text(2500);
    // The caller gives up after 100 ms (as the shim's send bound would).
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        h.channel.send_text_with(
            text("zoom;-;alice@example.com", &three_parts),
            keyed("tmp-2", 5_000),
        ),
    )
    .await;
    assert!(gave_up.is_err());
    // Its retry waits behind the first send (same target), then returns its result.
    let result = h
        .channel
        .send_text_with(
            text("zoom;-;alice@example.com", &three_parts),
            keyed("tmp-2", 5_000),
        )
        .await
        .unwrap();
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent.len(), 3, "a part was posted twice");
    assert_eq!(
        result.part_ids,
        sent.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    );
    h.stop().await;
}

#[tokio::test]
async fn retry_after_429_is_honoured() {
    let h = start(
        |k| {
            k.echo_sends = false;
            k.force_429_count = 1;
            k.retry_after_secs = 1;
        },
        |_| {},
    )
    .await;
    h.channel
        .send_text(text("zoom;-;alice@example.com", "after a pause"))
        .await
        .unwrap();
    let posts: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].status, 429);
    assert_eq!(posts[1].status, 201);
    assert!(posts[1].at_ms - posts[0].at_ms >= 1000, "{posts:?}");
    assert_eq!(h.fake.team_chat_messages().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn zoom_429_beyond_the_budget_is_rate_limited() {
    let h = start(
        |k| {
            k.echo_sends = false;
            k.force_429_count = 1;
            k.retry_after_secs = 30;
        },
        |_| {},
    )
    .await;
    let err = h
        .channel
        .send_text(text("zoom;-;alice@example.com", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{err}"
    );
    assert!(err.is_retryable());
    h.stop().await;
}

#[tokio::test]
async fn client_side_rate_limit_waits_instead_of_429() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    for i in 0..11 {
        h.channel
            .send_text(text("zoom;+;channel:chan-1", &format!("msg {i}")))
            .await
            .unwrap();
    }
    let posts: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(posts.len(), 11);
    assert!(posts.iter().all(|p| p.status == 201), "{posts:?}");
    // The 11th waited for the 1 s window to slide.
    assert!(posts[10].at_ms - posts[0].at_ms >= 1000 - 5, "{posts:?}");
    h.stop().await;
}

#[tokio::test]
async fn meeting_conversation_send_without_default_target_is_a_config_error() {
    let h = start(|_| {}, |_| {}).await;
    let err = h
        .channel
        .send_text(text("zoom;+;meeting:1234567890", "hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::Config(_)), "{err}");
    assert!(err.to_string().contains("defaultTo"), "{err}");
    let err = h
        .channel
        .send_text(text("zoom;+;nonsense", "hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::InvalidTarget(_)), "{err}");
    let err = h
        .channel
        .send_text(text("zoom;-;bob@example.com", "  "))
        .await
        .unwrap_err();
    assert!(matches!(err, ChannelError::BadRequest(_)), "{err}");
    assert!(h.fake.team_chat_messages().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn meeting_conversation_goes_to_default_target_and_threads_replies() {
    let mut h = start(
        |k| k.echo_sends = false,
        |c| c.default_target = Some("zoom;+;channel:chan-1".into()),
    )
    .await;
    h.channel
        .send_text(text("zoom;+;meeting:1234567890", "noted"))
        .await
        .unwrap();
    // An inbound chat message carries its Zoom id (the shim stores it and
    // names it in replies): a reply to it threads under it.
    h.push(&chat_from("bob@example.com", "zoom-msg-42", "question?"));
    let q = h.next().await;
    assert_eq!(q.upstream_id.as_deref(), Some("zoom-msg-42"));
    for reply_to in [q.upstream_id.clone(), Some(q.message_id.clone())] {
        h.channel
            .send_text(OutboundMessage {
                conversation_id: q.conversation.id.clone(),
                text: "answer".into(),
                reply_to_id: reply_to,
            })
            .await
            .unwrap();
    }
    let sent = h.fake.team_chat_messages();
    assert_eq!(sent[0].body.to_channel.as_deref(), Some("chan-1"));
    assert_eq!(sent[1].body.to_channel.as_deref(), Some("chan-1"));
    assert_eq!(
        sent[1].body.reply_main_message_id.as_deref(),
        Some("zoom-msg-42")
    );
    // One of our own ids that the shim did not resolve: sent, unthreaded.
    assert_eq!(sent[2].body.reply_main_message_id, None);
    assert_eq!(q.conversation.kind, ChatType::Channel);
    h.stop().await;
}

#[tokio::test]
async fn send_media_sends_urls_as_text_and_uploads_bytes_as_a_chat_file() {
    let h = start(|k| k.echo_sends = false, |_| {}).await;
    h.channel
        .send_media(OutboundMedia {
            conversation_id: "zoom;-;alice@example.com".into(),
            caption: Some("The deck".into()),
            media: MediaSource::Url {
                url: "https://example.com/deck.pdf".into(),
            },
            reply_to_id: None,
        })
        .await
        .unwrap();
    assert_eq!(
        h.fake.team_chat_messages()[0].body.message,
        "The deck\nhttps://example.com/deck.pdf"
    );
    let sent = h
        .channel
        .send_media(file_to_alice("deck.pdf", vec![1, 2, 3]))
        .await
        .unwrap();
    let files = h.fake.sent_files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file_name, "deck.pdf");
    assert_eq!(files[0].size, 3);
    assert_eq!(files[0].content_type.as_deref(), Some("application/pdf"));
    assert_eq!(files[0].to_contact.as_deref(), Some("alice@example.com"));
    assert_eq!(sent.message_id, files[0].id);
    assert_eq!(h.fake.team_chat_messages().len(), 1, "no caption, no text");

    // Over Zoom's 20 MB limit for a non-image: refused before any upload.
    let err = h
        .channel
        .send_media(file_to_alice("huge.zip", vec![0; 20 * 1024 * 1024 + 1]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::BadRequest(ref m) if m.contains("up to 20 MB")),
        "{err}"
    );
    assert_eq!(h.fake.sent_files().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_chatbot_refuses_file_bytes_clearly() {
    let h = start(
        |_| {},
        |c| {
            c.send_as = SendAs::Chatbot {
                robot_jid: "robot@xmpp.zoom.us".into(),
                account_id: "fake-account".into(),
            };
        },
    )
    .await;
    let err = h
        .channel
        .send_media(file_to_alice("deck.pdf", vec![1, 2, 3]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::Unsupported(ref m) if m.contains("chatbot API")),
        "{err}"
    );
    assert!(h.fake.sent_files().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn chatbot_mode_posts_a_card() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let config = ZoomChannelConfig {
        send_as: SendAs::Chatbot {
            robot_jid: fake.config().robot_jid.clone(),
            account_id: fake.config().account_id.clone(),
        },
        ..base_config(&fake)
    };
    let channel = build(&fake, config);
    let result = channel
        .send_text(text(
            "zoom;-;kdykjnimt4kpd8ffgqt9fq@xmpp.zoom.us",
            "Tomorrow: 2 meetings.",
        ))
        .await
        .unwrap();
    let sent = fake.chatbot_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, result.message_id);
    assert_eq!(sent[0].body.to_jid, "kdykjnimt4kpd8ffgqt9fq@xmpp.zoom.us");
    assert_eq!(sent[0].body.robot_jid, fake.config().robot_jid);
    assert_eq!(sent[0].body.content.plain_text(), "Tomorrow: 2 meetings.");
    fake.shutdown();
}

/// A chatbot reply in a channel: Zoom's markdown (`is_markdown_support`), and a
/// long code block split across messages, each part a closed, reopened fence.
#[tokio::test]
async fn chatbot_replies_render_markdown_and_split_code_blocks_whole() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let config = ZoomChannelConfig {
        send_as: SendAs::Chatbot {
            robot_jid: fake.config().robot_jid.clone(),
            account_id: fake.config().account_id.clone(),
        },
        ..base_config(&fake)
    };
    let channel = build(&fake, config);
    let code: String = (0..30)
        .map(|i| format!("step_{i:02}(\"{}\")\n", "x".repeat(40)))
        .collect();
    let reply = format!(
        "## Plan\nSee [the doc](https://example.com/d) ~~today~~.\n\n```python\n{code}```\nDone."
    );
    let result = channel
        .send_text(text("zoom;+;channel:c-1@conference.xmpp.zoom.us", &reply))
        .await
        .unwrap();
    let sent = fake.chatbot_messages();
    assert_eq!(sent.len(), result.part_ids.len());
    assert!(sent.len() >= 3, "{sent:?}");
    let parts: Vec<String> = sent.iter().map(|m| m.body.content.plain_text()).collect();
    for (m, part) in sent.iter().zip(&parts) {
        assert_eq!(m.body.is_markdown_support, Some(true));
        assert_eq!(m.body.to_jid, "c-1@conference.xmpp.zoom.us");
        assert!(part.chars().count() <= 1024, "{part:?}");
    }
    assert_eq!(
        parts[0], "**Plan**\nSee <https://example.com/d|the doc> ~today~.\n\n",
        "the prose goes alone; the code block starts the next message"
    );
    assert!(parts[1].starts_with("```python\nstep_00(") && parts[1].ends_with("\n```"));
    assert!(parts[2].starts_with("```python\nstep_"));
    assert!(parts.last().unwrap().ends_with("```\nDone."));
    // Every code line arrives once, in order.
    let lines: Vec<&str> = parts
        .iter()
        .flat_map(|p| p.lines())
        .filter(|l| l.starts_with("step_"))
        .collect();
    assert_eq!(lines, code.lines().collect::<Vec<_>>());
    fake.shutdown();
}

#[tokio::test]
async fn probe_checks_token_scopes_and_sender() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let report = build(&fake, base_config(&fake)).probe().await;
    assert!(report.ok, "{report:?}");
    let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["config", "oauth", "scopes", "sender"]);

    let unknown_sender = ZoomChannelConfig {
        send_as: SendAs::User {
            sender: "nobody@example.com".into(),
        },
        ..base_config(&fake)
    };
    let report = build(&fake, unknown_sender).probe().await;
    assert!(!report.ok);
    assert!(!report.checks.last().unwrap().ok);

    fake.update_knobs(|k| k.fail_oauth = true);
    let report = build(&fake, base_config(&fake)).probe().await;
    assert!(!report.ok);
    let dump = format!("{report:?}");
    assert!(!dump.contains(&fake.config().client_secret), "{dump}");
    fake.shutdown();
}

#[tokio::test]
async fn bad_credentials_are_retried_with_a_clear_status_until_fixed() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    fake.update_knobs(|k| k.fail_oauth = true);
    let (tokens, api) = clients(&fake);
    let mut session = SessionConfig::new(fake.ws_url(), fake.config().subscription_id.clone());
    // The real cap is minutes (tested with paused time in the zoom crate).
    session.auth_backoff = zoom::Backoff {
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let channel = ZoomChannel::new(base_config(&fake), session, tokens, api);
    let (tx, _rx) = inbound_channel(4);
    let cancel = CancellationToken::new();
    let ctx = StartContext {
        account_id: "default".into(),
        inbound: tx,
        cancel: cancel.clone(),
    };
    let task = tokio::spawn({
        let channel = channel.clone();
        async move { channel.start(ctx).await }
    });
    assert!(
        fake.wait_for_token_requests(3, WAIT).await,
        "a refused token request was not retried"
    );
    assert!(!task.is_finished(), "start gave up on a 401");
    let status = channel.status();
    assert!(
        matches!(status.connection, ConnectionState::Reconnecting { .. }),
        "{status:?}"
    );
    let error = status.last_error.unwrap();
    assert!(
        error.starts_with("Zoom rejected the client credentials (HTTP 401 invalid_client"),
        "{error}"
    );
    assert!(error.contains("retrying in"), "{error}");
    assert!(!error.contains(&fake.config().client_secret));

    // The app is fixed (or reactivated): it connects without a restart.
    fake.update_knobs(|k| k.fail_oauth = false);
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let mut connected = false;
    for _ in 0..200 {
        if channel.status().connected() {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(connected, "{:?}", channel.status());
    cancel.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    fake.shutdown();
}

// ---- webhook transport ----

const WEBHOOK_SECRET: &str = "webhook-secret-token";

/// A channel fed by a webhook receiver served on loopback.
struct WebhookHarness {
    url: String,
    channel: ZoomChannel,
    inbound: InboundReceiver,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), ChannelError>>,
}

async fn start_webhook(
    fake: &FakeZoom,
    config: impl FnOnce(&mut ZoomChannelConfig),
) -> WebhookHarness {
    let mut cfg = base_config(fake);
    config(&mut cfg);
    let (tokens, api) = clients(fake);
    let (tx, rx) = mpsc::channel(8);
    let channel = ZoomChannel::new_webhook(cfg, rx, tokens, api);
    let mut webhook = WebhookConfig::new(Secret::new(WEBHOOK_SECRET));
    webhook.ack_timeout = WAIT;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let cancel = CancellationToken::new();
    tokio::spawn(serve_webhooks(
        listener,
        webhook_router(webhook, tx),
        cancel.clone(),
    ));
    let (inbound_tx, inbound) = inbound_channel(64);
    let ctx = StartContext {
        account_id: "default".into(),
        inbound: inbound_tx,
        cancel: cancel.clone(),
    };
    let runner = channel.clone();
    let task = tokio::spawn(async move { runner.start(ctx).await });
    WebhookHarness {
        url,
        channel,
        inbound,
        cancel,
        task,
    }
}

impl WebhookHarness {
    /// POSTs `event` signed, the way Zoom does, with `retries` retries on 5xx.
    fn post(&self, event: &Value, retries: u32) -> JoinHandle<u16> {
        let (url, event) = (self.url.clone(), event.clone());
        tokio::spawn(async move {
            FakeZoom::send_webhook(
                &url,
                WEBHOOK_SECRET,
                &event,
                retries,
                Duration::from_millis(10),
            )
            .await
            .unwrap()
        })
    }

    async fn delivery(&mut self) -> moltbot_channel::Delivery {
        tokio::time::timeout(WAIT, self.inbound.recv())
            .await
            .expect("no inbound message in time")
            .expect("inbound closed")
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("start did not return after cancel")
            .unwrap()
            .unwrap();
        assert_eq!(self.channel.status().connection, ConnectionState::Stopped);
    }
}

async fn answer(post: JoinHandle<u16>) -> u16 {
    tokio::time::timeout(WAIT, post)
        .await
        .expect("webhook not answered in time")
        .unwrap()
}

#[tokio::test]
async fn same_event_over_ws_and_webhook_renders_identically() {
    let mut ws = start(|k| k.echo_sends = false, |_| {}).await;
    let mut wh = start_webhook(&ws.fake, |_| {}).await;
    let events = [
        fixture("meeting.started"),
        fixture("meeting.sharing_started"),
        chat_from("bob@example.com", "bob-msg-1", "same words either way"),
    ];
    for event in &events {
        ws.push(event);
        let over_ws = ws.next().await;
        let post = wh.post(event, 0);
        let over_webhook = wh.delivery().await.ack();
        assert_eq!(answer(post).await, 200);
        assert_eq!(over_webhook, over_ws, "{}", event["event"]);
    }

    let status = wh.channel.status();
    assert_eq!(status.connection, ConnectionState::Connected);
    assert!(status.connected_since_ms.is_some());
    assert_eq!(status.counters.connects, 1);
    assert_eq!(status.counters.events_received, 3);
    assert_eq!(status.counters.messages_emitted, 3);
    assert!(status.last_event_at_ms.is_some() && status.last_event_lag_ms.is_some());
    wh.stop().await;
    ws.stop().await;
}

#[tokio::test]
async fn webhook_ack_waits_for_the_inbound_ack() {
    let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
    let mut wh = start_webhook(&fake, |c| c.exclude = vec!["user.*".into()]).await;

    // Zoom's 200 waits for the consumer's ack.
    let mut post = wh.post(&fixture("meeting.started"), 0);
    let delivery = wh.delivery().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut post)
            .await
            .is_err(),
        "answered before the inbound ack"
    );
    assert_eq!(delivery.ack().event_type, "meeting.started");
    assert_eq!(answer(post).await, 200);

    // Dropped unacked: Zoom gets a 5xx (the emitter retries only on 5xx) and
    // its retry is delivered again.
    let post = wh.post(&fixture("meeting.ended"), 1);
    let first = wh.delivery().await;
    let id = first.message.message_id.clone();
    drop(first);
    let retried = wh.delivery().await;
    assert_eq!(
        retried.message.message_id, id,
        "the retry is not a duplicate"
    );
    retried.ack();
    assert_eq!(answer(post).await, 200);

    // A filtered event is acked at once, with nothing inbound.
    assert_eq!(answer(wh.post(&fixture("user.created"), 0)).await, 200);
    assert!(wh.inbound.try_recv().is_err());
    let status = wh.channel.status();
    assert_eq!(status.counters.filtered, 1);
    assert_eq!(status.counters.messages_emitted, 2);

    // One receiver, one running start.
    let (tx, _rx) = inbound_channel(1);
    let second = wh.channel.start(StartContext {
        account_id: "default".into(),
        inbound: tx,
        cancel: CancellationToken::new(),
    });
    let err = tokio::time::timeout(WAIT, second)
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ChannelError::Unsupported(_)), "{err}");
    wh.stop().await;
    fake.shutdown();
}

/// File bytes (no caption, no thread) for Alice's DM.
fn file_to_alice(name: &str, data: Vec<u8>) -> OutboundMedia {
    OutboundMedia {
        conversation_id: "zoom;-;alice@example.com".into(),
        caption: None,
        media: MediaSource::Bytes {
            name: name.into(),
            content_type: None,
            data,
        },
        reply_to_id: None,
    }
}
