//! Password check on every route: query `guid`, `password` or `token` (in
//! that order, as BlueBubbles reads them) or `Authorization: Bearer`, compared
//! in constant time. No localhost bypass. A missing or wrong password spends
//! a token of the failed-authentication throttle (see `limit`); without one
//! the answer is 429 instead of 401. The right password is never throttled.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moltbot_channel::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::envelope::ApiError;
use crate::{Shim, limit};

/// Middleware: rejects requests without the right password (401, or 429
/// once the client's failures exceed the throttle).
pub(crate) async fn require_password(
    State(shim): State<Shim>,
    req: Request,
    next: Next,
) -> Response {
    match check(&shim.0.config.password, req.uri().query(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let throttled = shim
                .0
                .auth_throttle
                .as_ref()
                .and_then(|t| t.failure(limit::peer_ip(&req), Instant::now()).err());
            match throttled {
                Some(wait) => ApiError::too_many_requests(wait).into_response(),
                None => e.into_response(),
            }
        }
        Err(e) => e.into_response(),
    }
}

fn check(password: &Secret, query: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    if password.expose().trim().is_empty() {
        return Err(ApiError::server(
            "Failed to retrieve password from the database",
        ));
    }
    let from_query = query.and_then(query_token);
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if from_query.is_none() && from_header.is_none() {
        return Err(ApiError::unauthorized("Missing server password!"));
    }
    // Evaluate both so timing does not depend on which one matched.
    let ok_query = from_query.is_some_and(|t| same(&t, password.expose()));
    let ok_header = from_header.is_some_and(|t| same(t, password.expose()));
    if ok_query | ok_header {
        Ok(())
    } else {
        Err(ApiError::unauthorized("Unauthorized"))
    }
}

/// The first non-empty `guid`, `password` or `token` query value.
fn query_token(query: &str) -> Option<String> {
    let pairs: Vec<_> = url::form_urlencoded::parse(query.as_bytes()).collect();
    ["guid", "password", "token"].iter().find_map(|key| {
        pairs
            .iter()
            .find(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.to_string())
    })
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Constant-time comparison of trimmed values (hashed first so the length of
/// the password does not leak either).
fn same(candidate: &str, password: &str) -> bool {
    let a = Sha256::digest(candidate.trim().as_bytes());
    let b = Sha256::digest(password.trim().as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn run(query: Option<&str>, auth: Option<&str>) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        check(&Secret::new("p@ss w+rd"), query, &headers).map_err(|e| e.detail)
    }

    #[test]
    fn sources_order_and_messages() {
        assert_eq!(run(None, None), Err("Missing server password!".into()));
        assert_eq!(
            run(Some("limit=5"), None),
            Err("Missing server password!".into())
        );
        assert_eq!(
            run(Some("password="), None),
            Err("Missing server password!".into())
        );
        assert_eq!(run(Some("password=nope"), None), Err("Unauthorized".into()));
        assert_eq!(run(Some("password=p%40ss+w%2Brd"), None), Ok(()));
        assert_eq!(run(Some("guid=p%40ss%20w%2Brd"), None), Ok(()));
        assert_eq!(run(Some("token=%20p%40ss%20w%2Brd%20"), None), Ok(()));
        // `guid` wins over `password`, as in BlueBubbles.
        assert_eq!(
            run(Some("guid=bad&password=p%40ss%20w%2Brd"), None),
            Err("Unauthorized".into())
        );
        assert_eq!(run(None, Some("Bearer p@ss w+rd")), Ok(()));
        assert_eq!(run(None, Some("bearer p@ss w+rd")), Ok(()));
        assert_eq!(run(None, Some("Bearer wrong")), Err("Unauthorized".into()));
        assert_eq!(
            run(None, Some("Basic p@ss w+rd")),
            Err("Missing server password!".into())
        );
        assert_eq!(
            run(Some("password=wrong"), Some("Bearer p@ss w+rd")),
            Ok(())
        );
        let empty = check(&Secret::new(" "), Some("password=x"), &HeaderMap::new()).unwrap_err();
        assert_eq!(empty.status, 500);
    }
}
