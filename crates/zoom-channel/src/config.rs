use std::{path::PathBuf, time::Duration};

use moltbot_channel::{ChannelError, DeliveryMode};

use crate::filter::matches;

/// Where event messages (not chat messages) go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Routing {
    /// One conversation per meeting (`zoom;+;meeting:<id>`).
    #[default]
    Meeting,
    /// Everything in the account feed (`zoom;+;feed`).
    Feed,
}

/// How outbound messages are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendAs {
    /// Team Chat user API, posting as `sender` (user id or email).
    User {
        /// User id or email the messages are posted as (`sender`).
        sender: String,
    },
    /// Chatbot API.
    Chatbot {
        /// The bot's JID (`robotJid`).
        robot_jid: String,
        /// The Zoom account id (`zoomAccountId`).
        account_id: String,
    },
}

impl Default for SendAs {
    fn default() -> Self {
        SendAs::User {
            sender: String::new(),
        }
    }
}

/// Settings of one Zoom channel account (keys as in `docs/configuration`).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoomChannelConfig {
    /// Moltbot account id (`accountId`).
    pub account_id: String,
    /// WebSocket event subscription id (`subscriptionId`); part of every event message id.
    pub subscription_id: String,
    /// Conversation per meeting or one feed (`routing`).
    pub routing: Routing,
    /// Event patterns to keep; empty keeps all (`include`).
    pub include: Vec<String>,
    /// Event patterns to drop (`exclude`).
    pub exclude: Vec<String>,
    /// Pattern → mode overrides, first match wins, then the defaults (`deliveryModes`).
    pub delivery_modes: Vec<(String, DeliveryMode)>,
    /// How replies are posted (`sendAs`, `sender`, `robotJid`).
    pub send_as: SendAs,
    /// Where replies to meeting / feed conversations go (`defaultTarget`).
    pub default_target: Option<String>,
    /// Operator ids / emails whose chat messages count as our own posts (opt-in).
    pub self_ids: Vec<String>,
    /// How many recent message ids are remembered for dedup and self-echo.
    pub dedup_capacity: usize,
    /// Longest a send may wait for rate limits in total, so it answers within
    /// Moltbot's 10 s client timeout.
    pub max_rate_limit_wait: Duration,
    /// Where downloaded files (Team Chat files, transcripts) are saved.
    pub media_dir: PathBuf,
    /// Whether rendered messages carry the raw event
    /// (`InboundMessage::raw`). The sidecar turns it off: its outbox never
    /// reads it, and building it is a copy of every event.
    pub raw_event: bool,
    /// Largest transcript downloaded, in bytes; the rest is cut (`transcriptMaxBytes`).
    pub transcript_max_bytes: usize,
    /// Transcript lines shown in the message; the rest is in the attachment
    /// (`transcriptExcerptLines`).
    pub transcript_excerpt_lines: usize,
    /// Team Chat messages recovered per conversation after a gap
    /// (`catchupMaxPerConversation`).
    pub catchup_max_per_conversation: usize,
    /// Team Chat messages recovered in total after a gap (`catchupMaxTotal`).
    pub catchup_max_total: usize,
    /// Where the last-seen marks of catch-up are saved; `None` keeps them in memory.
    pub catchup_state: Option<PathBuf>,
    /// Largest inbound file downloaded, in bytes (`mediaMaxMb`); a larger
    /// one becomes a notice in the message text.
    pub media_max_bytes: u64,
}

