//! `POST /oauth/token`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use zoom_wire::{OAuthError, TokenResponse};

use crate::state::Shared;

fn oauth_error(status: StatusCode, reason: &str, error: &str) -> Response {
    let body = OAuthError {
        reason: reason.into(),
        error: error.into(),
    };
    (status, Json(body)).into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.lock().token_requests += 1;
    shared.changed();
    // Parameters from the query string, overridden by a form body.
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .chain(url::form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();

    let creds_ok = basic_credentials(&headers).is_some_and(|(id, secret)| {
        id == shared.config.client_id && secret == shared.config.client_secret
    });
    if !creds_ok || shared.knobs().fail_oauth {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "Invalid client_id or client_secret",
            "invalid_client",
        );
    }
    match params.get("grant_type").map(String::as_str) {
        Some("account_credentials") => match params.get("account_id") {
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "Missing account_id",
                    "invalid_request",
                );
            }
            Some(a) if *a != shared.config.account_id => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid account_id",
                    "invalid_request",
                );
            }
            Some(_) => {}
        },
        Some("client_credentials") => {}
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported grant type",
                "unsupported_grant_type",
            );
        }
    }
    let body = TokenResponse {
        access_token: shared.issue_token(),
        token_type: "bearer".into(),
        expires_in: shared.config.expires_in,
        scope: shared.config.scopes.clone(),
        api_url: Some(shared.base_url()),
    };
    (StatusCode::OK, Json(body)).into_response()
}
