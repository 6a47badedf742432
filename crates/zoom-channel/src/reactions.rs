//! Reactions, edits and deletes out (Zoom Team Chat API `reactMessage`,
//! `editMessage`, `deleteChatMessage`), and the BlueBubbles reaction names
//! mapped to emoji.

use moltbot_channel::{ChannelError, MessageDelete, MessageEdit, Reaction};
use zoom::{ChatPlace, ZoomError};
use zoom_wire::emoji_code_points;

use crate::{
    channel::Inner,
    config::SendAs,
    conversation::{Target, parse_target},
    error::channel_error,
};

/// BlueBubbles' tapback names and the emoji Zoom gets for each.
pub const TAPBACKS: [(&str, &str); 6] = [
    ("love", "❤️"),
    ("like", "👍"),
    ("dislike", "👎"),
    ("laugh", "😂"),
    ("emphasize", "‼️"),
    ("question", "❓"),
];

/// The emoji of a reaction: a tapback name (`like`) or an emoji itself;
/// `None` for anything else (an unknown word, empty, too long).
pub fn reaction_emoji(reaction: &str) -> Option<String> {
    let r = reaction.trim();
    if let Some((_, emoji)) = TAPBACKS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(r))
    {
        return Some((*emoji).to_owned());
    }
    let is_emoji = !r.is_empty()
        && r.chars().count() <= 8
        && r.chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace())
        && r.chars().any(|c| u32::from(c) >= 0x2000);
    is_emoji.then(|| r.to_owned())
}

impl Inner {
    /// The user that acts, or a clear refusal for the chatbot.
    fn acting_user(&self, what: &str) -> Result<&str, ChannelError> {
        match &self.config.send_as {
            SendAs::User { sender } => Ok(sender),
            SendAs::Chatbot { .. } => Err(ChannelError::Unsupported(format!(
                "Zoom's chatbot API has no {what}; set sendAs to a user to use them"
            ))),
        }
    }

    fn place(&self, conversation_id: &str) -> Result<ChatPlace, ChannelError> {
        Ok(
            match parse_target(conversation_id, self.config.default_target.as_deref())? {
                Target::Channel(c) => ChatPlace::Channel(c),
                Target::Contact(c) => ChatPlace::Contact(c),
            },
        )
    }

    /// The Zoom id of a message. The shim passes Zoom's ids (it resolves our
    /// `zoom-ev-` ids from its store); one of ours that reaches here was not
    /// stored, so its Zoom id is unknown.
    fn zoom_message_id(message_id: &str) -> Result<String, ChannelError> {
        if message_id.starts_with("zoom-ev-") {
            return Err(ChannelError::NotFound(format!(
                "message {message_id} is not a stored Team Chat message; its Zoom id is unknown"
            )));
        }
        Ok(message_id.to_owned())
    }

    /// Adds or removes an emoji reaction.
    pub(crate) async fn react(&self, r: Reaction) -> Result<(), ChannelError> {
        let user = self.acting_user("reactions")?;
        let place = self.place(&r.conversation_id)?;
        let id = Self::zoom_message_id(&r.message_id)?;
        let emoji = reaction_emoji(&r.emoji).ok_or_else(|| {
            ChannelError::BadRequest(format!(
                "unknown reaction `{}`: use an emoji or one of {}",
                r.emoji,
                TAPBACKS.map(|(n, _)| n).join(", ")
            ))
        })?;
        self.api
            .react_to_message(user, &id, &place, &emoji_code_points(&emoji), !r.remove)
            .await
            .map_err(|e| message_error(e, &id))
    }

    /// Replaces the text of a message we sent.
    pub(crate) async fn edit(&self, e: MessageEdit) -> Result<(), ChannelError> {
        let user = self.acting_user("edits")?;
        if e.text.trim().is_empty() {
            return Err(ChannelError::BadRequest("the new text is empty".into()));
        }
        let place = self.place(&e.conversation_id)?;
        let id = Self::zoom_message_id(&e.message_id)?;
        self.api
            .edit_message(user, &id, &place, &e.text)
            .await
            .map_err(|err| message_error(err, &id))
    }

    /// Deletes a message we sent.
    pub(crate) async fn unsend(&self, d: MessageDelete) -> Result<(), ChannelError> {
        let user = self.acting_user("deletes")?;
        let place = self.place(&d.conversation_id)?;
        let id = Self::zoom_message_id(&d.message_id)?;
        self.api
            .delete_message(user, &id, &place)
            .await
            .map_err(|err| message_error(err, &id))
    }
}

/// Zoom's "Message does not exist" (400, code 300) is a missing message.
fn message_error(err: ZoomError, id: &str) -> ChannelError {
    match err {
        ZoomError::Api {
            status: 400,
            code: 300,
            message,
        } if message.contains("does not exist") => {
            ChannelError::NotFound(format!("Zoom has no message {id}: {message}"))
        }
        other => channel_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_are_tapbacks_or_emoji() {
        assert_eq!(reaction_emoji("like").as_deref(), Some("👍"));
        assert_eq!(reaction_emoji("Love").as_deref(), Some("❤️"));
        assert_eq!(reaction_emoji("👌").as_deref(), Some("👌"));
        assert_eq!(reaction_emoji("thumbsup"), None);
        assert_eq!(reaction_emoji(""), None);
        assert_eq!(reaction_emoji(":)"), None);
    }
}
