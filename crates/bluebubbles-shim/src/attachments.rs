//! `GET /api/v1/attachment/:guid/download`: the raw bytes of an inbound
//! attachment, with its MIME type, as BlueBubbles serves them.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::Shim;
use crate::envelope::ApiError;

/// The attachment's file, or BlueBubbles' 404 / 500 answers.
pub(crate) async fn download(
    State(shim): State<Shim>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = guid.clone();
    let found = shim.0.store.call(move |s| s.attachment(&lookup)).await?;
    let Some(path) = found.as_ref().and_then(|a| a.path.clone()) else {
        return Err(ApiError::not_found("Attachment does not exist!"));
    };
    let data = tokio::fs::read(&path).await.map_err(|e| {
        tracing::warn!(%guid, error = %e, "attachment file unreadable");
        ApiError::server("Attachment does not exist in disk!")
    })?;
    let mime = found
        .and_then(|a| a.mime_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    Ok(([(header::CONTENT_TYPE, mime)], data).into_response())
}
