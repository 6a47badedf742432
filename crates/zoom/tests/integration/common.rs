use std::time::Duration;

use fake_zoom::{FakeConfig, FakeZoom};
use moltbot_channel::{ConnectionState, Secret};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::timeout,
};
use tokio_util::sync::CancellationToken;
use zoom::{
    Backoff, Credentials, Grant, ReceivedEvent, Session, SessionConfig, SessionStatus,
    TokenProvider, ZoomError,
};

/// Upper bound on any wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

pub(crate) async fn fake(config: FakeConfig) -> FakeZoom {
    FakeZoom::start(config).await.expect("fake zoom starts")
}

pub(crate) fn credentials(fake: &FakeZoom) -> Credentials {
    Credentials {
        client_id: fake.config().client_id.clone(),
        client_secret: Secret::new(fake.config().client_secret.clone()),
        account_id: Some(fake.config().account_id.clone()),
        grant: Grant::AccountCredentials,
    }
}

pub(crate) fn provider(fake: &FakeZoom) -> TokenProvider {
    TokenProvider::new(reqwest::Client::new(), &fake.base_url(), credentials(fake))
}

/// Fast timers so the tests run in real time in well under a second per step.
pub(crate) fn session_config(fake: &FakeZoom) -> SessionConfig {
    let mut config = SessionConfig::new(fake.ws_url(), fake.config().subscription_id.clone());
    config.heartbeat_interval = Duration::from_millis(200);
    config.heartbeat_jitter = Duration::from_millis(50);
    config.liveness_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(5);
    config.backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    config
}

pub(crate) struct Running {
    pub(crate) events: mpsc::Receiver<ReceivedEvent>,
    pub(crate) status: watch::Receiver<SessionStatus>,
    pub(crate) cancel: CancellationToken,
    pub(crate) task: JoinHandle<Result<(), ZoomError>>,
}

pub(crate) fn spawn_session(config: SessionConfig, tokens: TokenProvider) -> Running {
    let (tx, events) = mpsc::channel(1024);
    let session = Session::new(config, tokens);
    let status = session.status();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(session.run(tx, cancel.clone()));
    Running {
        events,
        status,
        cancel,
        task,
    }
}

impl Running {
    pub(crate) async fn wait_status(
        &mut self,
        what: impl Fn(&SessionStatus) -> bool,
    ) -> SessionStatus {
        let current = self.status.borrow().clone();
        timeout(WAIT, self.status.wait_for(|s| what(s)))
            .await
            .unwrap_or_else(|_| panic!("status never matched; last {current:?}"))
            .expect("session ended")
            .clone()
    }

    pub(crate) async fn connected(&mut self, connects: u64) -> SessionStatus {
        self.wait_status(|s| s.state == ConnectionState::Connected && s.connects >= connects)
            .await
    }

    pub(crate) async fn next_event(&mut self) -> ReceivedEvent {
        timeout(WAIT, self.events.recv())
            .await
            .expect("no event in time")
            .expect("session ended")
    }

    pub(crate) async fn stop(self) -> Result<(), ZoomError> {
        self.cancel.cancel();
        timeout(WAIT, self.task)
            .await
            .expect("session did not stop")
            .expect("session task panicked")
    }
}

/// A webhook-format event numbered `n` (its object id).
pub(crate) fn numbered(n: u64) -> serde_json::Value {
    serde_json::json!({
        "event": "meeting.started",
        "event_ts": 1_700_000_000_000u64 + n,
        "payload": {"account_id": "fake-account", "object": {"id": n.to_string(), "uuid": format!("uuid-{n}"), "host_id": "h", "topic": "t", "type": 2}}
    })
}

pub(crate) fn number_of(event: &ReceivedEvent) -> u64 {
    event.event.payload["object"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("numbered event")
}
