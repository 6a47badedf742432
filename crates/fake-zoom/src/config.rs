//! Static settings and runtime knobs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Static settings of a fake Zoom.
///
/// Defaults: client id `fake-client-id`, secret `fake-client-secret`, account
/// `fake-account`, subscription `fake-subscription`, `expires_in` 3599, robot JID
/// `robot@xmpp.zoom.us`, users `me@example.com`, `alice@example.com`,
/// `bob@example.com`, channel `chan-1`, listening on `127.0.0.1:0`.
#[derive(Clone)]
pub struct FakeConfig {
    /// OAuth client id accepted in Basic auth.
    pub client_id: String,
    /// OAuth client secret accepted in Basic auth.
    pub client_secret: String,
    /// Account id required by the `account_credentials` grant.
    pub account_id: String,
    /// The only WebSocket subscription id accepted.
    pub subscription_id: String,
    /// `expires_in` of issued tokens, in seconds; tokens really expire after it.
    pub expires_in: u64,
    /// Space-separated scopes returned with tokens.
    pub scopes: String,
    /// The chatbot's JID accepted by `POST /v2/im/chat/messages`.
    pub robot_jid: String,
    /// Known user emails; the first one is `me`.
    pub users: Vec<String>,
    /// Known Team Chat channel ids.
    pub channels: Vec<String>,
    /// Address to listen on.
    pub listen: SocketAddr,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            client_id: "fake-client-id".into(),
            client_secret: "fake-client-secret".into(),
            account_id: "fake-account".into(),
            subscription_id: "fake-subscription".into(),
            expires_in: 3599,
            scopes: [
                "meeting:read:admin",
                "meeting:read:meeting:admin",
                "meeting:read:participant:admin",
                "meeting:read:summary:admin",
                "cloud_recording:read:recording:admin",
                "user:read:admin",
                "user:read:user:admin",
                "chat_message:read:admin",
                "chat_message:write:admin",
                "team_chat:read:user_message:admin",
                "team_chat:write:user_message:admin",
                "chat:read:admin",
                "imchat:bot",
            ]
            .join(" "),
            robot_jid: "robot@xmpp.zoom.us".into(),
            users: vec![
                "me@example.com".into(),
                "alice@example.com".into(),
                "bob@example.com".into(),
            ],
            channels: vec!["chan-1".into()],
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl std::fmt::Debug for FakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("subscription_id", &self.subscription_id)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .field("robot_jid", &self.robot_jid)
            .field("users", &self.users)
            .field("channels", &self.channels)
            .field("listen", &self.listen)
            .finish()
    }
}

impl FakeConfig {
    /// The stable Zoom user id of a known user email (`uid-` + the email with
    /// non-alphanumerics replaced by `-`), used as `operator_id` and by
    /// `GET /v2/users/{userId}`.
    pub fn user_id_of(email: &str) -> String {
        let slug: String = email
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        format!("uid-{slug}")
    }

    /// Resolves `me`, a known email or a known user id to the user's email.
    pub fn resolve_user(&self, user: &str) -> Option<&str> {
        if user == "me" {
            return self.users.first().map(String::as_str);
        }
        self.users
            .iter()
            .find(|u| u.eq_ignore_ascii_case(user) || Self::user_id_of(u) == user)
            .map(String::as_str)
    }
}

/// What happens when a second connection for the same subscription is accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondConnection {
    /// The newer connection closes the older one (after its own `build_connection`).
    #[default]
    KickFirst,
    /// Both stay open and both receive every event.
    AllowBoth,
}

/// Runtime knobs, changeable while running (via [`crate::FakeZoom::update_knobs`] or
/// `POST /_fake/knobs`). Missing fields take their defaults when deserialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Stop answering heartbeats and stop pushing frames; sockets stay open.
    pub zombie: bool,
    /// Close a connection that sent no heartbeat for this many seconds.
    pub idle_timeout_secs: Option<u64>,
    /// Second connection for one subscription: kick the first (default) or allow both.
    pub second_connection: SecondConnection,
    /// Send an event's `content` as a JSON object instead of a JSON string.
    pub content_as_object: bool,
    /// Send frames as binary (UTF-8) instead of text.
    pub binary_frames: bool,
    /// Send every pushed event twice.
    pub duplicate_events: bool,
    /// Delay before each pushed event, in ms.
    pub event_delay_ms: Option<u64>,
    /// Token-error text: `"Token is invalid"` when `None`, or e.g. `"Invalid Token"`.
    pub token_error_text: Option<String>,
    /// OAuth answers 401 `invalid_client` even for good credentials.
    pub fail_oauth: bool,
    /// Every Team Chat send gets 429 while this is set.
    pub rate_limit_team_chat: bool,
    /// `Retry-After` on forced 429s (default 1).
    pub retry_after_secs: u64,
    /// The next N Team Chat / Chatbot sends get 429 (decrements on each).
    pub force_429_count: u32,
    /// A Team Chat send echoes `chat_message.sent` and
    /// `team_chat.channel_message_posted` / `dm_message_posted` onto the WS (default true).
    pub echo_sends: bool,
    /// Delay, in ms, before answering an accepted Team Chat send (after its
    /// echo is pushed): Zoom's answer arriving after the echo.
    pub send_response_delay_ms: Option<u64>,
    /// Scopes the app lacks: endpoints needing one of them answer 400 / 4711.
    pub withheld_scopes: Vec<String>,
    /// Recording file downloads stop after this many bytes (a cut transfer).
    pub recording_cut_at: Option<usize>,
    /// Largest file `sendChatFile` takes, in bytes, instead of Zoom's 16 MB
    /// (images) / 20 MB (other files): lets tests hit the limit cheaply.
    pub max_file_bytes: Option<u64>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            zombie: false,
            idle_timeout_secs: None,
            second_connection: SecondConnection::KickFirst,
            content_as_object: false,
            binary_frames: false,
            duplicate_events: false,
            event_delay_ms: None,
            token_error_text: None,
            fail_oauth: false,
            rate_limit_team_chat: false,
            retry_after_secs: 1,
            force_429_count: 0,
            echo_sends: true,
            send_response_delay_ms: None,
            withheld_scopes: Vec::new(),
            recording_cut_at: None,
            max_file_bytes: None,
        }
    }
}

impl Knobs {
    /// The token-error text in effect.
    pub fn token_error(&self) -> &str {
        self.token_error_text
            .as_deref()
            .unwrap_or("Token is invalid")
    }
}
