//! Secrets never reach the logs. Its own test binary with a single test:
//! `tracing`'s per-callsite interest cache is process-wide, so a scoped
//! subscriber can miss events when other tests run in parallel threads.

#[path = "integration/common.rs"]
mod common;

use std::sync::{Arc, Mutex};

use fake_zoom::FakeConfig;
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};
use zoom::ZoomApi;
use zoom_wire::SendChatMessage;

use common::{fake, number_of, numbered, provider, session_config, spawn_session};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_and_secret_never_appear_in_trace_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything at TRACE except the fake server's own logs (not ours to police).
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .with_filter(
            Targets::new()
                .with_default(tracing::Level::TRACE)
                .with_target("fake_zoom", tracing::level_filters::LevelFilter::OFF),
        );
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));

    let fake = fake(FakeConfig::default()).await;
    let tokens = provider(&fake);
    let mut s = spawn_session(session_config(&fake), tokens.clone());
    s.connected(1).await;
    fake.push_event(numbered(1));
    assert_eq!(number_of(&s.next_event().await), 1);
    let first = tokens.token().await.unwrap();
    // Token rejection: refresh + reconnect with a new token in the URL.
    fake.expire_tokens();
    s.connected(2).await;
    let api = ZoomApi::new(reqwest::Client::new(), &fake.base_url(), tokens.clone());
    api.send_chat_message(
        "me",
        &SendChatMessage {
            message: "hello".into(),
            to_channel: Some("chan-1".into()),
            ..SendChatMessage::default()
        },
    )
    .await
    .unwrap();
    let second = tokens.token().await.unwrap();
    s.stop().await.unwrap();
    fake.shutdown();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Zoom WebSocket connected"),
        "capture works: {logs}"
    );
    assert!(logs.contains("Zoom REST call"), "capture works: {logs}");
    assert_ne!(first.value, second.value);
    for secret in [
        first.value.expose(),
        second.value.expose(),
        fake.config().client_secret.as_str(),
        "access_token=",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}