impl Default for ZoomChannelConfig {
    fn default() -> Self {
        Self {
            account_id: "default".into(),
            subscription_id: String::new(),
            routing: Routing::Meeting,
            include: Vec::new(),
            exclude: Vec::new(),
            delivery_modes: Vec::new(),
            send_as: SendAs::default(),
            default_target: None,
            self_ids: Vec::new(),
            dedup_capacity: 10_000,
            max_rate_limit_wait: Duration::from_secs(8),
            media_dir: PathBuf::from("moltbot-zoom.media"),
            raw_event: true,
            transcript_max_bytes: 5 * 1024 * 1024,
            transcript_excerpt_lines: 40,
            catchup_max_per_conversation: 50,
            catchup_max_total: 200,
            catchup_state: None,
            media_max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Events that start an agent turn by default; everything else is context.
const MESSAGE_BY_DEFAULT: &[&str] = &[
    "meeting.started",
    "meeting.ended",
    "recording.completed",
    "recording.transcript_completed",
    "meeting.summary_completed",
    "chat_message.sent",
    "chat_message.replied",
    "team_chat.*_message_posted",
    "team_chat.app_mention",
    "bot_notification",
];

impl ZoomChannelConfig {
    /// The delivery mode of an event: the first matching override, else the default.
    pub fn delivery_mode(&self, event: &str) -> DeliveryMode {
        if let Some((_, mode)) = self
            .delivery_modes
            .iter()
            .find(|(pattern, _)| matches(pattern, event))
        {
            return *mode;
        }
        default_delivery_mode(event)
    }

    /// Checks the keys the chosen send mode requires.
    ///
    /// # Errors
    /// [`ChannelError::Config`] naming the missing key.
    pub fn validate(&self) -> Result<(), ChannelError> {
        match &self.send_as {
            SendAs::User { sender } if sender.trim().is_empty() => Err(ChannelError::Config(
                "`sender` is required when sendAs = \"user\"".into(),
            )),
            SendAs::Chatbot { robot_jid, .. } if robot_jid.trim().is_empty() => Err(
                ChannelError::Config("`robotJid` is required when sendAs = \"chatbot\"".into()),
            ),
            SendAs::Chatbot { account_id, .. } if account_id.trim().is_empty() => {
                Err(ChannelError::Config(
                    "`zoomAccountId` is required when sendAs = \"chatbot\"".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The built-in delivery mode of an event (see `docs/events.md`).
pub fn default_delivery_mode(event: &str) -> DeliveryMode {
    if MESSAGE_BY_DEFAULT.iter().any(|p| matches(p, event)) {
        DeliveryMode::Message
    } else {
        DeliveryMode::Context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_mode_defaults_and_overrides() {
        let mut config = ZoomChannelConfig::default();
        for (event, mode) in [
            ("meeting.started", DeliveryMode::Message),
            ("meeting.ended", DeliveryMode::Message),
            ("recording.completed", DeliveryMode::Message),
            ("recording.transcript_completed", DeliveryMode::Message),
            ("meeting.summary_completed", DeliveryMode::Message),
            ("chat_message.sent", DeliveryMode::Message),
            ("chat_message.replied", DeliveryMode::Message),
            ("team_chat.channel_message_posted", DeliveryMode::Message),
            ("team_chat.dm_message_posted", DeliveryMode::Message),
            ("bot_notification", DeliveryMode::Message),
            ("team_chat.app_mention", DeliveryMode::Message),
            ("meeting.participant_joined", DeliveryMode::Context),
            ("meeting.participant_left", DeliveryMode::Context),
            ("meeting.created", DeliveryMode::Context),
            ("meeting.updated", DeliveryMode::Context),
            ("meeting.deleted", DeliveryMode::Context),
            ("user.created", DeliveryMode::Context),
            ("user.updated", DeliveryMode::Context),
            ("chat_message.updated", DeliveryMode::Context),
            ("chat_message.deleted", DeliveryMode::Context),
            ("team_chat.channel_message_updated", DeliveryMode::Context),
            ("phone.callee_ringing", DeliveryMode::Context),
        ] {
            assert_eq!(config.delivery_mode(event), mode, "{event}");
        }
        config.delivery_modes = vec![
            ("meeting.participant_*".into(), DeliveryMode::Drop),
            ("meeting.*".into(), DeliveryMode::Message),
            ("meeting.started".into(), DeliveryMode::Context),
        ];
        assert_eq!(
            config.delivery_mode("meeting.participant_joined"),
            DeliveryMode::Drop
        );
        assert_eq!(
            config.delivery_mode("meeting.created"),
            DeliveryMode::Message
        );
        // First match wins: `meeting.*` shadows the later `meeting.started`.
        assert_eq!(
            config.delivery_mode("meeting.started"),
            DeliveryMode::Message
        );
        assert_eq!(config.delivery_mode("user.created"), DeliveryMode::Context);
    }

    #[test]
    fn validate_names_the_missing_key() {
        let err = ZoomChannelConfig::default().validate().unwrap_err();
        assert!(err.to_string().contains("`sender`"), "{err}");
        let config = ZoomChannelConfig {
            send_as: SendAs::Chatbot {
                robot_jid: String::new(),
                account_id: "acc".into(),
            },
            ..Default::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("robotJid")
        );
        let config = ZoomChannelConfig {
            send_as: SendAs::User {
                sender: "me@example.com".into(),
            },
            ..Default::default()
        };
        config.validate().unwrap();
    }
}
