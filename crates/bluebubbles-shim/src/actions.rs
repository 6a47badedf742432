//! `POST /api/v1/message/react`, `/message/:guid/edit` and
//! `/message/:guid/unsend`: BlueBubbles' message actions, passed to the
//! channel's reactions, edits and deletes.

use axum::extract::{Path, State};
use moltbot_channel::{MessageDelete, MessageEdit, Reaction};

use crate::envelope::{ApiError, AppJson, Fields, Success};
use crate::routes::send_error;
use crate::{Shim, guid};

/// `{chatGuid, selectedMessageGuid, reaction, partIndex?}`; `reaction` is a
/// tapback name or an emoji, with a leading `-` to remove it.
pub(crate) async fn react(
    State(shim): State<Shim>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let chat_guid = guid::canonical(&f.required_str("chatGuid")?);
    let message_id = f.required_str("selectedMessageGuid")?;
    let reaction = f.required_str("reaction")?;
    f.opt_int("partIndex", 0, i64::MAX)?;
    let (remove, emoji) = match reaction.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, reaction.clone()),
    };
    shim.0
        .channel
        .react(Reaction {
            conversation_id: chat_guid,
            message_id,
            emoji,
            remove,
        })
        .await
        .map_err(send_error)?;
    Ok(Success::new("Reaction sent!"))
}

/// The conversation of a stored message, or BlueBubbles' 400.
async fn chat_of(shim: &Shim, message: &str) -> Result<String, ApiError> {
    let lookup = message.to_owned();
    match shim.0.store.call(move |s| s.message(&lookup)).await? {
        Some(m) => Ok(m.chat_guid),
        None => Err(ApiError::bad_request(format!(
            "Message does not exist: {message}"
        ))),
    }
}

/// `{editedMessage, backwardsCompatibilityMessage?, partIndex?}`.
pub(crate) async fn edit(
    State(shim): State<Shim>,
    Path(message): Path<String>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    let f = Fields(&body);
    let text = f.required_str("editedMessage")?;
    f.opt_int("partIndex", 0, i64::MAX)?;
    let conversation_id = chat_of(&shim, &message).await?;
    shim.0
        .channel
        .edit(MessageEdit {
            conversation_id,
            message_id: message,
            text,
        })
        .await
        .map_err(send_error)?;
    Ok(Success::new("Message edited!"))
}

/// `{partIndex?}`.
pub(crate) async fn unsend(
    State(shim): State<Shim>,
    Path(message): Path<String>,
    AppJson(body): AppJson,
) -> Result<Success, ApiError> {
    Fields(&body).opt_int("partIndex", 0, i64::MAX)?;
    let conversation_id = chat_of(&shim, &message).await?;
    shim.0
        .channel
        .unsend(MessageDelete {
            conversation_id,
            message_id: message,
        })
        .await
        .map_err(send_error)?;
    Ok(Success::new("Message unsent!"))
}
