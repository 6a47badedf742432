//! Recording file downloads: `download_url` of a recording event answers a
//! Bearer-authorized GET with a 302 to a signed file URL, as Zoom's
//! `/rec/webhook_download/…` links do (Zoom API reference, "Recording
//! completed" event: "download the file with the access token").

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::content::missing_scope;
use crate::rest::{api_error, authorized, invalid_token};
use crate::state::Shared;

/// Scopes that allow downloading recordings.
const SCOPES: [&str; 2] = [
    "cloud_recording:read:recording:admin",
    "cloud_recording:read:recording",
];

/// The signature the redirect target requires (stands in for Zoom's signed URL).
fn signature(id: &str) -> String {
    format!(
        "sig-{}",
        id.len() * 7919 + id.bytes().map(usize::from).sum::<usize>()
    )
}

pub(crate) fn download_url(shared: &Shared, id: &str) -> String {
    format!("{}/rec/webhook_download/{id}", shared.base_url())
}

/// `GET /rec/webhook_download/{id}`: 302 to the file host.
pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&shared, &headers, query.as_deref()) {
        return invalid_token();
    }
    if let Some(refused) = missing_scope(&shared, &SCOPES) {
        return refused;
    }
    if !shared.lock().content.files.contains_key(&id) {
        return api_error(
            StatusCode::NOT_FOUND,
            3301,
            "This recording does not exist.",
        );
    }
    let target = format!(
        "{}/rec/files/{id}?signature={}",
        shared.base_url(),
        signature(&id)
    );
    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
}

/// `GET /rec/files/{id}?signature=…`: the file, cut at `recording_cut_at`.
pub(crate) async fn file(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let signed = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "signature" && v == signature(&id));
    if !signed {
        return api_error(StatusCode::FORBIDDEN, 403, "Invalid signature.");
    }
    let cut = shared.knobs().recording_cut_at;
    let mut st = shared.lock();
    let Some(bytes) = st.content.files.get(&id).cloned() else {
        return api_error(
            StatusCode::NOT_FOUND,
            3301,
            "This recording does not exist.",
        );
    };
    *st.content.downloads.entry(id).or_default() += 1;
    drop(st);
    shared.changed();
    let bytes = match cut {
        Some(n) => bytes[..n.min(bytes.len())].to_vec(),
        None => bytes,
    };
    ([(header::CONTENT_TYPE, "text/vtt")], bytes).into_response()
}

/// `POST /_fake/recording-files/{id}`: serves the body as recording file `id`.
pub(crate) async fn control_add(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    shared
        .lock()
        .content
        .files
        .insert(id.clone(), body.to_vec());
    shared.changed();
    Json(json!({ "download_url": download_url(&shared, &id) })).into_response()
}
