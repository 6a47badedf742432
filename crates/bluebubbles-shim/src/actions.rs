//! `POST /api/v1/message/react`, `/message/:guid/edit` and
//! `/message/:guid/unsend`: BlueBubbles' message actions, passed to the
//! channel's reactions, edits and deletes.

use axum::extract::{Path, State};
use moltbot_channel::{ChannelError, MessageDelete, MessageEdit, Reaction};

use crate::envelope::{ApiError, AppJson, Fields, Success};
use crate::routes::send_error;
use crate::store::MessageRecord;
use crate::{Shim, ShimError, guid};

/// Zoom's id of an inbound Team Chat message, kept with it in the store so
/// actions on it work after a restart; `None` for other messages (ours are
/// stored under Zoom's id already).
fn zoom_id(record: &MessageRecord) -> Option<String> {
    record.zoom.as_ref().and_then(|z| z.message_id.clone())
}

/// A stored message, if there is one.
async fn find(shim: &Shim, guid: &str) -> Result<Option<MessageRecord>, ShimError> {
    let lookup = guid.to_owned();
    shim.0.store.call(move |s| s.message(&lookup)).await
}

/// The Zoom thread a reply to `reply_to` goes into (see [`zoom_side`]).
pub(crate) async fn reply_thread(shim: &Shim, reply_to: Option<&str>) -> Option<String> {
    Some(zoom_side(shim, reply_to?, true).await)
}

/// Message `guid` as the channel should be told of it: Zoom's id of an
/// inbound Team Chat message, else `guid` itself. With `thread`, Zoom's id of
/// the thread it belongs to (its root when it is a reply), for a reply.
async fn zoom_side(shim: &Shim, guid: &str, thread: bool) -> String {
    let record = match find(shim, guid).await {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!(error = %e, guid, "cannot read the message; passing its id as is");
            None
        }
    };
    let Some(record) = record else {
        return guid.to_owned();
    };
    let own = zoom_id(&record);
    let root = if thread && own.is_some() {
        record.thread_originator.clone()
    } else {
        None
    };
    root.or(own).unwrap_or_else(|| guid.to_owned())
}

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
    let message_id = zoom_side(&shim, &message_id, false).await;
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

/// A stored message with the id to give the channel, or BlueBubbles' 400.
async fn stored(shim: &Shim, message: &str) -> Result<(String, MessageRecord), ApiError> {
    match find(shim, message).await? {
        Some(m) => Ok((zoom_id(&m).unwrap_or_else(|| message.to_owned()), m)),
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
    let (message_id, record) = stored(&shim, &message).await?;
    shim.0
        .channel
        .edit(MessageEdit {
            conversation_id: record.chat_guid,
            message_id,
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
    let (message_id, record) = stored(&shim, &message).await?;
    // A reply we split: every part goes, the first one first. A part Zoom
    // no longer has is passed over (a retry after a partial failure), so
    // only a message with no part left is Zoom's 404.
    let mut missing = None;
    let mut deleted = 0;
    for message_id in std::iter::once(message_id).chain(record.parts) {
        let result = shim
            .0
            .channel
            .unsend(MessageDelete {
                conversation_id: record.chat_guid.clone(),
                message_id,
            })
            .await;
        match result {
            Ok(()) => deleted += 1,
            Err(e @ ChannelError::NotFound(_)) => missing = missing.or(Some(e)),
            Err(e) => return Err(send_error(e)),
        }
    }
    match missing {
        Some(e) if deleted == 0 => Err(send_error(e)),
        _ => Ok(Success::new("Message unsent!")),
    }
}
