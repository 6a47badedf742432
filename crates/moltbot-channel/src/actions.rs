use serde::{Deserialize, Serialize};

/// A reaction to add to or remove from a message (Moltbot's `react` action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The message's conversation.
    pub conversation_id: String,
    /// The message (its id as delivered or as returned by a send).
    pub message_id: String,
    /// The emoji, e.g. `👍`.
    pub emoji: String,
    /// Remove the reaction instead of adding it.
    pub remove: bool,
}

/// New text for a message we sent (Moltbot's `edit` action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEdit {
    /// The message's conversation.
    pub conversation_id: String,
    /// The message id a send returned.
    pub message_id: String,
    /// The new text.
    pub text: String,
}

/// A message we sent, to delete (Moltbot's `unsend` action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDelete {
    /// The message's conversation.
    pub conversation_id: String,
    /// The message id a send returned.
    pub message_id: String,
}
